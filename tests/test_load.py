"""Load and fault suite: real `tipbot serve` processes (and a `tipbot worker`) on one PostgreSQL,
driven by simulated LINE and Telegram volunteers and staff groups through the fake platforms.

Every volunteer walks the whole report form, waiting for each answer like a person would; signed
webhooks go to a random process, about one in ten is delivered again (a redelivery, often to
another process) and some carry event types tipbot does not know. While this runs, the platforms
answer storms of 429 and 5xx, one process is killed with SIGKILL (and restarted), and the database
"restarts" (a proxy drops every connection and refuses new ones for a while). A request that gets
no 200 is redelivered, as LINE and Telegram do.

Afterwards: every acknowledged event reached a final state; one tip per completed report; alerts
only to the right region's chats; every conversation saw its prompts in order, never going back;
no message delivered twice unless its outbox row is recorded as a possible duplicate.

`make test` runs the short version (2 servers + 1 worker); `make soak` the long one (4 servers).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.core.routing import RegionTable
from storage import tables as t
from storage.crypto import Keyring, install_keyring
from storage.database import create_engine, upgrade_async
from storage.repositories import SqlStore
from tests.conftest import PG_URL, SECRET
from tests.drivers_line import as_msg as line_msg
from tests.drivers_telegram import buttons_of
from tests.fakes.line import FakeLine, FakeLineUser, new_ulid
from tests.fakes.telegram import FakeTelegram, FakeTelegramUser
from tests.procs import TG_SECRET, DbProxy, Proc, base_env, stop_all

pytestmark = pytest.mark.skipif(
    PG_URL is None, reason="the load and fault suite runs on PostgreSQL: set TIPBOT_TEST_DATABASE_URL"
)

CODE = "รหัสเรื่อง"
#: incident province per volunteer group: two regions with staff, one without (goes to central)
PROVINCES = ("สุรินทร์", "เชียงใหม่", "ภูเก็ต")


def script(province: str) -> list[tuple[str, str, str]]:
    """(kind, value, text expected in the answer) for one whole report."""
    return [
        ("text", "สวัสดี", "คุณยินยอม"),
        ("tap", "ยินยอม", "คุณอยู่จังหวัดอะไร"),
        ("tap", "ข้าม", "ต้องการทำอะไร"),
        ("tap", "แจ้งเบาะแส", "ประเภทไหน"),
        ("tap", "จัดซื้อจัดจ้าง/ฮั้วประมูล", "เล่าสิ่งที่เกิดขึ้น"),
        ("text", "ผู้รับเหมารายเดิมได้งานทุกโครงการ ราคากลางสูงเกินจริง", "หน่วยงาน"),
        ("text", "ข้าม", "ตำแหน่ง"),
        ("text", "ข้าม", "จังหวัดไหน"),
        ("text", province, "เมื่อไร"),
        ("text", "ข้าม", "เงินเกี่ยวข้อง"),
        ("text", "ข้าม", "หลักฐาน"),
        ("tap", "ไม่มีหลักฐาน", "ถามคุณผ่านแชตนี้"),
        ("tap", "ไม่ต้องติดต่อ", "ตรวจสอบข้อมูล"),
        ("tap", "ยืนยันส่ง", CODE),
    ]


@dataclass
class Plan:
    servers: int
    workers: int
    line_volunteers: int
    telegram_volunteers: int
    duplicates: float = 0.1
    noise: float = 0.05
    step_timeout: float = 90.0


SHORT = Plan(servers=2, workers=1, line_volunteers=24, telegram_volunteers=24)
SOAK = Plan(servers=4, workers=1, line_volunteers=120, telegram_volunteers=120, step_timeout=180.0)


@dataclass
class Run:
    line: FakeLine
    tg: FakeTelegram
    servers: list[Proc]
    rng: random.Random
    acked: set[tuple[str, str]] = field(default_factory=set)
    sent: int = 0
    redelivered: int = 0
    refused: int = 0
    steps_done: int = 0

    def live(self) -> list[Proc]:
        return [p for p in self.servers if p.alive] or self.servers

    async def deliver(self, post: Callable[[str, bool], Any], keys: list[tuple[str, str]]) -> None:
        """POST to a random process until one answers 200 (as the platforms redeliver)."""
        redelivery = False
        deadline = time.monotonic() + 120
        while True:
            target = self.rng.choice(self.live())
            try:
                status = await post(target.url, redelivery)
            except (aiohttp.ClientError, OSError):
                status = 0
            self.sent += 1
            if status == 200:
                break
            self.refused += 1
            assert time.monotonic() < deadline, "no process took the event for two minutes"
            redelivery = True
            await asyncio.sleep(0.2 + self.rng.random() * 0.3)
        self.acked.update(keys)
        if self.rng.random() < PLAN_DUPLICATES[0]:
            # a redelivery of an event already answered 200: must change nothing
            target = self.rng.choice(self.live())
            with contextlib.suppress(aiohttp.ClientError, OSError):
                await post(target.url, True)
            self.redelivered += 1


PLAN_DUPLICATES = [0.1]


class LineVolunteer:
    def __init__(self, run: Run, user: FakeLineUser) -> None:
        self.run, self.user = run, user
        self.chat = user.chat_id

    def messages(self) -> list[Any]:
        return [line_msg(m) for m in self.run.line.deliveries.get(self.chat, [])]

    async def act(self, kind: str, value: str) -> None:
        if kind == "text":
            event = self.user.text(value)
        else:
            payload = next(p for m in reversed(self.messages()) for label, p in m.buttons if label == value)
            event = self.user.postback(payload)
        events = [event]
        if self.run.rng.random() < PLAN_NOISE[0]:
            events.append(_line_unknown(self.user))
        keys = [("line", e["webhookEventId"]) for e in events]

        async def post(url: str, redelivery: bool) -> int:
            return await self.run.line.deliver(url + "/webhooks/line", *events, redelivery=redelivery)

        await self.run.deliver(post, keys)


PLAN_NOISE = [0.05]


def _line_unknown(user: FakeLineUser) -> dict[str, Any]:
    return {
        "type": "futureEvent",
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": user.user_id},
        "webhookEventId": new_ulid(),
        "deliveryContext": {"isRedelivery": False},
    }


class TelegramVolunteer:
    def __init__(self, run: Run, user: FakeTelegramUser) -> None:
        self.run, self.user = run, user
        self.chat = str(user.chat_id)

    def messages(self) -> list[Any]:
        from tests.drivers_telegram import as_msg

        return [as_msg(d) for d in self.run.tg.sent_to(self.chat)]

    async def act(self, kind: str, value: str) -> None:
        if kind == "text":
            update = self.user.says(value)
        else:
            carrier = next(
                d
                for d in reversed(self.run.tg.sent_to(self.chat))
                if any(label == value for label, _ in buttons_of(d))
            )
            payload = next(p for label, p in buttons_of(carrier) if label == value)
            update = self.user.taps(payload, message_id=carrier.message_id)
        updates = [update]
        if self.run.rng.random() < PLAN_NOISE[0]:
            updates.append({"update_id": self.run.tg.next_update_id(), "business_message_future": {}})
        for u in updates:
            key = ("telegram", f"{self.run.tg.bot_id}:{u['update_id']}")

            async def post(url: str, redelivery: bool, u: dict[str, Any] = u) -> int:
                return await self.run.tg.post_update(u, url + "/webhooks/telegram", TG_SECRET)

            await self.run.deliver(post, [key])


async def volunteer(who: LineVolunteer | TelegramVolunteer, province: str, timeout: float) -> list[int]:
    """Walk the form; returns, per step, the index of the first message carrying its prompt."""
    seen_at: list[int] = []
    for kind, value, expect in script(province):
        before = len(who.messages())
        await who.act(kind, value)
        deadline = time.monotonic() + timeout
        while True:
            msgs = who.messages()
            hit = next((i for i in range(before, len(msgs)) if expect in msgs[i].text), None)
            if hit is not None:
                seen_at.append(hit)
                break
            assert time.monotonic() < deadline, (
                f"no «{expect}» after «{value}»: {[m.text[:30] for m in msgs[-3:]]}"
            )
            await asyncio.sleep(0.05)
        who.run.steps_done += 1
    return seen_at


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[SqlStore]:
    install_keyring(Keyring(SECRET))
    await upgrade_async(pg_url)
    s = SqlStore(create_engine(pg_url))
    yield s
    await s.engine.dispose()


async def _invite(store: SqlStore, region: str) -> str:
    code = "JOIN-" + "".join(secrets.choice("ACDEFGHJKMNPQRTUVWXY") for _ in range(5)) + "-LOADX"
    now = datetime.now(UTC)
    async with store.transaction() as uow:
        await uow.staff.create_invite(code, region, "staff", now + timedelta(hours=1), now)
    return code


async def _wait_quiet(store: SqlStore, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        async with store.transaction() as uow:
            inbox = await uow.inbox.counts()
            pending_out = (
                await uow.session.execute(select(t.OutboxRow.id).where(t.OutboxRow.status == "pending"))
            ).all()
        if not inbox.get("pending") and not pending_out:
            return
        assert time.monotonic() < deadline, f"not quiet: inbox {inbox}, outbox pending {len(pending_out)}"
        await asyncio.sleep(0.5)


async def faults(run: Run, proxy: DbProxy, total_steps: int, victim: Proc, report: list[str]) -> None:
    async def at(fraction: float) -> None:
        while run.steps_done < fraction * total_steps:  # noqa: ASYNC110 (a counter, polled)
            await asyncio.sleep(0.1)

    await at(0.2)
    run.line.rate_limit_next("reply", 15, retry_after=1)
    run.line.fail_next("push", 15, status=500)
    run.tg.fail_next_sends(15, retry_after=1)
    run.tg.fail_next_sends(15, server_error=True)
    report.append(f"storms at {run.steps_done}")
    await at(0.4)
    victim.kill()
    report.append(f"kill -9 at {run.steps_done}")
    await asyncio.sleep(1.0)
    await victim.start(wait=False)
    await at(0.6)
    await proxy.stop()
    report.append(f"database down at {run.steps_done}")
    await asyncio.sleep(2.0)
    await proxy.start()
    report.append("database back")


async def load_and_faults(plan: Plan, store: SqlStore, pg_url: str, tmp: Path) -> None:
    PLAN_DUPLICATES[0], PLAN_NOISE[0] = plan.duplicates, plan.noise
    regions = RegionTable.load()
    region_of = {p: regions.region_of(p) for p in PROVINCES}
    assert all(region_of.values())
    u = make_url(pg_url)
    proxy = DbProxy(u.host or "127.0.0.1", u.port or 5432)
    await proxy.start()
    async with FakeLine() as line, FakeTelegram() as tg:
        env = base_env(proxy.url(pg_url), tmp, line, tg)
        env["TIPBOT_OUTBOX_LEASE"] = "PT8S"  # a killed process's leased rows go out 8 s later
        env["TIPBOT_LOG_LEVEL"] = "WARNING"
        servers = [Proc("serve", env, tmp / f"serve{n}.log") for n in range(plan.servers)]
        workers = [Proc("worker", env, tmp / f"worker{n}.log") for n in range(plan.workers)]
        run = Run(line, tg, servers, random.Random(8))
        try:
            await asyncio.gather(*(s.start() for s in servers), *(w.start() for w in workers))

            # staff: a LINE group for the first region, Telegram groups for the second and central
            staff_line = line.user().in_group()
            staff_tg = tg.user().in_group(-1001000000001, "ปปท. เขต")
            central_tg = tg.user().in_group(-1001000000002, "ปปท. ส่วนกลาง")
            staff = {
                region_of[PROVINCES[0]]: ("line", staff_line.chat_id),
                region_of[PROVINCES[1]]: ("telegram", str(staff_tg.chat_id)),
                "central": ("telegram", str(central_tg.chat_id)),
            }
            code = await _invite(store, str(region_of[PROVINCES[0]]))
            await run.deliver(
                lambda url, r: line.deliver(url + "/webhooks/line", staff_line.text(f"/join {code}")), []
            )
            for member, region in ((staff_tg, region_of[PROVINCES[1]]), (central_tg, "central")):
                code = await _invite(store, str(region))
                update = member.says(f"/join {code}")
                await run.deliver(
                    lambda url, r, up=update: tg.post_update(up, url + "/webhooks/telegram", TG_SECRET), []
                )
            await _wait_quiet(store, 60)

            people: list[tuple[LineVolunteer | TelegramVolunteer, str]] = []
            for n in range(plan.line_volunteers):
                people.append((LineVolunteer(run, line.user()), PROVINCES[n % 3]))
            for n in range(plan.telegram_volunteers):
                people.append((TelegramVolunteer(run, tg.user(username=None)), PROVINCES[(n + 1) % 3]))
            total_steps = len(people) * len(script(PROVINCES[0]))
            report: list[str] = []
            chaos = asyncio.create_task(faults(run, proxy, total_steps, servers[-1], report))
            orders = await asyncio.gather(*(volunteer(p, prov, plan.step_timeout) for p, prov in people))
            await chaos
            assert len(report) == 4, report
            await _wait_quiet(store, 120)

            await check(store, run, people, orders, staff, region_of)
        finally:
            await stop_all([*servers, *workers])
            await proxy.stop()
        for p in [*servers, *workers]:
            assert p.proc is not None and p.proc.returncode == 0, p.output()[-3000:]
            assert "Traceback" not in p.output(), p.output()[-3000:]


async def check(
    store: SqlStore,
    run: Run,
    people: list[tuple[LineVolunteer | TelegramVolunteer, str]],
    orders: list[list[int]],
    staff: dict[str | None, tuple[str, str]],
    region_of: dict[str, str | None],
) -> None:
    async with store.transaction() as uow:
        s = uow.session
        inbox = {(r.channel, r.event_id): r.status for r in (await s.execute(select(t.InboxRow))).scalars()}
        tips = (await s.execute(select(t.Tip))).scalars().all()
        outbox = (await s.execute(select(t.OutboxRow))).scalars().all()
        chats = {c.id: c for c in (await s.execute(select(t.StaffChat))).scalars()}

    # every acknowledged event is stored and final (no pending, no failures)
    missing = run.acked - set(inbox)
    assert not missing, f"{len(missing)} acknowledged events are not in the inbox"
    states = Counter(inbox[k] for k in run.acked)
    assert set(states) <= {"done", "ignored"}, states

    # one tip per completed report, each volunteer told its case code
    assert len(tips) == len(people)
    assert len({tip.case_code for tip in tips}) == len(people)
    for who, _ in people:
        assert any(CODE in m.text for m in who.messages())

    # every conversation saw its prompts in script order: it never went back a step
    for steps in orders:
        assert steps == sorted(steps), steps

    # alerts: one per tip, to its region's staff chat (central when the region has none)
    alerts = [o for o in outbox if o.kind == "alert" and o.tip_id is not None]
    by_tip = Counter(o.tip_id for o in alerts)
    assert set(by_tip.values()) == {1} and len(by_tip) == len(tips)
    region_by_tip = {tip.id: tip.region for tip in tips}
    for o in alerts:
        chat = chats[o.staff_chat_id]
        want = region_by_tip[o.tip_id]
        assert chat.region == (want if want in staff else "central"), (chat.region, want)
    for region, (channel, chat_id) in staff.items():
        codes = {
            tip.case_code for tip in tips if (tip.region if tip.region in staff else "central") == region
        }
        texts = run.line.texts(chat_id) if channel == "line" else run.tg.texts_to(chat_id)
        got = {c for c in codes if any(c in x for x in texts)}
        assert got == codes, f"region {region}: {len(codes - got)} alerts missing"
        foreign = {tip.case_code for tip in tips} - codes
        assert not any(c in x for x in texts for c in foreign), f"region {region} got another region's alert"

    # nothing sent twice unless its row is recorded as a possible duplicate
    assert all(o.status == "sent" for o in outbox), Counter(o.status for o in outbox)
    flagged = Counter((o.channel, o.address_enc) for o in outbox if o.possible_duplicate)
    for who, _ in people:
        channel = "line" if isinstance(who, LineVolunteer) else "telegram"
        counts = Counter(m.text for m in who.messages())
        repeated = sum(n - 1 for n in counts.values() if n > 1)
        assert repeated <= 5 * flagged[(channel, who.chat)], (
            channel,
            [x[:60] for x, n in counts.items() if n > 1],
            [m.text[:40] for m in who.messages()],
        )
    print(
        f"\nload: {len(people)} reports, {run.sent} webhook posts ({run.refused} refused and redelivered,"
        f" {run.redelivered} duplicates), {len(run.acked)} events, states {dict(states)},"
        f" possible duplicates recorded {sum(flagged.values())}"
    )


@pytest.mark.slow
async def test_load_with_a_kill_a_database_restart_and_platform_storms(
    store: SqlStore, pg_url: str, tmp_path: Path
) -> None:
    await load_and_faults(SHORT, store, pg_url, tmp_path)


@pytest.mark.soak
async def test_soak_four_servers(store: SqlStore, pg_url: str, tmp_path: Path) -> None:
    await load_and_faults(SOAK, store, pg_url, tmp_path)
