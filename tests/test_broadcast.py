"""Broadcasts through the real LINE and Telegram SDK clients against the fake platforms: the
audience rules, each volunteer exactly once (through 429 bursts and crashes), quota, cancel."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.app import Services, build_services
from bot.core.compose import notice_reply
from bot.core.model import Address, Audience, BroadcastRecord
from bot.core.routing import RegionTable
from bot.runtime.broadcast import LEASE
from bot.settings import Settings
from handlers.line import LineChannel
from handlers.telegram import TelegramChannel
from storage import tables as t
from tests.broadcast_seed import Volunteer, line_id, seed, telegram_id
from tests.conftest import make_settings
from tests.drivers_line import line_settings
from tests.drivers_telegram import telegram_settings
from tests.fakes.line import FakeLine
from tests.fakes.telegram import FakeTelegram
from tests.harness import FakeClock

REGIONS = RegionTable.load()
R3 = REGIONS.provinces_of("3")
OTHER = next(p for p in REGIONS.provinces_of("5") if p not in R3)
FAR = next(p for p in REGIONS.provinces_of("9"))


@asynccontextmanager
async def platforms(
    db_url: str, tmp_path: Path, clock: FakeClock, **extra: Any
) -> AsyncIterator[tuple[Services, FakeLine, FakeTelegram]]:
    async with FakeLine() as line, FakeTelegram(rate_limit=5000) as tg:
        settings: Settings = make_settings(db_url, tmp_path, **extra)
        settings = telegram_settings(line_settings(settings, line), tg)
        services = await build_services(
            settings, migrate=True, clock=clock, autostart=False, with_webchat=False
        )
        channel = services.channels["telegram"]
        assert isinstance(channel, TelegramChannel)
        channel.rate_per_second = 4000.0  # the fake's limit is raised to match: keep the suite quick
        try:
            yield services, line, tg
        finally:
            await services.close()


async def create(services: Services, audience: Audience, **kw: Any) -> int:
    bc = BroadcastRecord(title="อบรมอาสาสมัคร", body="ขอเชิญร่วมอบรม", audience=audience, **kw)
    async with services.store.transaction() as uow:
        return await uow.broadcasts.add(bc, services.broadcaster.clock())


async def run_out(services: Services, clock: FakeClock, bc_id: int, rounds: int = 200) -> dict[str, int]:
    """Drive the broadcaster (and the relay) until the broadcast is done, letting retry waits pass."""
    for _ in range(rounds):
        worked = await services.broadcaster.drain()
        await services.relay.drain()
        async with services.store.transaction() as uow:
            bc = await uow.broadcasts.get(bc_id)
            assert bc is not None
            if bc.status in ("done", "cancelled"):
                return await uow.broadcasts.totals(bc_id)
        if not worked:
            clock.offset += timedelta(seconds=2)
    raise AssertionError("the broadcast did not finish")


def copies(line: FakeLine, tg: FakeTelegram) -> Counter[str]:
    return line.delivery_counts("multicast") + tg.delivery_counts()


async def test_ten_thousand_volunteers_each_get_it_once_through_429_bursts(
    db_url: str, tmp_path: Path
) -> None:
    clock = FakeClock()
    volunteers: list[Volunteer] = []
    expected: set[str] = set()
    for n in range(7000):  # LINE, in region 3 or the one chosen province
        v = Volunteer("line", line_id(n), R3[n % len(R3)] if n % 5 else OTHER)
        volunteers.append(v)
        expected.add(v.chat_id)
    for n in range(2400):  # Telegram, the same audience
        v = Volunteer("telegram", telegram_id(n), R3[n % len(R3)] if n % 4 else OTHER)
        volunteers.append(v)
        expected.add(v.chat_id)
    # not in the audience: another region, stopped notices, blocked the bot, never consented
    volunteers += [Volunteer("line", line_id(n, "far"), FAR) for n in range(200)]
    volunteers += [Volunteer("line", line_id(n, "quiet"), R3[0], opted_out=True) for n in range(150)]
    volunteers += [Volunteer("telegram", telegram_id(50_000 + n), R3[1], reachable=False) for n in range(100)]
    volunteers += [Volunteer("line", line_id(n, "new"), R3[2], consented=False) for n in range(100)]
    # 50 volunteers who linked LINE and Telegram: one copy each, on the chat they used last
    linked: list[tuple[str, str]] = []
    for n in range(50):
        key = f"person-{n}"
        a = Volunteer("line", line_id(n, "both"), R3[0], link_key=key, seen_minutes_ago=5 if n % 2 else 90)
        b = Volunteer("telegram", telegram_id(90_000 + n), R3[0], link_key=key, seen_minutes_ago=30)
        volunteers += [a, b]
        linked.append((a.chat_id, b.chat_id))
    assert len(volunteers) >= 10_000

    async with platforms(db_url, tmp_path, clock) as (services, line, tg):
        await seed(services.store, volunteers)
        line.rate_limit_next("multicast", 3, retry_after=1, skip=5)  # a burst in the middle
        tg.fail_next_sends(25, retry_after=1, after=1200)
        bc_id = await create(services, Audience(regions=("3",), provinces=(OTHER,)))
        totals = await run_out(services, clock, bc_id)

    got = copies(line, tg)
    assert set(got) - expected - {c for pair in linked for c in pair} == set(), "only the audience"
    assert all(got[c] == 1 for c in expected), "each volunteer exactly once"
    for i, (on_line, on_tg) in enumerate(linked):
        assert got[on_line] + got[on_tg] == 1
        assert got[on_line if i % 2 else on_tg] == 1, "the chat the volunteer used most recently"
    assert totals["sent"] == len(expected) + len(linked) == sum(got.values())
    assert totals.get("failed", 0) == 0 and totals["possible_duplicates"] == 0
    assert [c.status for c in line.calls_to("multicast")].count(429) == 3
    assert all(len(c.body["to"]) <= 500 for c in line.calls_to("multicast"))
    assert sum(1 for c in line.calls_to("multicast") if c.status == 200) == 15  # ⌈7,025 / 500⌉
    assert tg.delivery_counts() and sum(tg.attempts.values()) >= sum(tg.delivery_counts().values()) + 25


async def test_line_batch_in_flight_at_a_crash_is_resent_under_its_key(db_url: str, tmp_path: Path) -> None:
    clock = FakeClock()
    async with platforms(db_url, tmp_path, clock) as (services, line, _tg):
        await seed(services.store, [Volunteer("line", line_id(n), R3[0]) for n in range(30)])
        bc_id = await create(services, Audience(regions=("3",)))
        await services.broadcaster.start_due()
        now = clock()
        async with services.store.transaction() as uow:
            key, batch = await uow.broadcasts.claim_recipients(
                bc_id, "line", now, lease=LEASE, limit=500, batch_key=str(uuid.uuid4())
            )
            bc = await uow.broadcasts.get(bc_id)
        assert key is not None and len(batch) == 30 and bc is not None
        channel = services.channels["line"]
        assert isinstance(channel, LineChannel)
        # The multicast reaches LINE, then the process dies before it records the outcome.
        message = services.catalog.render(notice_reply(bc), "th")
        await channel.multicast([r.chat_id for r in batch], [message], retry_key=key)
        clock.offset += LEASE + timedelta(seconds=1)
        totals = await run_out(services, clock, bc_id)
    assert totals["sent"] == 30 and totals["possible_duplicates"] == 0
    assert set(line.delivery_counts("multicast").values()) == {1}, "LINE dropped the repeat by its retry key"
    assert [c.status for c in line.calls_to("multicast")] == [200, 409]


async def test_telegram_copy_in_flight_at_a_crash_is_resent_once_and_recorded(
    db_url: str, tmp_path: Path
) -> None:
    clock = FakeClock()
    async with platforms(db_url, tmp_path, clock) as (services, _line, tg):
        await seed(services.store, [Volunteer("telegram", telegram_id(n), R3[0]) for n in range(10)])
        bc_id = await create(services, Audience(provinces=(R3[0],)))
        await services.broadcaster.start_due()
        async with services.store.transaction() as uow:
            _, [first] = await uow.broadcasts.claim_recipients(bc_id, "telegram", clock(), lease=LEASE)
            bc = await uow.broadcasts.get(bc_id)
        assert bc is not None
        channel = services.channels["telegram"]
        message = services.catalog.render(notice_reply(bc), "th")
        await channel.send(Address("telegram", first.chat_id), [message], reply_token=None, retry_key="x")
        clock.offset += LEASE + timedelta(seconds=1)  # the process died: its lease runs out
        totals = await run_out(services, clock, bc_id)
        async with services.store.transaction() as uow:
            rows = (await uow.session.execute(select(t.BroadcastRecipient))).scalars().all()
    counts = tg.delivery_counts()
    assert counts[first.chat_id] == 2 and sum(counts.values()) == 11, "only the copy in flight repeats"
    assert totals["sent"] == 10 and totals["possible_duplicates"] == 1
    assert [r.contact_id for r in rows if r.possible_duplicate] == [first.contact_id]


async def test_quota_flags_moves_linked_volunteers_and_holds_line_copies(db_url: str, tmp_path: Path) -> None:
    clock = FakeClock()
    async with platforms(db_url, tmp_path, clock, line_monthly_quota=20) as (services, line, _tg):
        people = [Volunteer("line", line_id(n), R3[0]) for n in range(25)]
        for n in range(5):  # linked, and LINE was their latest chat
            people.append(Volunteer("line", line_id(n, "both"), R3[0], link_key=f"p{n}", seen_minutes_ago=1))
            people.append(Volunteer("telegram", telegram_id(n), R3[0], link_key=f"p{n}", seen_minutes_ago=50))
        await seed(services.store, people)
        bc = BroadcastRecord(title="อบรม", body="เนื้อหา", audience=Audience(regions=("3",)))
        async with services.store.transaction() as uow:
            plan = await services.dispatcher.broadcasts.plan(uow, bc, clock())
        assert plan.by_channel == {"line": 25, "telegram": 5} and plan.moved_to_other == 5
        assert plan.line_left == 20 and plan.over_quota == 5
        bc_id = await create(services, Audience(regions=("3",)))
        for _ in range(5):
            await services.broadcaster.drain()
        async with services.store.transaction() as uow:
            totals = await uow.broadcasts.totals(bc_id)
            paused = await uow.kv.get("paused.line")
    assert totals["sent"] == 25 and totals["pending"] == 5, "LINE stops at the quota; Telegram goes on"
    assert sum(line.delivery_counts().values()) == 20 and paused == "quota"


async def test_cancel_stops_what_has_not_gone_out(db_url: str, tmp_path: Path) -> None:
    clock = FakeClock()
    async with platforms(db_url, tmp_path, clock) as (services, _line, tg):
        await seed(services.store, [Volunteer("telegram", telegram_id(n), R3[0]) for n in range(40)])
        bc_id = await create(services, Audience(regions=("3",)))
        await services.broadcaster.start_due()
        async with services.store.transaction() as uow:
            assert await uow.broadcasts.cancel(bc_id, clock())
            assert not await uow.broadcasts.cancel(bc_id, clock())
        await services.broadcaster.drain()
        async with services.store.transaction() as uow:
            totals = await uow.broadcasts.totals(bc_id)
            bc = await uow.broadcasts.get(bc_id)
    assert bc is not None and bc.status == "cancelled"
    assert totals == {"cancelled": 40, "via_telegram": 40, "possible_duplicates": 0}
    assert sum(tg.delivery_counts().values()) == 0


async def test_a_volunteer_who_stops_notices_after_queueing_is_skipped(db_url: str, tmp_path: Path) -> None:
    clock = FakeClock()
    async with platforms(db_url, tmp_path, clock) as (services, line, _tg):
        await seed(services.store, [Volunteer("line", line_id(n), R3[0]) for n in range(3)])
        bc_id = await create(services, Audience(regions=("3",)))
        await services.broadcaster.start_due()
        async with services.store.transaction() as uow:
            contact = await uow.contacts.get("line", line_id(1))
            assert contact is not None
            await uow.contacts.set_opted_out(contact.id, True)
        totals = await run_out(services, clock, bc_id)
    assert totals["sent"] == 2 and totals["skipped"] == 1
    assert line_id(1) not in line.delivery_counts()


async def test_a_broadcast_at_a_time_waits_for_it(db_url: str, tmp_path: Path) -> None:
    clock = FakeClock()
    async with platforms(db_url, tmp_path, clock) as (services, _line, tg):
        await seed(services.store, [Volunteer("telegram", telegram_id(1), R3[0])])
        bc_id = await create(services, Audience(), send_at=clock() + timedelta(hours=3))
        await services.broadcaster.drain()
        assert sum(tg.delivery_counts().values()) == 0
        clock.offset += timedelta(hours=3, seconds=1)
        totals = await run_out(services, clock, bc_id)
    assert totals["sent"] == 1 and tg.delivery_counts()[telegram_id(1)] == 1


async def test_two_processes_share_a_broadcast_and_send_each_copy_once(db_url: str, tmp_path: Path) -> None:
    """Two sets of services on one database (as two `tipbot serve` processes): each volunteer gets
    one copy, the broadcast starts and finishes once, and the organizer is told once."""
    clock = FakeClock()
    async with FakeLine() as line, FakeTelegram(rate_limit=5000) as tg:
        settings = telegram_settings(line_settings(make_settings(db_url, tmp_path), line), tg)
        pair = [
            await build_services(settings, migrate=True, clock=clock, autostart=False, with_webchat=False)
            for _ in range(2)
        ]
        try:
            for services in pair:
                channel = services.channels["telegram"]
                assert isinstance(channel, TelegramChannel)
                channel.rate_per_second = 4000.0
            await seed(
                pair[0].store,
                [Volunteer("line", line_id(n), R3[n % len(R3)]) for n in range(1600)]
                + [Volunteer("telegram", telegram_id(n), R3[0]) for n in range(300)],
            )
            async with pair[0].store.transaction() as uow:
                organizer = await uow.staff.join("telegram", "-100777", "3", "organizer", "th", clock())
            bc_id = await create(pair[0], Audience(regions=("3",)), staff_chat_id=organizer.id)
            for _ in range(50):
                await asyncio.gather(*(s.broadcaster.drain() for s in pair))
                async with pair[0].store.transaction() as uow:
                    bc = await uow.broadcasts.get(bc_id)
                    totals = await uow.broadcasts.totals(bc_id)
                assert bc is not None
                if bc.status == "done":
                    break
            async with pair[0].store.transaction() as uow:
                told = (await uow.session.execute(select(t.OutboxRow.payload))).scalars().all()
        finally:
            for services in pair:
                await services.close()
    assert bc.status == "done" and totals["sent"] == 1900
    assert set(copies(line, tg).values()) == {1} and len(copies(line, tg)) == 1900
    keys = sorted(p["replies"][0]["key"] for p in told)
    assert keys == ["broadcast.finished", "broadcast.started"], "the organizer is told once of each"


async def test_several_telegram_copies_in_flight_still_send_each_once(db_url: str, tmp_path: Path) -> None:
    clock = FakeClock()
    async with platforms(db_url, tmp_path, clock, broadcast_in_flight=4) as (services, _line, tg):
        tg.latency = 0.05  # a slow network: one copy at a time would take 0.05 s each
        await seed(services.store, [Volunteer("telegram", telegram_id(n), R3[0]) for n in range(120)])
        bc_id = await create(services, Audience(regions=("3",)))
        totals = await run_out(services, clock, bc_id)
    assert totals["sent"] == 120 and totals["possible_duplicates"] == 0
    assert len(tg.delivery_counts()) == 120 and set(tg.delivery_counts().values()) == {1}
