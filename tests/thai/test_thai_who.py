"""Who: agency and official position spans in free text."""

from __future__ import annotations

from datetime import date

import pytest

from bot.thai import extract

TODAY = date(2025, 6, 15)


@pytest.mark.parametrize(
    ("text", "agency", "official"),
    [
        ("นายก อบต.หนองบัว เรียกเงิน", "อบต.หนองบัว", "นายก อบต."),
        ("ปลัดอบต.ฮั้วประมูลถนน", "อบต.", "ปลัด อบต."),
        ("สำนักงานที่ดินจังหวัดสุรินทร์ เรียกค่าเดินเรื่อง", "สำนักงานที่ดินจังหวัดสุรินทร์", None),
        ("ผอ.โรงเรียนบ้านหนองบัว โกงอาหารกลางวัน", "โรงเรียนบ้านหนองบัว", "ผอ.โรงเรียน"),
        ("สภ.เมือง เรียกเงิน", "สภ.เมือง", None),
        ("กำนันเก็บเงินชาวบ้าน", None, "กำนัน"),
        ("ผู้ใหญ่บ้านยักยอกเงิน", None, "ผู้ใหญ่บ้าน"),
        ("เทศบาลตำบลบ้านใหม่สร้างถนน", "เทศบาลตำบลบ้านใหม่", None),
        ("นครนายก ชาวบ้านเดือดร้อน", None, None),
        ("ตำรวจจราจรเรียกเงิน", None, "ตำรวจจราจร"),
        ("สวัสดีครับ", None, None),
    ],
)
def test_who(text: str, agency: str | None, official: str | None) -> None:
    found = extract(text, TODAY)
    assert found.agency == agency
    assert found.official == official
