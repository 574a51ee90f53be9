"""The relay's retry classes, against a scripted channel (a test implementation of the port)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.core.catalog import Catalog
from bot.core.model import (
    Address,
    FetchedMedia,
    Inbound,
    MediaRef,
    Outbound,
    OutboxItem,
    Reply,
    SendResult,
    SendStatus,
    reply_to_data,
)
from bot.runtime.relay import Relay
from storage import tables as t
from storage.crypto import Keyring, install_keyring
from storage.database import create_engine, upgrade_async
from storage.repositories import SqlStore

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


class ScriptedChannel:
    name = "scripted"

    def __init__(self, results: list[SendResult]) -> None:
        self.results = results
        self.sent: list[tuple[str, str]] = []

    def to_inbound(self, event_id: str, payload: Mapping[str, object]) -> Inbound | None:
        return None

    async def acknowledge(self, inbound: Inbound) -> None:
        return None

    async def fetch_media(self, media: MediaRef) -> FetchedMedia:
        raise NotImplementedError

    async def send(
        self,
        address: Address,
        messages: Sequence[Outbound],
        *,
        reply_token: str | None,
        retry_key: str,
        attachments: Mapping[int, bytes] | None = None,
    ) -> SendResult:
        self.sent.append((address.chat_id, messages[0].text))
        return self.results.pop(0) if self.results else SendResult(SendStatus.SENT)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlStore]:
    install_keyring(Keyring("relay-test-secret-0123456789"))
    await upgrade_async(db_url)
    s = SqlStore(create_engine(db_url))
    yield s
    await s.engine.dispose()


async def queue(store: SqlStore, chat: str, key: str, staff_chat_id: int | None = None) -> None:
    async with store.transaction() as uow:
        payload = {"locale": "th", "replies": [reply_to_data(Reply("help.text"))]}
        await uow.outbox.add(
            OutboxItem("scripted", chat, "alert", payload, key, staff_chat_id=staff_chat_id), NOW
        )


async def rows(store: SqlStore) -> list[t.OutboxRow]:
    async with store.transaction() as uow:
        return list((await uow.session.execute(select(t.OutboxRow).order_by(t.OutboxRow.id))).scalars().all())


def relay(store: SqlStore, channel: ScriptedChannel, clock: Clock) -> Relay:
    return Relay(
        store=store, channels={"scripted": channel}, catalog=Catalog.load(), clock=clock, rnd=lambda: 0.5
    )


async def test_rate_limit_waits_for_the_stated_time_durably(store: SqlStore) -> None:
    clock = Clock()
    channel = ScriptedChannel([SendResult(SendStatus.RETRY, retry_after=30, error="429")])
    await queue(store, "c1", "k1")
    await relay(store, channel, clock).drain()
    [row] = await rows(store)
    assert row.status == "pending" and row.attempts == 1
    assert row.next_attempt_at is not None
    clock.now = NOW + timedelta(seconds=29)
    assert await relay(store, channel, clock).drain() == 0  # nothing before retry_after, even after a restart
    clock.now = NOW + timedelta(seconds=31)
    await relay(store, channel, clock).drain()
    [row] = await rows(store)
    assert row.status == "sent" and len(channel.sent) == 2


async def test_permanent_errors_fail_at_once_and_unreachable_staff_chats_stop(store: SqlStore) -> None:
    clock = Clock()
    async with store.transaction() as uow:
        staff = await uow.staff.join("scripted", "group-9", "3", "staff", "th", NOW)
    channel = ScriptedChannel(
        [
            SendResult(SendStatus.PERMANENT, error="400 bad"),
            SendResult(SendStatus.UNREACHABLE, error="403 kicked"),
        ]
    )
    await queue(store, "c1", "k1")
    await queue(store, "group-9", "k2", staff_chat_id=staff.id)
    await relay(store, channel, clock).drain()
    first, second = await rows(store)
    assert (first.status, first.attempts, first.last_error) == ("failed", 1, "400 bad")
    assert second.status == "failed"
    async with store.transaction() as uow:
        assert await uow.staff.for_region("3") == []


async def test_monthly_limit_parks_the_channel_without_a_hot_loop(store: SqlStore) -> None:
    clock = Clock()
    channel = ScriptedChannel([SendResult(SendStatus.PAUSED, error="monthly limit")])
    await queue(store, "c1", "k1")
    r = relay(store, channel, clock)
    await r.drain()
    for _ in range(3):
        assert await r.drain() == 0
    [row] = await rows(store)
    assert row.status == "pending" and row.next_attempt_at is not None
    assert len(channel.sent) == 1
    async with store.transaction() as uow:
        assert await uow.kv.get("paused.scripted") is not None


async def test_server_errors_back_off_then_fail_after_the_last_attempt(store: SqlStore) -> None:
    clock = Clock()
    channel = ScriptedChannel([SendResult(SendStatus.RETRY, error="502")] * 20)
    await queue(store, "c1", "k1")
    waits = []
    for _ in range(20):
        await relay(store, channel, clock).drain()
        [row] = await rows(store)
        if row.status != "pending":
            break
        assert row.next_attempt_at is not None
        due = (
            row.next_attempt_at.replace(tzinfo=UTC)
            if row.next_attempt_at.tzinfo is None
            else row.next_attempt_at
        )
        waits.append((due - clock.now).total_seconds())
        clock.now = due
    assert row.status == "failed" and row.last_error == "502"
    assert waits[0] < waits[5] <= 600  # exponential, capped


async def test_a_migrated_chat_is_retargeted_and_resent(store: SqlStore) -> None:
    clock = Clock()
    async with store.transaction() as uow:
        staff = await uow.staff.join("scripted", "-100", "4", "staff", "th", NOW)
    channel = ScriptedChannel([SendResult(SendStatus.MIGRATED, new_chat_id="-100200")])
    await queue(store, "-100", "k1", staff_chat_id=staff.id)
    await relay(store, channel, clock).drain()
    await relay(store, channel, clock).drain()
    assert [c for c, _ in channel.sent] == ["-100", "-100200"]
    async with store.transaction() as uow:
        [moved] = await uow.staff.for_region("4")
    assert moved.chat_id == "-100200"


async def test_bulk_sends_are_paced_per_platform_and_per_chat(store: SqlStore) -> None:
    import time

    clock = Clock()
    channel = ScriptedChannel([])
    channel.rate_per_second = 10.0  # type: ignore[attr-defined]
    channel.rate_per_chat = 2.0  # type: ignore[attr-defined]
    for i in range(14):
        await queue(store, f"chat-{i}", f"k{i}")
    r = relay(store, channel, clock)
    start = time.monotonic()
    await r.drain()
    spread = time.monotonic() - start
    assert len(channel.sent) == 14
    assert spread >= 0.3  # a burst of 10, then one every 0.1 s: never faster than the platform allows
    for i in range(3):
        await queue(store, "one-group", f"g{i}")
    start = time.monotonic()
    await r.drain()
    assert time.monotonic() - start >= 0.9  # one chat: 2 a second after the first
