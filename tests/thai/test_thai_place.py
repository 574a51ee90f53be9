"""Province and district: official names, slang, typos, markers, gazetteer, and the false-hit traps."""

from __future__ import annotations

from datetime import date

import pytest

from bot.core.routing import RegionTable
from bot.thai import extract, parse_province

TODAY = date(2025, 6, 15)


@pytest.mark.parametrize(
    ("text", "province", "district"),
    [
        ("นายก อบต.หนองบัว จ.สุรินทร์ เรียกเงิน", "สุรินทร์", None),
        ("ที่โคราชครับ", "นครราชสีมา", None),
        ("อยู่อุบล", "อุบลราชธานี", None),
        ("จ.อุบล", "อุบลราชธานี", None),
        ("กทม.เขตบางกะปิ", "กรุงเทพมหานคร", "บางกะปิ"),
        ("เมืองคอน", "นครศรีธรรมราช", None),
        ("นนท์ค่ะ", "นนทบุรี", None),
        ("ปทุมฯ", "ปทุมธานี", None),
        ("สุพรรณ", "สุพรรณบุรี", None),
        ("อยุธยา", "พระนครศรีอยุธยา", None),
        ("สภ.หาดใหญ่", "สงขลา", "หาดใหญ่"),
        ("ศรีษะเกษ", "ศรีสะเกษ", None),
        ("สุราษฏร์ธานี", "สุราษฎร์ธานี", None),
        ("ประจวบ", "ประจวบคีรีขันธ์", None),
        ("กาญจนบุลี", "กาญจนบุรี", None),
        ("อ.เมือง จ.ยโสธร", "ยโสธร", "เมืองยโสธร"),
        ("อำเภอศีขรภูมิ", "สุรินทร์", "ศีขรภูมิ"),
        ("ปากช่อง", "นครราชสีมา", "ปากช่อง"),
        ("จังหวัดเลย", "เลย", None),
        ("อยู่ที่เลย ครับ", "เลย", None),
        ("I live in Chiang Mai", "เชียงใหม่", None),
        ("Korat police", "นครราชสีมา", None),
        ("ไปเที่ยวเชียงใหม่ แต่เรื่องเกิดที่ อ.หาดใหญ่ จ.สงขลา", "สงขลา", "หาดใหญ่"),
    ],
)
def test_place_in_free_text(text: str, province: str, district: str | None, regions: RegionTable) -> None:
    found = extract(text, TODAY, regions)
    assert (found.province, found.district) == (province, district)
    assert found.region == regions.region_of(province)


@pytest.mark.parametrize(
    "text",
    [
        "ดื่มนมทุกวัน",
        "ตร.จับแล้วปล่อย",
        "อบต.เรียกเงิน",
        "ไม่ได้อะไรเลย",
        "เลยต้องแจ้งมาที่นี่ ไม่มีใครสนใจเลย",
        "ตากผ้าไว้หน้าบ้าน",
        "ข่าวลือแพร่ไปทั่ว",
        "บ้านหนองบัว หมู่ 7",
        "อบต.หนองบัว เก็บเงิน",
        "นายสุรินทร์ เป็นคนดี",
        "สวัสดีครับ",
        "เมื่อวันจันทร์ที่แล้ว",
    ],
)
def test_no_false_place(text: str, regions: RegionTable) -> None:
    found = extract(text, TODAY, regions)
    assert found.province is None
    assert found.region is None


def test_ambiguous_district_without_province_guesses_none(regions: RegionTable) -> None:
    found = extract("อ.เฉลิมพระเกียรติ ผู้ใหญ่บ้านโกงเงิน", TODAY, regions)
    assert found.district == "เฉลิมพระเกียรติ"
    assert found.province is None


def test_ambiguous_district_resolved_by_province(regions: RegionTable) -> None:
    found = extract("อ.เฉลิมพระเกียรติ จ.น่าน", TODAY, regions)
    assert (found.province, found.district) == ("น่าน", "เฉลิมพระเกียรติ")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("นม", ("นครราชสีมา", None)),
        ("กบ.", ("กระบี่", None)),
        ("โคราช", ("นครราชสีมา", None)),
        ("กทม.", ("กรุงเทพมหานคร", None)),
        ("จ.อุบล", ("อุบลราชธานี", None)),
        ("Korat", ("นครราชสีมา", None)),
        ("chiang mai", ("เชียงใหม่", None)),
        ("หาดใหญ่ครับ", ("สงขลา", "หาดใหญ่")),
        ("เลย", ("เลย", None)),
        ("ตาก", ("ตาก", None)),
        ("อ.เมือง จ.สุรินทร์", ("สุรินทร์", "เมืองสุรินทร์")),
        ("สุรินทร", ("สุรินทร์", None)),
        ("ศรีสะเกด", ("ศรีสะเกษ", None)),
        ("๑ ไม่ใช่จังหวัด", None),
        ("ไม่ทราบ", None),
        ("", None),
    ],
)
def test_parse_province(answer: str, expected: tuple[str, str | None] | None, regions: RegionTable) -> None:
    assert parse_province(answer, regions) == expected


def test_region_of_every_province(regions: RegionTable) -> None:
    for p in regions.provinces:
        assert parse_province(p.name_th, regions) == (p.name_th, None)
        assert extract(f"เรื่องเกิดที่ จ.{p.name_th}", TODAY, regions).region == p.region
