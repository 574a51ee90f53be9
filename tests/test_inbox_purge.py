"""Inbox retention: the scheduler clears the raw payloads of processed events after a day and
deletes the rows (their event ids) after a month, with an injected clock, on SQLite and
PostgreSQL; pending events are never touched, and SQLite gives the space back.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from bot.core.model import InboxEvent
from bot.runtime.scheduler import Scheduler
from bot.runtime.staff import StaffDesk
from storage import tables as t
from storage.crypto import Keyring, install_keyring
from storage.database import create_engine, upgrade_async
from storage.repositories import SqlStore

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlStore]:
    install_keyring(Keyring("inbox-purge-test-secret-0123456789"))
    await upgrade_async(db_url)
    made = SqlStore(create_engine(db_url))
    yield made
    await made.engine.dispose()


def scheduler(store: SqlStore, clock: Clock) -> Scheduler:
    return Scheduler(
        store=store,
        desk=StaffDesk(entropy=os.urandom),
        clock=clock,
        ack_reminder=timedelta(hours=48),
        digest_hour=-1,
        inbox_payload_ttl=timedelta(hours=24),
        inbox_keep=timedelta(days=30),
    )


def event(event_id: str, text_: str = "เรื่องที่แจ้ง") -> InboxEvent:
    return InboxEvent("line", event_id, "U" + "1" * 32, T0, {"type": "message", "text": text_})


async def rows(store: SqlStore) -> dict[str, t.InboxRow]:
    async with store.transaction() as uow:
        found = (await uow.session.execute(select(t.InboxRow))).scalars().all()
    return {r.event_id: r for r in found}


async def finish(store: SqlStore, statuses: dict[str, str], at: datetime) -> None:
    ids = {e: r.id for e, r in (await rows(store)).items()}
    async with store.transaction() as uow:
        for event_id, status in statuses.items():
            await uow.inbox.finish(ids[event_id], status, at)


async def test_payloads_are_cleared_after_a_day_and_rows_deleted_after_the_keep_period(
    store: SqlStore,
) -> None:
    await store.ingest([event(e) for e in ("e-done", "e-ignored", "e-failed", "e-pending")], T0)
    await finish(store, {"e-done": "done", "e-ignored": "ignored", "e-failed": "failed"}, T0)
    clock = Clock()
    sched = scheduler(store, clock)

    clock.now = T0 + timedelta(hours=23)
    await sched.tick()
    assert all(r.payload is not None for r in (await rows(store)).values())

    clock.now = T0 + timedelta(hours=25)
    await sched.tick()
    after_a_day = await rows(store)
    assert set(after_a_day) == {"e-done", "e-ignored", "e-failed", "e-pending"}
    assert {e for e, r in after_a_day.items() if r.payload is not None} == {"e-pending"}
    # the event id is still known: a platform's redelivery is recognised as a duplicate
    assert await store.ingest([event("e-done")], clock.now) == 0

    clock.now = T0 + timedelta(days=29)
    await sched.tick()
    assert len(await rows(store)) == 4

    clock.now = T0 + timedelta(days=31)
    await sched.tick()
    left = await rows(store)
    assert set(left) == {"e-pending"}  # never processed: kept, payload and all
    assert left["e-pending"].payload == {"type": "message", "text": "เรื่องที่แจ้ง"}


async def test_a_backlog_is_purged_in_short_batches(store: SqlStore) -> None:
    await store.ingest([event(f"old-{n:04d}") for n in range(250)], T0)
    await finish(store, {f"old-{n:04d}": "done" for n in range(250)}, T0)
    clock = Clock()
    clock.now = T0 + timedelta(days=2)
    sched = scheduler(store, clock)
    # one tick works off at most rounds × batch rows, in separate transactions
    assert await sched.purge_inbox(batch=100, rounds=2) == (200, 0)
    assert await sched.purge_inbox(batch=100, rounds=2) == (50, 0)
    clock.now = T0 + timedelta(days=40)
    assert await sched.purge_inbox(batch=100, rounds=5) == (0, 250)
    assert await rows(store) == {}


async def test_sqlite_gives_the_space_of_purged_rows_back(store: SqlStore) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's autovacuum reuses the space of deleted rows")

    async def pages() -> tuple[int, int]:
        async with store.transaction() as uow:
            count = (await uow.session.execute(text("PRAGMA page_count"))).scalar_one()
            free = (await uow.session.execute(text("PRAGMA freelist_count"))).scalar_one()
        return int(count), int(free)

    padding = secrets.token_hex(10_000)  # 20 kB a message: a padded flood
    await store.ingest([event(f"pad-{n:03d}", padding) for n in range(200)], T0)
    await finish(store, {f"pad-{n:03d}": "done" for n in range(200)}, T0)
    before, _ = await pages()
    clock = Clock()
    clock.now = T0 + timedelta(days=31)
    await scheduler(store, clock).tick()
    after, free = await pages()
    assert free == 0
    assert after < before / 4, (before, after)
