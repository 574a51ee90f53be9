"""LINE unsend: the withdrawn message leaves the submitted tip too (narrative or contact details)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.settings import Settings
from storage import tables as t
from tests.drivers_line import line_driver
from tests.harness import FakeClock, Runner

STORY = "มีการเรียกเก็บเงินค่าธรรมเนียมเกินกว่าที่ระเบียบกำหนด ที่ว่าการอำเภอ"


async def test_unsending_the_story_after_submitting_redacts_it(settings: Settings, tmp_path: Path) -> None:
    clock = FakeClock()
    async with line_driver(settings, clock, tmp_path) as bot:
        runner = Runner(bot, clock)
        for line in ("> สวัสดี", "> [ยินยอม]", "> [ข้าม]", "> [แจ้งเบาะแส]", "> [เรียกรับสินบน]"):
            await runner.step(line)
        user = bot.user("volunteer")
        story = user.text(STORY)
        await bot._send(story)
        await bot.services.settle()
        await runner.step("< หน่วยงาน")
        while "ตรวจสอบข้อมูลก่อนส่ง" not in bot.received("volunteer")[-1].text:
            labels = [b for b, _ in bot.received("volunteer")[-1].buttons]
            if "ส่งโลเคชัน" in labels:
                await runner.step("> อุดรธานี")
                continue
            choices = [x for x in ("ข้าม", "ใช่", "ไม่มีหลักฐาน", "ไม่ต้องติดต่อ") if x in labels]
            assert choices, (bot.received("volunteer")[-1].text, labels)
            pick = choices[0]
            await runner.step(f"> [{pick}]")
        await runner.step("> [ยืนยันส่ง]")
        await runner.step("< รหัสเรื่องของคุณคือ")
        async with bot.services.store.transaction() as uow:
            tip = (await uow.session.execute(select(t.Tip))).scalar_one()
        assert tip.narrative_enc == STORY

        await bot._send(user.unsend(story["message"]["id"]))
        await bot.services.settle()
        await runner.step("< ลบข้อความที่ยกเลิกส่งออกจากเรื่อง")
        async with bot.services.store.transaction() as uow:
            tip = (await uow.session.execute(select(t.Tip))).scalar_one()
            events = (await uow.session.execute(select(t.TipEvent.action))).scalars().all()
        assert tip.narrative_enc == ""
        assert "redacted" in events
