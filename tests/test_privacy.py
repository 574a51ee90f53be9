"""A reporter's identity never reaches staff: not in alerts, details, answers, exports or logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.settings import Settings
from storage import tables as t
from storage.reports import export_tips
from tests.drivers import console_driver
from tests.harness import FakeClock, Runner

NAME = "นางสาวพิมพ์ชนก ทดสอบลับ"
PHONE = "089-431-7766"
CHAT = "reporter7f3a9c"

SCRIPT = f"""
{CHAT}> สวัสดี
{CHAT}> [ยินยอม]
{CHAT}> [ข้าม]
staff3> /join {{invite:3}}
{CHAT}> [แจ้งเบาะแส]
{CHAT}> [เรียกรับสินบน]
{CHAT}> ครูใหญ่เรียกเงินแป๊ะเจี๊ยะห้าหมื่นบาทจากผู้ปกครองเพื่อแลกกับที่นั่งเรียน
{CHAT}< หน่วยงาน
{CHAT}> ข้าม
{CHAT}> ข้าม
{CHAT}< จังหวัดไหน
{CHAT}> สุรินทร์
{CHAT}> [ข้าม]
{CHAT}> [ใช่]
{CHAT}> [ไม่มีหลักฐาน]
{CHAT}> [ถามทางแชตได้]
{CHAT}> {NAME} โทร {PHONE}
{CHAT}> [ยืนยันส่ง]
staff3< 📣 เรื่องใหม่
staff3> [ดูรายละเอียด]
staff3> /ask {{code}} ช่วยเล่าเพิ่มได้ไหม
{CHAT}> ได้ค่ะ เกิดขึ้นทุกปี
staff3< คำตอบจากผู้แจ้ง
staff3> /tips
"""


@pytest.mark.parametrize("detail", ["minimal", "summary", "full"])
async def test_identity_never_reaches_staff(
    detail: str, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = settings.model_copy(update={"alert_detail": detail})
    clock = FakeClock()
    async with console_driver(settings, clock, tmp_path) as driver:
        runner = Runner(driver, clock)
        for line in SCRIPT.strip().splitlines():
            await runner.step(line.strip())
        runner._collect_codes(CHAT)
        code = runner.codes[CHAT]
        async with driver.services.store.transaction() as uow:
            rows = (
                (await uow.session.execute(select(t.OutboxRow).where(t.OutboxRow.kind == "alert")))
                .scalars()
                .all()
            )
            staff_ids = {r.chat_hash for r in rows}
            staff_rows = (
                (await uow.session.execute(select(t.OutboxRow).where(t.OutboxRow.chat_hash.in_(staff_ids))))
                .scalars()
                .all()
            )
        assert len(staff_rows) >= 5
        staff_text = "\n".join(m.text for m in driver.received("staff3"))
        payloads = "\n".join(str(r.payload) for r in staff_rows)
        exported = str([row async for row in export_tips(driver.services.store)])
        alerts = "\n".join(str(r.payload) for r in rows)
        for secret in (NAME, PHONE, CHAT):
            assert secret not in exported, secret
            assert secret not in caplog.text, secret
            assert secret not in alerts, secret  # alerts go to every chat of the region: never
        assert CHAT not in payloads and CHAT not in staff_text
        assert code in staff_text
        # The reporter agreed to be phoned and typed how: the details show it at every detail
        # level (hiding it would leave them unreachable), and say so to the reporter too.
        assert PHONE in staff_text
