"""A case desk to test against: the real app (web chat as the staff chats' and the volunteer's
channel), staff of regions 3 and 5, a Surin tip (region 3) with a photo carrying GPS, and sign-in
links asked for with `/desk` in a staff chat."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from bot.core.evidence import inspect
from bot.settings import Settings
from tests.drivers import WebChatDriver, webchat_driver
from tests.harness import FakeClock, Runner, evidence_jpeg

LINK = re.compile(r"(https?://\S+/desk/in/([A-Za-z0-9_-]+))")

REPORT = """
staff3> /join {invite:3}
staff3< ปปท.เขต 3
staff5> /join {invite:5}
staff5< ปปท.เขต 5
> สวัสดี
> [ยินยอม]
> [ข้าม]
> [แจ้งเบาะแส]
> [เรียกรับสินบน]
> มีการเรียกเงินใต้โต๊ะเพื่อเร่งออกโฉนด ไม่มีใบเสร็จ
< หน่วยงาน
> สำนักงานที่ดิน
> [ข้าม]
< จังหวัดไหน
> สุรินทร์
> [ข้าม]
> [ข้าม]
> [ไม่มีหลักฐาน]
> [ถามทางแชตได้]
> [ไม่ต้องโทร]
> [ยืนยันส่ง]
< รหัสเรื่องของคุณคือ
staff3< 📣 เรื่องใหม่
"""


SECOND = """
second> สวัสดี
second> [ยินยอม]
second> [ข้าม]
second> [แจ้งเบาะแส]
second> [เรียกรับสินบน]
second> มีการเรียกเงินใต้โต๊ะเพื่อเร่งออกโฉนดให้ ไม่มีใบเสร็จเหมือนกัน
second< หน่วยงาน
second> สำนักงานที่ดิน
second> [ข้าม]
second< จังหวัดไหน
second> สุรินทร์
second> [ข้าม]
second> [ข้าม]
second> [ไม่มีหลักฐาน]
second> [ไม่ต้องติดต่อ]
second> [ยืนยันส่ง]
second< รหัสเรื่องของคุณคือ
"""


@dataclass
class Desk:
    driver: WebChatDriver
    runner: Runner
    clock: FakeClock
    code: str

    @property
    def client(self):  # type: ignore[no-untyped-def]
        return self.driver.client

    async def link(self, actor: str, command: str = "/desk") -> str:
        """Ask for a sign-in link in a staff chat; returns the link's path."""
        before = len(self.driver.received(actor))
        await self.driver.say(actor, command)
        await self.runner.settle()
        for msg in self.driver.received(actor)[before:]:
            m = LINK.search(msg.text)
            if m:
                return "/desk/in/" + m.group(2)
        raise AssertionError(f"no sign-in link for {actor}: {self.driver.received(actor)[before:]}")

    async def second_report(self) -> str:
        """Another volunteer reports much the same in the same province: a likely duplicate."""
        for line in SECOND.strip().splitlines():
            await self.runner.step(line.strip())
        code = self.runner.codes.get("second")
        assert code and code != self.code
        return code

    async def attach_photo(self) -> str:
        """A photo with GPS in its EXIF, stored and linked to the tip as intake would."""
        services = self.driver.services
        data = evidence_jpeg("desk-photo")
        media = services.dispatcher.media
        assert media is not None
        name = media.put(data)
        ev = inspect(data)
        async with services.store.transaction() as uow:
            tip = await uow.tips.get(self.code)
            assert tip is not None
            aid = await uow.attachments.add(
                contact_id=tip.contact_id,
                message_ref="photo-1",
                kind=ev.kind,
                mime=ev.mime,
                size=ev.size,
                sha256=ev.sha256,
                storage_name=name,
                file_name=None,
                now=datetime.now(UTC),
            )
            await uow.attachments.link([aid], tip.id)
        return hashlib.sha256(data).hexdigest()


@asynccontextmanager
async def desk_env(settings: Settings, tmp: Path) -> AsyncIterator[Desk]:
    clock = FakeClock()
    settings = settings.model_copy(update={"evidence_workers": 0})
    async with webchat_driver(settings, clock, tmp) as driver:
        # The Thai dictionaries load on first use (`tipbot serve` warms them at start); loaded
        # here, a busy machine does not push the first answer past the harness's wait.
        understanding = driver.services.dispatcher.understanding
        await asyncio.to_thread(understanding.extract, "เรียกเงิน จ.สุรินทร์ 500 บาท", date.today())
        runner = Runner(driver, clock)
        for line in REPORT.strip().splitlines():
            await runner.step(line.strip())
        code = runner.codes.get("volunteer")
        assert code, runner.codes
        yield Desk(driver, runner, clock, code)
