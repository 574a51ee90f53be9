"""The store and its unit of work: one transaction, and every area's repository on its session.

`SqlStore.transaction()` yields a `SqlUnitOfWork` implementing `bot.core.ports.UnitOfWork`; the
queries live in the area modules beside this one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import metrics
from bot.core.model import InboxEvent
from bot.core.ports import EventRejected, StorageUnavailable
from storage.database import ping
from storage.repositories.attachments import SqlAttachments
from storage.repositories.audit import SqlAudit
from storage.repositories.broadcasts import SqlBroadcasts
from storage.repositories.contacts import SqlContacts
from storage.repositories.conversations import SqlConversations
from storage.repositories.desk import SqlDesk
from storage.repositories.erasure import SqlErasure
from storage.repositories.inbox import SqlInbox
from storage.repositories.kv import SqlKeyValues
from storage.repositories.outbox import OUTBOX_LEASE, SqlOutbox
from storage.repositories.processes import SqlProcesses
from storage.repositories.related import SqlRelated
from storage.repositories.staff import SqlStaff
from storage.repositories.tips import SqlTips
from storage.repositories.webchat import SqlWebChat

#: namespace of named PostgreSQL advisory locks (first key of the two-key form)
LOCK_NAMED = 0x7463

#: PostgreSQL error classes that mean "the server cannot work now", whatever the rows: connection,
#: insufficient resources, operator intervention (shutdown, cancel), system error, internal error
_OUTAGE_SQLSTATES = ("08", "53", "57", "58", "XX")


def _unavailable(exc: BaseException) -> bool:
    """Whether a write failed because the database is unavailable (retry later, every row) rather
    than because of the rows it was given (a retry of those rows fails again)."""
    if isinstance(exc, OSError | ConnectionError | TimeoutError | sa_exc.TimeoutError):
        return True
    if not isinstance(exc, DBAPIError):
        return False  # e.g. a value a column type cannot bind
    if exc.connection_invalidated:
        return True
    state = getattr(exc.orig, "sqlstate", None)
    if isinstance(state, str) and state:
        return state[:2] in _OUTAGE_SQLSTATES
    # SQLite (no SQLSTATE): locked, busy, I/O are OperationalError; constraints are IntegrityError
    return not isinstance(exc, IntegrityError | sa_exc.DataError | sa_exc.ProgrammingError)


#: SQLSTATE classes of errors caused by the rows themselves: data exception, integrity constraint,
#: syntax or access rule (a bug), and an error raised by a trigger or function
_ROW_SQLSTATES = ("22", "23", "42", "P0")


def _refused_rows(exc: BaseException) -> bool:
    """Whether the database refused what it was given (never an outage, a lock timeout or a
    serialization failure, which a later retry of the same work can pass)."""
    if isinstance(exc, IntegrityError | sa_exc.DataError):
        return True
    if not isinstance(exc, DBAPIError) or exc.connection_invalidated:
        return False
    state = getattr(exc.orig, "sqlstate", None)
    if isinstance(state, str) and state:
        return state[:2] in _ROW_SQLSTATES
    return isinstance(exc, sa_exc.ProgrammingError)


class SqlUnitOfWork:
    """One transaction; each area's repository shares its session."""

    def __init__(self, session: AsyncSession, outbox_lease: timedelta = OUTBOX_LEASE) -> None:
        self.session = session
        self._dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
        self.inbox = SqlInbox(session)
        self.contacts = SqlContacts(session)
        self.conversations = SqlConversations(session)
        self.tips = SqlTips(session)
        self.attachments = SqlAttachments(session)
        self.staff = SqlStaff(session)
        self.outbox = SqlOutbox(session, outbox_lease)
        self.broadcasts = SqlBroadcasts(session)
        self.processes = SqlProcesses(session)
        self.kv = SqlKeyValues(session)
        self.desk = SqlDesk(session)
        self.audit = SqlAudit(session)
        self.related = SqlRelated(session)
        self.erasure = SqlErasure(session)
        self.webchat = SqlWebChat(session)

    async def try_lock(self, name: str) -> bool:
        """A lock held until this transaction ends; False when another transaction holds it.

        PostgreSQL: a transaction-scoped advisory lock, so several processes run a singleton
        job (the scheduler's tick) once. SQLite: every write transaction already excludes the
        others (BEGIN IMMEDIATE), so the lock is always granted.
        """
        if self._dialect != "postgresql":
            return True
        got = await self.session.execute(
            text("SELECT pg_try_advisory_xact_lock(:ns, hashtext(:name))"), {"ns": LOCK_NAMED, "name": name}
        )
        return bool(got.scalar_one())


class SqlStore:
    """The `bot.core.ports.Store` on a SQLAlchemy async engine."""

    def __init__(self, engine: AsyncEngine, *, outbox_lease: timedelta = OUTBOX_LEASE) -> None:
        self.engine = engine
        self.outbox_lease = outbox_lease
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        # SQLite has one writer. Queueing our own transactions here is fair and immediate,
        # where SQLite's busy handler would sleep in growing steps; other processes still
        # wait through busy_timeout.
        self._writer = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlUnitOfWork]:
        writer = self._writer if self._writer is not None else contextlib.nullcontext()
        async with writer, self._transaction() as uow:
            yield uow

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[SqlUnitOfWork]:
        try:
            async with self._sessions() as session, session.begin():
                yield SqlUnitOfWork(session, self.outbox_lease)
        except (OperationalError, DBAPIError, OSError, ConnectionError) as exc:
            if _refused_rows(exc):
                raise  # the rows' own fault: the caller isolates them, retrying would fail again
            raise StorageUnavailable(type(exc).__name__) from exc

    async def ping(self) -> bool:
        return await ping(self.engine)

    async def reclaim_space(self) -> None:
        """Give the pages of purged rows back to the file system (SQLite with incremental
        auto-vacuum; elsewhere nothing: PostgreSQL's autovacuum reuses the space)."""
        if self._writer is None:
            return
        async with self._writer, self.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            # executescript steps the pragma to the end; a plain execute frees one page per call
            await raw.driver_connection.executescript("PRAGMA incremental_vacuum;")  # type: ignore[union-attr]

    async def ingest(self, events: Sequence[InboxEvent], now: datetime) -> int:
        """Insert events once each (UNIQUE channel+event_id); returns how many were new.

        Raises `StorageUnavailable` when the database cannot be reached, `EventRejected` when it
        refused the rows for their content (a constraint, a value it cannot store): the caller
        can then store the events one by one. Neither carries the database's message, which may
        quote a row.
        """
        if not events:
            return 0
        try:
            return await self._ingest(events, now)
        except StorageUnavailable as exc:
            cause = exc.__cause__
            if cause is None or _unavailable(cause):
                raise
            raise EventRejected(type(cause).__name__) from None
        except Exception as exc:  # bind errors, constraint violations: the rows, not the database
            if _unavailable(exc):
                raise StorageUnavailable(type(exc).__name__) from None
            raise EventRejected(type(exc).__name__) from None

    async def _ingest(self, events: Sequence[InboxEvent], now: datetime) -> int:
        async with self.transaction() as uow:
            stored = await uow.inbox.add(events, now)
        for channel, n in Counter(e.channel for e in events).items():
            fresh = stored.count(channel)
            metrics.EVENTS_RECEIVED.labels(channel).inc(fresh)
            metrics.EVENTS_DUPLICATE.labels(channel).inc(n - fresh)
        return len(stored)
