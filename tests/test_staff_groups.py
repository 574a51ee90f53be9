"""Staff group lifecycle on the platforms: the bot added to a group hints how to join, and a group
the bot was removed from is deactivated (no more alerts; the tip goes to the central office)."""

from __future__ import annotations

from sqlalchemy import select

from bot.settings import Settings
from storage import tables as t
from tests.harness import FakeClock, Runner
from tests.test_cross_channel import mixed_driver

REPORT = """
> สวัสดี
> [ยินยอม]
> [ข้าม]
> [แจ้งเบาะแส]
> [ปลอมเอกสาร]
> มีการปลอมลายมือชื่อในใบเสร็จรับเงินค่าวัสดุ
< หน่วยงาน
> ข้าม
> ข้าม
< จังหวัดไหน
> อุบลราชธานี
> [ข้าม]
> [ข้าม]
> [ไม่มีหลักฐาน]
> [ไม่ต้องติดต่อ]
> [ยืนยันส่ง]
< รหัสเรื่องของคุณคือ
"""


async def staff_chats(driver: object) -> list[tuple[str, str, bool]]:
    services = driver.services  # type: ignore[attr-defined]
    async with services.store.transaction() as uow:
        rows = (await uow.session.execute(select(t.StaffChat).order_by(t.StaffChat.id))).scalars().all()
    return [(r.region, r.channel, r.active) for r in rows]


async def test_groups_the_bot_leaves_get_no_more_alerts(settings: Settings) -> None:
    clock = FakeClock()
    async with mixed_driver(settings, clock) as driver:
        runner = Runner(driver, clock)
        line_group = driver.line.user("staff3line")
        await driver.line._send(line_group.join())
        await driver.services.settle()
        await runner.step("staff3line< /join")  # the hint tells staff how to register the group
        tg_group = driver.telegram.user("staff3tg")
        await driver.telegram.send(
            driver.telegram.fake.user(first_name="admin").adds_bot_to_group(tg_group.chat_id)
        )
        await driver.services.settle()
        await runner.step("staff3tg< /join")
        await runner.step("central> /join {invite:central}")
        for actor in ("staff3line", "staff3tg"):
            await runner.step(f"{actor}> /join {{invite:3}}")
            await runner.step(f"{actor}< ปปท.เขต 3")
        assert await staff_chats(driver) == [
            ("central", "line", True),
            ("3", "line", True),
            ("3", "telegram", True),
        ]

        await driver.line._send(line_group.leave())
        await driver.telegram.send(
            driver.telegram.fake.user(first_name="admin").removes_bot_from_group(tg_group.chat_id)
        )
        await driver.services.settle()
        assert await staff_chats(driver) == [
            ("central", "line", True),
            ("3", "line", False),
            ("3", "telegram", False),
        ]

        for line in REPORT.strip().splitlines():
            await runner.step(line.strip())
        await runner.step("staff3line<! 📣")
        await runner.step("staff3tg<! 📣")
        await runner.step("central< 📣 เรื่องใหม่")
        await runner.step("central< ยังไม่มีแชตเจ้าหน้าที่")
