"""Shared fixtures: a fresh database (SQLite always, PostgreSQL when TIPBOT_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings

PG_URL = os.environ.get("TIPBOT_TEST_DATABASE_URL")
SECRET = "test-secret-key-0123456789abcdef"


def _reset_postgres(url: str) -> None:
    import asyncpg  # the test database is wiped: never point this at real data

    async def reset() -> None:
        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
        finally:
            await conn.close()

    asyncio.run(reset())


def database_params() -> list[str]:
    return ["sqlite", "postgres"] if PG_URL else ["sqlite"]


@pytest.fixture(params=database_params())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres":
        assert PG_URL is not None
        _reset_postgres(PG_URL)
        yield PG_URL
    else:
        yield f"sqlite+aiosqlite:///{tmp_path}/tipbot.db"


@pytest.fixture
def pg_url() -> str:
    """A wiped PostgreSQL database, for the tests that need several processes on it."""
    if PG_URL is None:
        pytest.skip("needs PostgreSQL: set TIPBOT_TEST_DATABASE_URL")
    _reset_postgres(PG_URL)
    return PG_URL


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/tipbot.db"


def make_settings(url: str, tmp_path: Path, **extra: object) -> Settings:
    # Transcripts post far faster than a person types, all from 127.0.0.1: the web-chat limits
    # are lifted here; tests/test_fairness.py sets its own.
    extra = {"webchat_session_burst": 100_000, "webchat_address_burst": 100_000, **extra}
    # No /metrics listener unless a test asks for one on a free port (runs in parallel collide).
    extra.setdefault("metrics_bind", "")
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        secret_key=SECRET,  # type: ignore[arg-type]
        media_dir=tmp_path / "media",
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(db_url, tmp_path)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    """A real `tipbot serve` process on SQLite in tmp_path (see tests/test_kill.py); killed at the end."""
    from tests.test_kill import Server

    s = Server(tmp_path)
    yield s
    if s.proc and s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait()
