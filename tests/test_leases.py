"""Leases that name their holder: a restarted process takes back its own at once, another
process takes a dead one's after the heartbeat timeout, and nobody takes a live one's.

Two or three `SqlStore`s on their own engines stand for processes; time is an injected clock.
Runs on SQLite and, with TIPBOT_TEST_DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.core.catalog import Catalog
from bot.core.model import Audience, AudienceMember, BroadcastRecord, OutboxItem
from bot.runtime.heartbeat import Heartbeat
from bot.runtime.relay import Relay
from storage import tables as t
from storage.crypto import Keyring, install_keyring
from storage.database import create_engine, upgrade_async
from storage.repositories import IN_FLIGHT, SqlStore
from tests.broadcast_seed import Volunteer, seed, telegram_id
from tests.test_concurrency import RecordingChannel

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TIMEOUT = timedelta(seconds=8)
SCOPE = [("webchat", None)]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def stores(db_url: str) -> AsyncIterator[list[SqlStore]]:
    install_keyring(Keyring("lease-test-secret-0123456789abcdef"))
    await upgrade_async(db_url)
    made = [SqlStore(create_engine(db_url)) for _ in range(3)]
    yield made
    for s in made:
        await s.engine.dispose()


def process(
    store: SqlStore,
    clock: Clock,
    instance: str,
    *,
    pid: int,
    live_pids: set[int] = frozenset(),  # type: ignore[assignment]
) -> Heartbeat:
    return Heartbeat(
        store=store,
        instance=instance,
        role="serve",
        timeout=TIMEOUT,
        clock=clock,
        host="host-a",
        pid=pid,
        gone=lambda p: p not in live_pids,
    )


def row(key: str, chat: str) -> OutboxItem:
    return OutboxItem(
        channel="webchat",
        chat_id=chat,
        kind="reply",
        payload={"locale": "th", "replies": [{"key": "common.sorry_restart", "params": {}}]},
        idempotency_key=key,
    )


async def add_rows(store: SqlStore, *keys: str) -> None:
    async with store.transaction() as uow:
        for n, key in enumerate(keys):
            await uow.outbox.add(row(key, f"chat-{n:02d}".ljust(32, "x")), T0)


async def lease(store: SqlStore, holder: Heartbeat, now: datetime, limit: int = 10) -> dict[str, int]:
    async with store.transaction() as uow:
        due = await uow.outbox.due(now, limit, SCOPE, holder.incarnation)
    return {i.idempotency_key: i.id for i in due if i.id is not None}


async def due(store: SqlStore, now: datetime) -> dict[str, bool]:
    """What a relay would take now, by key → in doubt (the rows are then leased to nobody)."""
    async with store.transaction() as uow:
        items = await uow.outbox.due(now, 100, SCOPE, "someone-looking")
        await uow.outbox.release([i.id for i in items if i.id is not None], now)
    return {i.idempotency_key: i.in_doubt for i in items}


async def test_a_restarted_process_takes_back_its_own_leases_at_once(stores: list[SqlStore]) -> None:
    a, _, _ = stores
    clock = Clock()
    first = process(a, clock, "host-a:serve:8081", pid=4001)
    await first.register()
    await add_rows(a, "k-0", "k-1", "k-2")
    ids = await lease(a, first, T0)
    async with a.transaction() as uow:  # one send is on the wire when the process is killed
        assert await uow.outbox.start([ids["k-0"]], first.incarnation, T0) == {ids["k-0"]}
    clock.now = T0 + timedelta(seconds=1)
    assert await due(a, clock.now) == {}, "leased rows of a process not known to be gone stay its own"

    again = process(a, clock, "host-a:serve:8081", pid=4002)  # pid 4001 is gone
    await again.register()
    # At once, not after a lease or a heartbeat timeout; only the send that may have gone out is in doubt.
    assert await due(a, clock.now) == {"k-0": True, "k-1": False, "k-2": False}
    async with a.transaction() as uow:
        rows = {p.id: p for p in (await uow.session.execute(select(t.ProcessRow))).scalars()}
    assert rows[first.incarnation].stop_reason == "restarted"
    assert rows[again.incarnation].stopped_at is None


async def test_another_process_takes_a_dead_ones_leases_after_the_timeout_never_a_live_ones(
    stores: list[SqlStore],
) -> None:
    a, b, c = stores
    clock = Clock()
    dead = process(a, clock, "host-a:serve:8081", pid=4001)
    live = process(b, clock, "host-a:serve:8082", pid=4002, live_pids={4002})
    other = process(c, clock, "host-a:worker", pid=4003, live_pids={4002})
    for p in (dead, live, other):
        await p.register()
    await add_rows(a, "dead-0", "dead-1", "live-0", "live-1")
    async with a.transaction() as uow:
        ids = {i.idempotency_key: i.id for i in await uow.outbox.due(T0, 2, SCOPE, dead.incarnation)}
        assert await uow.outbox.start([ids["dead-0"]], dead.incarnation, T0)
    async with b.transaction() as uow:
        mine = {i.idempotency_key: i.id for i in await uow.outbox.due(T0, 2, SCOPE, live.incarnation)}
        assert mine.keys() == {"live-0", "live-1"}
        # the live process's send takes long (a slow platform): it stays its lease however long
        assert await uow.outbox.start([mine["live-0"]], live.incarnation, T0)

    # `dead` stops beating at T0; the others go on every 2 s
    for second in range(2, 8, 2):
        clock.now = T0 + timedelta(seconds=second)
        await live.beat()
        await other.beat()
        assert await due(c, clock.now) == {}, f"nothing is free {second} s after the last beat"
    clock.now = T0 + TIMEOUT + timedelta(seconds=1)
    await live.beat()
    await other.beat()
    assert await due(c, clock.now) == {"dead-0": True, "dead-1": False}
    async with c.transaction() as uow:
        for key in ("dead-0", "dead-1"):
            await uow.outbox.settle(ids[key], status="sent", attempts=1, now=clock.now)

    # Minutes later (far past the old two-minute lease) the live process still holds its rows.
    for second in range(10, 7 * 60, 2):
        clock.now = T0 + timedelta(seconds=second)
        await live.beat()
        await other.beat()
        if second % 30 == 0:
            assert await due(c, clock.now) == {}, f"a live process's rows taken after {second} s"
    async with b.transaction() as uow:
        assert await uow.outbox.start([mine["live-1"]], live.incarnation, clock.now) == {mine["live-1"]}
        await uow.outbox.settle(mine["live-0"], status="sent", attempts=1, now=clock.now)
        await uow.outbox.settle(mine["live-1"], status="sent", attempts=1, now=clock.now)
    async with a.transaction() as uow:
        states = {r.idempotency_key: (r.status, r.possible_duplicate, r.lease_holder) for r in
                  (await uow.session.execute(select(t.OutboxRow))).scalars()}  # fmt: skip
    assert states["live-0"] == states["live-1"] == ("sent", False, None)


async def test_a_process_taken_for_dead_cannot_send_what_another_took_over(stores: list[SqlStore]) -> None:
    a, b, _ = stores
    clock = Clock()
    stalled = process(a, clock, "host-a:serve:8081", pid=4001, live_pids={4001, 4002})
    watcher = process(b, clock, "host-a:serve:8082", pid=4002, live_pids={4001, 4002})
    await stalled.register()
    await watcher.register()
    await add_rows(a, "k-0")
    ids = await lease(a, stalled, T0)
    clock.now = T0 + TIMEOUT + timedelta(seconds=1)  # its heartbeat stalled (a long pause)
    await watcher.beat()
    async with b.transaction() as uow:
        taken = await uow.outbox.due(clock.now, 10, SCOPE, watcher.incarnation)
    assert [i.idempotency_key for i in taken] == ["k-0"]
    async with a.transaction() as uow:
        assert await uow.outbox.start([ids["k-0"]], stalled.incarnation, clock.now) == set()
    await stalled.beat()  # it comes back: alive again, without its old lease
    async with a.transaction() as uow:
        me = await uow.session.get(t.ProcessRow, stalled.incarnation)
        assert me is not None and me.stopped_at is None


async def test_a_live_process_using_the_same_instance_name_keeps_its_leases(stores: list[SqlStore]) -> None:
    a, b, _ = stores
    clock = Clock()
    one = process(a, clock, "host-a:worker", pid=4001, live_pids={4001, 4002})
    await one.register()
    await add_rows(a, "k-0")
    await lease(a, one, T0)
    twin = process(b, clock, "host-a:worker", pid=4002, live_pids={4001, 4002})
    await twin.register()
    assert await due(b, T0) == {}


async def test_a_dead_process_broadcast_copy_is_sent_again_and_recorded(stores: list[SqlStore]) -> None:
    a, b, _ = stores
    clock = Clock()
    dead = process(a, clock, "host-a:serve:8081", pid=4001)
    await dead.register()
    await seed(a, [Volunteer("telegram", telegram_id(n), "ยโสธร") for n in range(3)])
    async with a.transaction() as uow:
        bc_id = await uow.broadcasts.add(BroadcastRecord(title="อบรม", body="เนื้อหา", audience=Audience()), T0)
        members: list[AudienceMember] = await uow.broadcasts.audience(None)
        await uow.broadcasts.add_recipients(bc_id, members, T0)
        _, [copy] = await uow.broadcasts.claim_recipients(
            bc_id, "telegram", T0, lease=timedelta(minutes=10), holder=dead.incarnation
        )
    again = process(b, clock, "host-a:serve:8081", pid=4002)
    await again.register()
    async with b.transaction() as uow:
        _, taken = await uow.broadcasts.claim_recipients(
            bc_id, "telegram", T0, lease=timedelta(minutes=10), limit=5
        )
    assert [(r.id, r.in_flight) for r in taken][:1] == [(copy.id, True)]
    assert sorted(r.in_flight for r in taken) == [False, False, True]


async def test_a_killed_relay_leaves_in_doubt_only_the_sends_it_started(stores: list[SqlStore]) -> None:
    a, b, _ = stores
    clock = Clock()
    first = process(a, clock, "host-a:serve:8081", pid=4001)
    await first.register()
    async with a.transaction() as uow:
        for n in range(3):
            await uow.outbox.add(row(f"k-{n}", "c" * 32), T0)  # one chat: sent one after another
    channel = RecordingChannel()
    channel.slow = True
    relay = Relay(
        store=a, channels={"webchat": channel}, catalog=Catalog.load(), clock=clock, holder=first.incarnation
    )
    draining = asyncio.create_task(relay.drain())
    await channel.started.wait()
    draining.cancel()  # the process dies with the first send on the wire
    with pytest.raises(asyncio.CancelledError):
        await draining
    async with a.transaction() as uow:
        marks = {
            r.idempotency_key: r.last_error
            for r in (await uow.session.execute(select(t.OutboxRow))).scalars()
        }
    assert marks == {"k-0": IN_FLIGHT, "k-1": None, "k-2": None}

    again = process(b, clock, "host-a:serve:8081", pid=4002)
    await again.register()
    channel = RecordingChannel()
    relay = Relay(
        store=b, channels={"webchat": channel}, catalog=Catalog.load(), clock=clock, holder=again.incarnation
    )
    assert await relay.drain() == 3
    assert channel.sent == ["k-0", "k-1", "k-2"]
    async with b.transaction() as uow:
        rows = {r.idempotency_key: (r.status, r.possible_duplicate) for r in
                (await uow.session.execute(select(t.OutboxRow))).scalars()}  # fmt: skip
    assert rows == {"k-0": ("sent", True), "k-1": ("sent", False), "k-2": ("sent", False)}


async def test_a_clean_stop_frees_its_leases_and_old_process_rows_are_forgotten(
    stores: list[SqlStore],
) -> None:
    a, b, _ = stores
    clock = Clock()
    old = process(a, clock, "host-a:serve:8081", pid=4001)
    await old.register()
    await add_rows(a, "k-0")
    await lease(a, old, T0)
    await old.close()
    assert await due(a, T0) == {"k-0": False}
    clock.now = T0 + timedelta(days=2)
    fresh = process(b, clock, "host-a:serve:8082", pid=4002)
    await fresh.register()
    async with b.transaction() as uow:
        left = (await uow.session.execute(select(t.ProcessRow.id))).scalars().all()
    assert left == [fresh.incarnation]
