"""Dates: Thai months, Buddhist-era years, relative days, vague periods, never the future."""

from __future__ import annotations

from datetime import date

import pytest

from bot.thai import extract, parse_date

TODAY = date(2025, 6, 15)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("วันนี้", (date(2025, 6, 15), None)),
        ("เมื่อวาน", (date(2025, 6, 14), None)),
        ("เมื่อวานนี้", (date(2025, 6, 14), None)),
        ("เมื่อวานซืน", (date(2025, 6, 13), None)),
        ("3 วันก่อน", (date(2025, 6, 12), None)),
        ("เมื่อ 3 วันก่อน", (date(2025, 6, 12), None)),
        ("สามวันก่อน", (date(2025, 6, 12), None)),
        ("24 พ.ค. 65", (date(2022, 5, 24), None)),
        ("24 พค 65", (date(2022, 5, 24), None)),
        ("24 พ.ค 2565", (date(2022, 5, 24), None)),
        ("๒๔ พฤษภาคม ๒๕๖๕", (date(2022, 5, 24), None)),
        ("วันที่ 1 มิถุนายน พ.ศ. 2568", (date(2025, 6, 1), None)),
        ("5/3/2568", (date(2025, 3, 5), None)),
        ("5/3/68", (date(2025, 3, 5), None)),
        ("05-03-2568", (date(2025, 3, 5), None)),
        ("1 ธ.ค.", (date(2024, 12, 1), None)),
        ("20 มิ.ย.", (date(2024, 6, 20), None)),
        ("เมื่อวันจันทร์ที่แล้ว", (date(2025, 6, 9), None)),
        ("ปีที่แล้ว", (None, "ปีที่แล้ว")),
        ("อาทิตย์ที่แล้ว", (None, "อาทิตย์ที่แล้ว")),
        ("สัปดาห์ที่แล้ว", (None, "สัปดาห์ที่แล้ว")),
        ("เดือนที่แล้ว", (None, "เดือนที่แล้ว")),
        ("ปี 2566", (None, "ปี 2566")),
        ("2566", (None, "2566")),
        ("มีนาคม 2568", (None, "มีนาคม 2568")),
        ("20 มิ.ย. 2568", None),
        ("31 ก.พ. 68", None),
        ("จำไม่ได้", None),
        ("ไม่แน่ใจครับ", None),
        ("5,000 บาท", None),
        ("หมู่ 4", None),
        ("", None),
    ],
)
def test_parse_date(answer: str, expected: tuple[date | None, str | None] | None) -> None:
    assert parse_date(answer, TODAY) == expected


def test_never_in_the_future() -> None:
    for text in ("พรุ่งนี้", "15 ธ.ค. 68", "31/12/2568", "วันที่ 30"):
        found = extract(text, TODAY)
        assert found.incident_date is None or found.incident_date <= TODAY


def test_vague_period_kept_as_text() -> None:
    found = extract("ปีที่แล้ว อบต.โกงงบถนน", TODAY)
    assert found.incident_date is None
    assert found.incident_date_text == "ปีที่แล้ว"


def test_amount_before_a_period_is_not_a_count() -> None:
    found = extract("เรียกค่าเดินเรื่อง 2 หมื่นห้า ปีที่แล้ว", TODAY)
    assert found.amount_thb == 25000
    assert found.incident_date_text == "ปีที่แล้ว"
