"""A new field is a declaration: a copy of the report form with one more question (a choice with a
follow-up) runs on every channel, and nothing of the walker, the engine or any adapter changes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.core.catalog import ref
from bot.core.engine import Engine
from bot.core.forms import Field, Form, Kind, Option
from bot.core.forms.report import REPORT
from bot.settings import Settings
from tests.drivers import DRIVERS
from tests.harness import FakeClock, Runner


def _witness_shown(value: Any, draft: Any, reading: Any) -> Any:
    if value == "yes" and draft.get("witness_who"):
        return ref("test.witness.yes_who", who=draft["witness_who"])
    return None


WITNESS = Field(
    id="witness",
    kind=Kind.CHOICE,
    ask="test.witness.ask",
    label="test.witness.label",
    options=(Option("yes", "test.witness.yes"), Option("no", "test.witness.no")),
    show=_witness_shown,
    when="yes",
    follow_up=Field(id="witness_who", kind=Kind.TEXT, ask="test.witness.who", min_length=3, max_length=200),
)
#: the report form with the witness question just before "may we contact you"
FORM = Form(
    id=REPORT.id, fields=(*REPORT.fields[:-1], WITNESS, REPORT.fields[-1]), to_record=REPORT.to_record
)
MESSAGES = {
    "th": {
        "test.witness.ask": "มีพยานเห็นเหตุการณ์ไหม",
        "test.witness.label": "พยาน",
        "test.witness.yes": "มีพยาน",
        "test.witness.no": "ไม่มีพยาน",
        "test.witness.who": "พยานเป็นใคร (ไม่ต้องบอกชื่อจริงก็ได้)",
        "test.witness.yes_who": "มีพยาน: {who}",
    },
    "en": {
        "test.witness.ask": "Did anyone witness it?",
        "test.witness.label": "Witness",
        "test.witness.yes": "Yes, a witness",
        "test.witness.no": "No witness",
        "test.witness.who": "Who is the witness? (no real name needed)",
        "test.witness.yes_who": "Witness: {who}",
    },
}

SCRIPT = """
> สวัสดีครับ
> [ยินยอม]
> [ข้าม]
> [แจ้งเบาะแส]
< ประเภทไหน
> [เรียกรับสินบน]
< เล่าสิ่งที่เกิดขึ้น
> เจ้าหน้าที่เรียกเงินค่าดำเนินการออกใบอนุญาต ถ้าไม่จ่ายจะไม่ออกให้
< เกิดที่หน่วยงานไหน
> เทศบาลตำบลกังแอน
< ถูกต้องไหม
> [ใช่]
< จังหวัดไหน
> อ.ปราสาท จ.สุรินทร์
< เมื่อไร
> [ข้าม]
< เงินเกี่ยวข้องเท่าไร
> [ข้าม]
< มีหลักฐานไหม
> [ไม่มีหลักฐาน]
< มีพยานเห็นเหตุการณ์ไหม
> [มีพยาน]
< พยานเป็นใคร
> ย้อนกลับ
< มีพยานเห็นเหตุการณ์ไหม
> 1
< พยานเป็นใคร
> ลูกจ้างร้านข้างเทศบาล
< ให้ถามคุณผ่านแชตนี้ได้ไหม
> [ไม่ต้องติดต่อ]
< ตรวจสอบข้อมูลก่อนส่ง
< พยาน: มีพยาน: ลูกจ้างร้านข้างเทศบาล
> [ยืนยันส่ง]
< รหัสเรื่องของคุณคือ TB-
= tips 1
= tip region 3
"""


@pytest.mark.parametrize("channel", sorted(DRIVERS))
async def test_a_new_field_walks_on_every_channel(channel: str, settings: Settings, tmp_path: Path) -> None:
    script = tmp_path / "witness.chat"
    script.write_text(SCRIPT, "utf-8")
    clock = FakeClock()
    async with DRIVERS[channel](settings, clock, tmp_path) as driver:
        services = driver.services
        for locale, messages in MESSAGES.items():
            services.catalog.messages[locale].update(messages)
        services.dispatcher.engine = Engine(FORM)
        await Runner(driver, clock).run(script)


def test_the_copy_leaves_the_report_form_alone() -> None:
    assert REPORT.get("witness") is None and FORM.get("witness") is WITNESS
    assert replace(FORM, fields=REPORT.fields).fields == REPORT.fields
