"""Pipeline behaviour beyond the transcripts: recovery, routing gaps, evidence, ordering."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from bot.core import evidence
from bot.settings import Settings
from storage import tables as t
from tests.drivers import ConsoleDriver, console_driver
from tests.harness import FakeClock, Runner, evidence_jpeg


@pytest.fixture
async def console(settings: Settings, tmp_path: Path) -> AsyncIterator[ConsoleDriver]:
    async with console_driver(settings, FakeClock(), tmp_path) as driver:
        yield driver


async def run(driver: ConsoleDriver, script: str) -> Runner:
    runner = Runner(driver, FakeClock())
    for line in script.strip().splitlines():
        if line.strip():
            await runner.step(line.strip())
    return runner


ONBOARD = """
> สวัสดี
> [ยินยอม]
> [ข้าม]
"""


async def test_a_corrupted_state_restarts_with_an_apology(console: ConsoleDriver) -> None:
    await run(console, ONBOARD + "> [แจ้งเบาะแส]")
    async with console.services.store.transaction() as uow:
        conv = (await uow.session.execute(select(t.Conversation))).scalar_one()
        conv.state = {"flow": "report", "step": "no-such-step", "stamp": "abcdef", "draft": 7}
    runner = await run(console, "> ข้อความอะไรก็ได้")
    runner.expect("volunteer", "ขออภัย ระบบขัดข้อง")
    async with console.services.store.transaction() as uow:
        failed = (
            (await uow.session.execute(select(t.InboxRow).where(t.InboxRow.status == "failed")))
            .scalars()
            .all()
        )
    assert len(failed) == 1 and failed[0].error
    await run(console, "> [แจ้งเบาะแส]\n< ประเภทไหน")


async def test_a_region_without_staff_goes_to_central_and_is_counted(console: ConsoleDriver) -> None:
    script = (
        ONBOARD
        + """
central> /join {invite:central}
central< ป.ป.ท. ส่วนกลาง
> [แจ้งเบาะแส]
> [ปลอมเอกสาร]
> มีการปลอมลายมือชื่อผู้รับเงินในใบสำคัญจ่าย
> ข้าม
> ข้าม
> ภูเก็ต
> ข้าม
> ข้าม
> [ไม่มีหลักฐาน]
> [ไม่ต้องติดต่อ]
> [ยืนยันส่ง]
central< 📣 เรื่องใหม่
central< ยังไม่มีแชตเจ้าหน้าที่
= tip region 8
"""
    )
    await run(console, script)
    async with console.services.store.transaction() as uow:
        gaps = (
            (await uow.session.execute(select(t.TipEvent).where(t.TipEvent.action == "routing_gap")))
            .scalars()
            .all()
        )
    assert [g.note for g in gaps] == ["8"]


async def test_no_staff_at_all_still_stores_the_tip(console: ConsoleDriver) -> None:
    script = (
        ONBOARD
        + """
> ผอ.โรงเรียนบ้านนาดีเรียกเงินแป๊ะเจี๊ยะสองหมื่นบาทจากผู้ปกครอง จ.อุดรธานี
> [ใช่]
> [ใช่]
> [ใช่]
> [ใช่]
"""
    )
    runner = await run(console, script)
    while "ตรวจสอบข้อมูลก่อนส่ง" not in console.received("volunteer")[-1].text:
        last = console.received("volunteer")[-1]
        labels = [b for b, _ in last.buttons]
        pick = next(x for x in ("ใช่", "ข้าม", "ไม่มีหลักฐาน", "ไม่ต้องติดต่อ") if x in labels)
        await runner.step(f"> [{pick}]")
    await runner.step("> [ยืนยันส่ง]")
    await runner.step("= tips 1")
    await runner.step("= alerts 0")
    async with console.services.store.transaction() as uow:
        gaps = (
            (await uow.session.execute(select(t.TipEvent).where(t.TipEvent.action == "routing_gap")))
            .scalars()
            .all()
        )
    assert len(gaps) == 1


async def test_evidence_is_stored_with_its_hash_and_sniffed_type(console: ConsoleDriver) -> None:
    script = (
        ONBOARD
        + """
> [แจ้งเบาะแส]
> [ยักยอก/โกงงบประมาณ]
> เอารถหลวงไปใช้ส่วนตัวทุกวันหยุด และเบิกค่าน้ำมันเต็มจำนวน
> ข้าม
> ข้าม
> น่าน
> ข้าม
> ข้าม
< มีหลักฐานไหม
> @image photo-1.jpg
< ได้รับหลักฐานแล้ว: 1 ชิ้น
> @image photo-2.jpg
< ได้รับหลักฐานแล้ว: 2 ชิ้น
> [เสร็จแล้ว]
> [ไม่ต้องติดต่อ]
< หลักฐาน: 2 ชิ้น
> [ยืนยันส่ง]
= tip attachments 2
"""
    )
    await run(console, script)
    async with console.services.store.transaction() as uow:
        rows = (await uow.session.execute(select(t.Attachment).order_by(t.Attachment.id))).scalars().all()
    expected = [hashlib.sha256(evidence_jpeg(n)).hexdigest() for n in ("photo-1.jpg", "photo-2.jpg")]
    assert [r.sha256 for r in rows] == expected
    assert {r.mime for r in rows} == {"image/jpeg"} and all(r.tip_id for r in rows)


def test_staff_copies_of_images_carry_no_exif() -> None:
    original = evidence_jpeg("gps")
    assert Image.open(io.BytesIO(original)).getexif()
    clean = evidence.scrub(original, "image/jpeg").data
    assert clean is not None and not Image.open(io.BytesIO(clean)).getexif()
    assert evidence.inspect(b"<html><script>x</script></html>").mime != "image/jpeg"
    assert evidence.inspect(original).mime == "image/jpeg"


async def test_events_of_one_chat_are_processed_in_arrival_order(console: ConsoleDriver) -> None:
    await run(console, ONBOARD + "> [แจ้งเบาะแส]\n> [ใช้อำนาจโดยมิชอบ]")
    events = [
        console.console.event("volunteer", "เจ้าหน้าที่ไม่ยอมรับคำร้อง และข่มขู่ผู้ร้องเรียน"),
        console.console.event("volunteer", "สภ.เมือง"),
        console.console.event("volunteer", "ข้าม"),
    ]
    await console.services.ingest(events)
    await console.services.settle()
    texts = [m.text for m in console.received("volunteer")[-4:]]
    assert any("ตำแหน่ง" in x for x in texts[-2:]) or any("จังหวัดไหน" in x for x in texts[-2:])
    async with console.services.store.transaction() as uow:
        conv = (await uow.session.execute(select(t.Conversation))).scalar_one()
    assert conv.state["draft"]["story"].startswith("เจ้าหน้าที่ไม่ยอมรับ")
