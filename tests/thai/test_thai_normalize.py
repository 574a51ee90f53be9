"""Normalisation: Unicode order, digits, repeats, keyboard slips, guarded spelling correction."""

from __future__ import annotations

import pytest

from bot.thai import normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("เเละ", "และ"),
        ("ทํา", "ทำ"),
        ("งบ ๒,๕๐๐,๐๐๐ บาท", "งบ 2,500,000 บาท"),
        ("จ่ายยยยยย", "จ่าย"),
        ("ค่ะะะะ", "ค่ะ"),
        ("เรียก\u200bเงิน", "เรียกเงิน"),
        ("  หลาย   ช่องว่าง \n บรรทัด ", "หลาย ช่องว่าง บรรทัด"),
        ("m60ib9", "ทุจริต"),
        ("g'bo.9hF9Ut", "เงินใต้โต๊ะ"),
        ("lbo[o", "สินบน"),
        ("F8ik=", "โคราช"),
        ("Vyh;xit,^]", "ฮั้วประมูล"),
        ("ทุจรติ", "ทุจริต"),
        ("สินบล", "สินบน"),
        ("งบประมาน", "งบประมาณ"),
    ],
)
def test_normalize_fixes(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "kept",
    [
        "hello",
        "line",
        "ok",
        "cat",
        "test.com",
        "Pattaya",
        "1000000",
        "กทม",
        "อบต",
        "ผญบ",
        "จนท",
        "หัวคิว",
        "ค่าหัวคิว",
        "เมื่อวันจันทร์ที่แล้ว",
        "เงินทอง",
    ],
)
def test_normalize_leaves_alone(kept: str) -> None:
    assert normalize(kept) == kept


def test_digits_are_never_collapsed() -> None:
    assert normalize("5000000 บาท") == "5000000 บาท"


def test_number_word_is_not_swallowed_by_a_correction() -> None:
    assert normalize("เรียกเงินหกหมื่น") == "เรียกเงินหกหมื่น"
