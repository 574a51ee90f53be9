"""`/join` guessing: the failure count lives in the database (two processes share it), every
failure and the lock-out are logged by channel and chat pseudonym, never with the code or chat id.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import datetime, timedelta

import pytest

from bot.app import Services, build_services
from bot.cli.main import new_invite_code
from bot.core.joinguard import (
    JOIN_LOCKOUT,
    JOIN_MAX_FAILURES,
    join_failed,
    join_guard_live,
    join_locked_until,
)
from bot.core.state import JoinGuard
from bot.settings import Settings
from tests.drivers import RecordingConsole
from tests.harness import FakeClock

CHAT = "chat-5550123-guesser"
WRONG = [f"JOIN-GUESS-{n:05d}" for n in range(JOIN_MAX_FAILURES + 1)]


@pytest.fixture
async def two_processes(settings: Settings) -> AsyncIterator[tuple[Services, Services, FakeClock]]:
    """Two app instances on one database, each with its own dispatcher and terminal channel."""
    clock = FakeClock()
    async with AsyncExitStack() as stack:
        pair = []
        for _ in range(2):
            services = await build_services(
                settings, channels=[RecordingConsole()], with_webchat=False, migrate=True, clock=clock
            )
            stack.push_async_callback(services.close)
            pair.append(services)
        yield pair[0], pair[1], clock


def console_of(services: Services) -> RecordingConsole:
    console = services.channels["console"]
    assert isinstance(console, RecordingConsole)
    return console


async def say(services: Services, chat: str, line: str) -> str:
    """Send a line through this process and return what it answered."""
    console = console_of(services)
    seen = len(console.log.get(chat, []))
    await services.ingest([console.event(chat, line)])
    await services.settle()
    return "\n".join(m.text for m in console.log.get(chat, [])[seen:])


async def invite(services: Services, clock: FakeClock, region: str) -> str:
    code = new_invite_code()
    async with services.store.transaction() as uow:
        await uow.staff.create_invite(code, region, "staff", clock() + timedelta(days=1), clock())
    return code


async def test_the_count_is_shared_by_processes_and_logged_without_the_code(
    two_processes: tuple[Services, Services, FakeClock], caplog: pytest.LogCaptureFixture
) -> None:
    first, second, clock = two_processes
    caplog.set_level(logging.INFO)
    answers = []
    for n, code in enumerate(WRONG):
        # alternate processes: neither alone has seen five failures
        answers.append(await say(first if n % 2 == 0 else second, CHAT, f"/join {code}"))
    assert all("รหัสเชิญไม่ถูกต้อง" in a for a in answers[:JOIN_MAX_FAILURES])
    assert "ใส่รหัสเชิญผิดหลายครั้งเกินไป" in answers[JOIN_MAX_FAILURES - 1]
    assert "ใช้ /join ไม่ได้ชั่วคราว" in answers[-1]

    right = await invite(first, clock, "3")
    refused = await say(second, CHAT, f"/join {right}")
    assert "ใช้ /join ไม่ได้ชั่วคราว" in refused and "ลงทะเบียน" not in refused

    # another chat is not affected, through either process
    other = await say(first, "chat-other-staff", f"/join {await invite(first, clock, '4')}")
    assert "ลงทะเบียนแชตนี้เป็นเจ้าหน้าที่ของ ปปท.เขต 4 แล้ว" in other

    staff_logs = [r.getMessage() for r in caplog.records if r.name == "tipbot.staff"]
    assert sum("join failed on console chat #" in m for m in staff_logs) == JOIN_MAX_FAILURES
    assert sum("join locked out on console chat #" in m for m in staff_logs) == 1
    everything = "\n".join(r.getMessage() for r in caplog.records)
    for secret in [*WRONG, right, CHAT]:
        assert secret not in everything

    clock.offset += JOIN_LOCKOUT + timedelta(minutes=1)
    joined = await say(second, CHAT, f"/join {right}")
    assert "ลงทะเบียนแชตนี้เป็นเจ้าหน้าที่ของ ปปท.เขต 3 แล้ว" in joined


def test_the_guard_counts_failures_in_a_window_and_locks_for_a_while() -> None:
    start = datetime(2030, 1, 7, 2, 0).astimezone()
    guard: JoinGuard | None = None
    # failures spread wider than the window never lock
    for n in range(JOIN_MAX_FAILURES * 2):
        guard, locked_now = join_failed(guard, start + timedelta(minutes=3 * n))
        assert not locked_now
    assert join_locked_until(guard, start + timedelta(hours=1)) is None
    now = start + timedelta(hours=2)
    locked = []
    for n in range(JOIN_MAX_FAILURES):
        guard, locked_now = join_failed(guard, now + timedelta(seconds=n))
        locked.append(locked_now)
    assert locked == [False] * (JOIN_MAX_FAILURES - 1) + [True]
    until = join_locked_until(guard, now)
    assert until is not None and until - now >= JOIN_LOCKOUT
    assert join_guard_live(guard, until - timedelta(seconds=1))
    assert join_locked_until(guard, until) is None
    assert not join_guard_live(guard, until + timedelta(seconds=1))
