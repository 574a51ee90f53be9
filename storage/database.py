"""Database engines (SQLite tuned for one writer, PostgreSQL through asyncpg) and migrations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger("tipbot.database")

MIGRATIONS = Path(__file__).with_name("migrations")


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` and `sqlite://` URLs and pick the async drivers."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+asyncpg")
    elif u.drivername in ("sqlite", "sqlite+pysqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    return u.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def create_engine(url: str, *, busy_timeout_ms: int = 5000, connect_timeout: float = 3.0) -> AsyncEngine:
    url = normalise_url(url)
    if is_sqlite(url):
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: an error's text must never quote a row (message text, chat ids)
        engine = create_async_engine(
            url, connect_args={"timeout": busy_timeout_ms / 1000}, hide_parameters=True
        )
        _tune_sqlite(engine, busy_timeout_ms)
        return engine
    # Several processes share one server: a modest pool each (about 12 connections), and a
    # short connect timeout so a webhook answers 503 well within LINE's 2 s when it is down.
    return create_async_engine(
        url,
        pool_size=8,
        max_overflow=4,
        pool_timeout=10,
        pool_pre_ping=True,
        connect_args={"timeout": connect_timeout},
        hide_parameters=True,
    )


def _tune_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's implicit BEGIN is deferred; take control of transactions instead
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        # Before WAL (which writes the header): lets a new database file give purged pages back
        # (`SqlStore.reclaim_space`); an existing file keeps its mode until a one-time VACUUM.
        cur.execute("PRAGMA auto_vacuum=INCREMENTAL")
        cur.execute("PRAGMA journal_mode=WAL")
        # a flood's big write transactions must not leave a WAL file that size for good
        cur.execute("PRAGMA journal_size_limit=67108864")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred transaction that upgrades to a write gets SQLITE_BUSY without the
        # busy handler being called; IMMEDIATE takes the write lock up front and waits.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(url: str) -> Config:
    # imported here: alembic (about 19 MB) is needed only while migrating
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations (blocking; runs its own event loop, so call it from a thread in async code)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str) -> None:
    await asyncio.to_thread(upgrade, url)


async def ping(engine: AsyncEngine, timeout: float = 2.0) -> bool:
    try:
        async with asyncio.timeout(timeout), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means "not reachable" for health checks
        return False


async def listen(
    engine: AsyncEngine, channel: str, callback: Callable[[], None], stop: asyncio.Event
) -> None:
    """Call `callback` on every PostgreSQL NOTIFY on `channel` until `stop`; reconnects after
    losing the database. A no-op on SQLite (one process: the in-process wake-up is enough)."""
    await listen_payloads(engine, channel, lambda _payload: callback(), stop)


async def listen_payloads(
    engine: AsyncEngine, channel: str, callback: Callable[[str | None], None], stop: asyncio.Event
) -> None:
    """`listen`, handing the callback each notification's payload (None: a reconnect, when
    anything may have been missed)."""
    if engine.dialect.name != "postgresql":
        return
    delay = 0.5
    while not stop.is_set():
        try:
            async with engine.connect() as conn:
                raw = await conn.get_raw_connection()
                driver: Any = raw.driver_connection

                def notified(_conn: object, _pid: object, _channel: object, payload: object) -> None:
                    callback(str(payload) if payload else None)

                await driver.add_listener(channel, notified)
                delay = 0.5
                callback(None)  # whatever arrived while we were not listening
                while not stop.is_set() and not driver.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=5.0)
                if not driver.is_closed():
                    await driver.remove_listener(channel, notified)
        except (OSError, ConnectionError, DBAPIError, OperationalError):
            log.warning("lost the database notification connection; reconnecting in %.1fs", delay)
        if not stop.is_set():
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
