"""The terminal chat shows what arrives for it while it waits for input (alerts, /ask questions)."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bot.app import build_services, run_console
from bot.cli.main import new_invite_code
from bot.core.model import OutboxItem, Reply
from bot.settings import Settings
from tests.drivers import RecordingConsole


class _Watched(io.TextIOBase):
    """stdin that counts the reads begun: once the second one starts, the chat is idle, waiting."""

    def __init__(self, inner: io.TextIOBase) -> None:
        self.inner = inner
        self.reads = 0

    def isatty(self) -> bool:
        return False

    def readline(self, size: int = -1, /) -> str:
        self.reads += 1
        return self.inner.readline(size)


async def _until(check: Callable[[], bool], seconds: float = 30.0) -> None:
    # output goes to a StringIO and reads to a thread: there is no event to await, so look often
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not seen in time")


async def test_a_message_queued_by_another_process_is_shown_while_waiting(settings: Settings) -> None:
    other = await build_services(settings, channels=[RecordingConsole()], with_webchat=False, migrate=True)
    code = new_invite_code()
    now = datetime.now(UTC)
    async with other.store.transaction() as uow:
        await uow.staff.create_invite(code, "3", "staff", now + timedelta(days=1), now)
    rfd, wfd = os.pipe()
    pipe, typed = os.fdopen(rfd, "r", encoding="utf-8"), os.fdopen(wfd, "w", encoding="utf-8")
    stdin = _Watched(pipe)
    out = io.StringIO()
    chat = asyncio.create_task(run_console(settings, "staff3", stdin, out, poll=0.1))
    try:
        typed.write(f"/join {code}\n")
        typed.flush()
        await _until(lambda: "ปปท.เขต 3" in out.getvalue())
        # the join is answered and the chat waits for the next line: only the poller can show more
        await _until(lambda: stdin.reads >= 2)
        assert "คำตอบจากผู้แจ้ง" not in out.getvalue()
        # another process queues a message for this chat; nothing more is typed
        item = OutboxItem.of(
            "console",
            "staff3",
            "th",
            [Reply("staff.answer", {"case_code": "TB-ACDE-FGHJ", "answer": "มีใบเสร็จค่ะ"})],
            kind="alert",
            key="arrival-1",
        )
        async with other.store.transaction() as uow:
            await uow.outbox.add(item, datetime.now(UTC))
        await _until(lambda: "มีใบเสร็จค่ะ" in out.getvalue())
        assert "คำตอบจากผู้แจ้งเรื่อง TB-ACDE-FGHJ" in out.getvalue()
    finally:
        typed.close()
        await asyncio.wait_for(chat, 30)
        pipe.close()
        await other.close()


async def test_an_over_long_line_is_refused_whole_not_cut(settings: Settings) -> None:
    limit = settings.max_text_chars
    out = io.StringIO()
    await run_console(settings, "longwinded", io.StringIO("ก" * (limit + 1) + "\nสวัสดี\n"), out, poll=0.1)
    assert f"! message too long ({limit + 1} characters, at most {limit})" in out.getvalue()
    services = await build_services(settings, channels=[RecordingConsole()], with_webchat=False)
    try:
        async with services.store.transaction() as uow:
            stored = await uow.session.execute(text("select count(*) from inbox"))
            assert stored.scalar_one() == 2  # "/start" and "สวัสดี"; the long line never went in
    finally:
        await services.close()
