"""Shared fixtures: a fresh database (SQLite always, PostgreSQL when TIPBOT_TEST_DATABASE_URL is set).

Every test gets an empty database already at the newest migration, prepared quickly:

- SQLite: the migrations run once per session into a template file, and each test gets a copy of it
  in its own tmp_path (a copy is the same bytes a fresh `upgrade` writes, in a fraction of the time).
- PostgreSQL: the schema is dropped and migrated when the session first uses it; after that each test
  starts with the rows of the previous one deleted (children before parents; DELETE, because a
  TRUNCATE of every table costs about 0.3 s) and every sequence restarted, as long as the schema
  is still the one the migrations made. A test that changed it (a trigger, a function, another
  revision) makes the next reset a full drop-and-migrate, so no test sees another test's rows or
  schema changes.

With pytest-xdist (`-n 2`) each worker uses its own PostgreSQL database, named after the one in
TIPBOT_TEST_DATABASE_URL with the worker's id appended (`tipbot_gw0`), created when missing.
"""

from __future__ import annotations

import asyncio
import graphlib
import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from bot.settings import Settings


def _worker_url(url: str | None) -> str | None:
    """The PostgreSQL database of this xdist worker (the URL itself outside xdist)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if url is None or not worker:
        return url
    u = make_url(url)
    return u.set(database=f"{u.database}_{worker}").render_as_string(hide_password=False)


PG_URL = _worker_url(os.environ.get("TIPBOT_TEST_DATABASE_URL"))
SECRET = "test-secret-key-0123456789abcdef"

# The schema as the migrations leave it: tables with their columns, defaults and constraints,
# indexes, triggers, functions, types and the alembic revision. Any change to it by a test
# (tests/test_ingest_isolation.py adds triggers) makes the next reset a full drop-and-migrate.
_FINGERPRINT = """
SELECT md5(coalesce(string_agg(x, E'\\n' ORDER BY x), '')) FROM (
  SELECT 'col ' || table_name || '.' || column_name || ' ' || data_type || ' '
         || coalesce(column_default, '') || ' ' || is_nullable
    FROM information_schema.columns WHERE table_schema = 'public'
  UNION ALL SELECT 'rel ' || relname || ' ' || relkind::text || ' ' || relrowsecurity::text
    FROM pg_class WHERE relnamespace = 'public'::regnamespace
  UNION ALL SELECT 'con ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL SELECT 'idx ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
  UNION ALL SELECT 'trg ' || tgrelid::regclass::text || ' ' || tgname || ' ' || tgenabled::text
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace
  UNION ALL SELECT 'fn ' || oid::regprocedure::text FROM pg_proc WHERE pronamespace = 'public'::regnamespace
  UNION ALL SELECT 'type ' || typname FROM pg_type WHERE typnamespace = 'public'::regnamespace
  UNION ALL SELECT 'rule ' || rulename FROM pg_rules WHERE schemaname = 'public'
  UNION ALL SELECT 'pol ' || policyname FROM pg_policies WHERE schemaname = 'public'
  UNION ALL SELECT 'schema ' || nspname FROM pg_namespace
    WHERE nspname NOT IN ('public', 'information_schema') AND nspname NOT LIKE 'pg\\_%'
) s(x)
"""
_pg_fingerprint: dict[str, str] = {}  # url → the fingerprint right after the migrations


async def _empty_tables(conn: Any) -> None:
    """Delete every row but the alembic revision and restart the sequences, in one transaction."""
    names = [
        r["t"]
        for r in await conn.fetch(
            "SELECT tablename AS t FROM pg_tables"
            " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
    ]
    if names:
        probe = " UNION ALL ".join(f"(SELECT {_literal(n)} AS t FROM {_ident(n)} LIMIT 1)" for n in names)
        full = {r["t"] for r in await conn.fetch(probe)}
    else:
        full = set()
    edges = await conn.fetch(
        "SELECT c.relname AS child, p.relname AS parent FROM pg_constraint k"
        " JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid"
        " WHERE k.contype = 'f' AND k.connamespace = 'public'::regnamespace"
    )
    children: dict[str, set[str]] = {n: set() for n in full}
    for e in edges:
        if e["parent"] in full and e["child"] in full and e["parent"] != e["child"]:
            children[e["parent"]].add(e["child"])
    async with conn.transaction():
        for name in graphlib.TopologicalSorter(children).static_order():  # children first
            await conn.execute(f"DELETE FROM {_ident(name)}")
        await conn.execute(
            "SELECT setval(c.oid::regclass, s.seqstart, false) FROM pg_class c"
            " JOIN pg_sequence s ON s.seqrelid = c.oid WHERE c.relnamespace = 'public'::regnamespace"
        )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _reset_postgres(url: str) -> None:
    import asyncpg  # the test database is wiped: never point this at real data

    from storage.database import upgrade

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")

    async def connect() -> Any:
        try:
            return await asyncpg.connect(dsn)
        except asyncpg.InvalidCatalogNameError:  # an xdist worker's own database, on first use
            name = make_url(url).database
            admin = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
            try:
                await admin.execute(f'CREATE DATABASE "{name}"')
            except asyncpg.DuplicateDatabaseError:
                pass
            finally:
                await admin.close()
            return await asyncpg.connect(dsn)

    async def reset() -> bool:
        """Empty the tables if the schema is the migrated one; False when it must be rebuilt."""
        conn = await connect()
        try:
            # Connections a test left behind (a killed server's, a leaked pool's) must not hold
            # locks over the reset.
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            known = _pg_fingerprint.get(url)
            if known is not None and await conn.fetchval(_FINGERPRINT) == known:
                try:
                    await _empty_tables(conn)
                    return True
                except (asyncpg.PostgresError, graphlib.CycleError):  # rows that may not be deleted
                    pass
            await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
            return False
        finally:
            await conn.close()

    async def fingerprint() -> str:
        conn = await connect()
        try:
            return str(await conn.fetchval(_FINGERPRINT))
        finally:
            await conn.close()

    if not asyncio.run(reset()):
        upgrade(url)
        _pg_fingerprint[url] = asyncio.run(fingerprint())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite database at the newest migration, made once per session (copied per test)."""
    from storage.database import upgrade

    path = tmp_path_factory.mktemp("template") / "tipbot.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    for suffix in ("-wal", "-shm"):  # the engine is disposed: everything is in the main file
        assert not path.with_name(path.name + suffix).exists(), f"{path}{suffix} left behind"
    return path


