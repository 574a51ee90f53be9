"""Several processes on one database: per-conversation order, one scheduler tick at a time,
sends whose outcome was never recorded, and a lease released on stop.

Two `SqlStore`s on two engines stand for two processes. The cross-process lock tests need
PostgreSQL (TIPBOT_TEST_DATABASE_URL); the order rule also holds on SQLite.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.core.catalog import Catalog
from bot.core.model import Address, InboxEvent, Outbound, OutboxItem, SendResult, SendStatus
from bot.runtime.relay import Relay
from bot.runtime.scheduler import Scheduler
from bot.runtime.staff import StaffDesk
from storage import tables as t
from storage.crypto import Keyring, install_keyring
from storage.database import create_engine, upgrade_async
from storage.repositories import SqlStore
from tests.conftest import PG_URL
from tests.test_storage import tip

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
needs_pg = pytest.mark.skipif(
    PG_URL is None, reason="cross-process locks need PostgreSQL: set TIPBOT_TEST_DATABASE_URL"
)


async def _stores(url: str, n: int = 2) -> list[SqlStore]:
    install_keyring(Keyring("concurrency-test-secret-0123456789"))
    await upgrade_async(url)
    return [SqlStore(create_engine(url)) for _ in range(n)]


@pytest.fixture
async def stores(db_url: str) -> AsyncIterator[list[SqlStore]]:
    made = await _stores(db_url)
    yield made
    for s in made:
        await s.engine.dispose()


@pytest.fixture
async def pg_stores(pg_url: str) -> AsyncIterator[list[SqlStore]]:
    made = await _stores(pg_url)
    yield made
    for s in made:
        await s.engine.dispose()


def event(event_id: str, chat: str, offset_ms: int = 0) -> InboxEvent:
    return InboxEvent("line", event_id, chat, NOW + timedelta(milliseconds=offset_ms), {"n": event_id})


async def _ids(store: SqlStore) -> dict[str, int]:
    async with store.transaction() as uow:
        rows = (await uow.session.execute(select(t.InboxRow.event_id, t.InboxRow.id))).all()
    return {str(e): int(i) for e, i in rows}


async def test_a_later_event_waits_while_an_earlier_one_of_its_chat_is_pending(
    stores: list[SqlStore],
) -> None:
    a, _ = stores
    await a.ingest([event("e1", "U1", 0), event("e2", "U1", 5), event("f1", "U2", 1)], NOW)
    ids = await _ids(a)
    async with a.transaction() as uow:
        assert await uow.inbox.claim(ids["e2"]) is None  # e1 of the same chat comes first
        assert await uow.inbox.claim(ids["f1"]) is not None  # another chat is not held back
        first = await uow.inbox.claim(ids["e1"])
        assert first is not None and first.event_id == "e1"
        await uow.inbox.finish(ids["e1"], "done", NOW)
    async with a.transaction() as uow:
        second = await uow.inbox.claim(ids["e2"])
        assert second is not None and second.event_id == "e2"


@needs_pg
async def test_while_one_process_has_a_conversation_no_other_process_claims_its_next_event(
    pg_stores: list[SqlStore],
) -> None:
    a, b = pg_stores
    await a.ingest([event("e1", "U1", 0), event("e2", "U1", 5), event("f1", "U2", 0)], NOW)
    ids = await _ids(a)
    async with a.transaction() as ua:
        assert await ua.inbox.claim(ids["e1"]) is not None
        # Process A has claimed e1 but not yet committed; B must not take e1 nor jump to e2.
        async with b.transaction() as ub:
            assert await ub.inbox.claim(ids["e1"]) is None
            assert await ub.inbox.claim(ids["e2"]) is None
            assert await ub.inbox.claim(ids["f1"]) is not None
        await ua.inbox.finish(ids["e1"], "done", NOW)
    async with b.transaction() as ub:
        claimed = await ub.inbox.claim(ids["e2"])
        assert claimed is not None and claimed.event_id == "e2"


@needs_pg
async def test_a_late_arriving_earlier_event_is_not_processed_beside_the_one_in_progress(
    pg_stores: list[SqlStore],
) -> None:
    a, b = pg_stores
    await a.ingest([event("e2", "U1", 5)], NOW)
    ids = await _ids(a)
    async with a.transaction() as ua:
        assert await ua.inbox.claim(ids["e2"]) is not None
        # An event stamped earlier arrives (another webhook request) while A is on e2:
        # nothing earlier was pending when A claimed, so only the chat lock keeps B out.
        await b.ingest([event("e1", "U1", 0)], NOW)
        ids = await _ids(b)
        async with b.transaction() as ub:
            assert await ub.inbox.claim(ids["e1"]) is None
        await ua.inbox.finish(ids["e2"], "done", NOW)
    async with b.transaction() as ub:
        assert await ub.inbox.claim(ids["e1"]) is not None


@needs_pg
async def test_a_named_lock_is_held_by_one_transaction_at_a_time(pg_stores: list[SqlStore]) -> None:
    a, b = pg_stores
    async with a.transaction() as ua:
        assert await ua.try_lock("scheduler")
        async with b.transaction() as ub:
            assert not await ub.try_lock("scheduler")
            assert await ub.try_lock("something-else")
    async with b.transaction() as ub:
        assert await ub.try_lock("scheduler")  # released with A's transaction


async def _overdue_tip_with_staff(store: SqlStore) -> None:
    async with store.transaction() as uow:
        contact = await uow.contacts.create("webchat", "v" * 32, "th", NOW - timedelta(days=3))
        await uow.tips.add(
            tip(), contact_id=contact.id, channel="webchat", draft_id="d1", now=NOW - timedelta(days=3)
        )
        await uow.staff.join("webchat", "s" * 32, "3", "staff", "th", NOW - timedelta(days=4))


async def test_scheduler_ticks_of_several_processes_queue_each_reminder_once(
    stores: list[SqlStore],
) -> None:
    await _overdue_tip_with_staff(stores[0])
    schedulers = [
        Scheduler(
            store=s,
            desk=StaffDesk(entropy=os.urandom),
            clock=lambda: NOW,
            ack_reminder=timedelta(hours=48),
            digest_hour=0,
        )
        for s in stores
    ]
    for _ in range(3):
        await asyncio.gather(*(sch.tick() for sch in schedulers))
    async with stores[0].transaction() as uow:
        reminders = (
            await uow.session.execute(
                select(func.count()).select_from(t.OutboxRow).where(t.OutboxRow.tip_id.is_not(None))
            )
        ).scalar_one()
        digests = (
            await uow.session.execute(
                select(func.count()).select_from(t.OutboxRow).where(t.OutboxRow.tip_id.is_(None))
            )
        ).scalar_one()
    assert (reminders, digests) == (1, 1)


class RecordingChannel:
    name = "webchat"

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.slow = False

    def to_inbound(self, event_id: str, payload: object) -> None:
        return None

    async def acknowledge(self, inbound: object) -> None:
        return None

    async def fetch_media(self, media: object) -> object:
        raise NotImplementedError

    async def send(
        self,
        address: Address,
        messages: list[Outbound],
        *,
        reply_token: str | None,
        retry_key: str,
        attachments: object = None,
    ) -> SendResult:
        self.started.set()
        if self.slow:
            await self.release.wait()
        self.sent.append(retry_key)
        return SendResult(SendStatus.SENT)


def _row(key: str, chat: str) -> OutboxItem:
    return OutboxItem(
        channel="webchat",
        chat_id=chat,
        kind="alert",
        payload={"locale": "th", "replies": [{"key": "common.sorry_restart", "params": {}}]},
        idempotency_key=key,
    )


async def _outbox(store: SqlStore) -> dict[str, tuple[str, bool, str | None]]:
    async with store.transaction() as uow:
        rows = (await uow.session.execute(select(t.OutboxRow))).scalars().all()
    return {r.idempotency_key: (r.status, r.possible_duplicate, r.last_error) for r in rows}


async def test_a_row_whose_sender_died_mid_send_is_sent_again_and_recorded_as_possible_duplicate(
    stores: list[SqlStore],
) -> None:
    a, b = stores
    async with a.transaction() as uow:
        await uow.outbox.add(_row("k-1", "c" * 32), NOW)
        # process A leases the row, starts sending it and dies before recording what happened
        [taken] = await uow.outbox.due(NOW, 10, [("webchat", None)], "process-a")
        assert taken.id is not None and await uow.outbox.start([taken.id], "process-a", NOW)
    channel = RecordingChannel()
    later = NOW + timedelta(minutes=11)  # after the lease cap (tests/test_leases.py: sooner)
    relay = Relay(store=b, channels={"webchat": channel}, catalog=Catalog.load(), clock=lambda: later)
    assert await relay.drain() == 1
    assert channel.sent == ["k-1"]
    assert (await _outbox(b))["k-1"] == ("sent", True, None)


async def test_a_stopping_relay_finishes_the_send_in_progress_and_frees_the_rest(
    stores: list[SqlStore],
) -> None:
    a, _ = stores
    async with a.transaction() as uow:
        for n in range(3):
            await uow.outbox.add(_row(f"k-{n}", "c" * 32), NOW)  # one chat: sent in order
    channel = RecordingChannel()
    channel.slow = True
    relay = Relay(store=a, channels={"webchat": channel}, catalog=Catalog.load(), clock=lambda: NOW)
    stop = asyncio.Event()
    draining = asyncio.create_task(relay.drain(stop))
    await channel.started.wait()
    stop.set()  # SIGTERM while the first send is on the wire
    channel.release.set()
    await draining
    rows = await _outbox(a)
    assert channel.sent == ["k-0"]
    assert rows["k-0"] == ("sent", False, None)
    # never attempted: not in doubt, and due now for whichever process runs next
    assert rows["k-1"] == ("pending", False, None) and rows["k-2"] == ("pending", False, None)
    async with a.transaction() as uow:
        assert len(await uow.outbox.due(NOW, 10, [("webchat", None)])) == 2