def fresh_sqlite(template: Path, tmp_path: Path, name: str = "tipbot.db") -> str:
    """A copy of the migrated template at tmp_path/name, as a database URL."""
    target = tmp_path / name
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


def database_params() -> list[str]:
    return ["sqlite", "postgres"] if PG_URL else ["sqlite"]


@pytest.fixture(params=database_params())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres":
        assert PG_URL is not None
        _reset_postgres(PG_URL)
        yield PG_URL
    else:
        yield fresh_sqlite(request.getfixturevalue("sqlite_template"), tmp_path)


@pytest.fixture
def pg_url() -> str:
    """A wiped PostgreSQL database, for the tests that need several processes on it."""
    if PG_URL is None:
        pytest.skip("needs PostgreSQL: set TIPBOT_TEST_DATABASE_URL")
    _reset_postgres(PG_URL)
    return PG_URL


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    return fresh_sqlite(sqlite_template, tmp_path)


def make_settings(url: str, tmp_path: Path, **extra: object) -> Settings:
    # Transcripts post far faster than a person types, all from 127.0.0.1: the web-chat limits
    # are lifted here; tests/test_fairness.py sets its own.
    extra = {"webchat_session_burst": 100_000, "webchat_address_burst": 100_000, **extra}
    # No /metrics listener unless a test asks for one on a free port (runs in parallel collide).
    extra.setdefault("metrics_bind", "")
    # The story step asks the next question at once unless a test (or transcript) sets a pause.
    extra.setdefault("story_pause", timedelta(0))
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
