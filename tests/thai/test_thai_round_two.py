"""Round two of Thai understanding: landmarks, two places, names that hide a province, money that is not
money, named and English dates, dates ahead, the category of a paid permit, a region named directly."""

from __future__ import annotations

import csv
from datetime import date
from importlib import resources

import pytest

from bot.core.routing import RegionTable
from bot.thai import _resources, extract, future_date, parse_date

TODAY = date(2025, 11, 20)  # a Thursday


@pytest.mark.parametrize(
    ("text", "province", "district"),
    [
        ("บางแสนครับ ตำรวจเก็บส่วยร้านค้า", "ชลบุรี", "เมืองชลบุรี"),
        ("นิคมอมตะนคร มีการฮั้วประมูล", "ชลบุรี", None),
        ("เกาะเต่า ตำรวจเรียกเงินนักท่องเที่ยว", "สุราษฎร์ธานี", "เกาะพะงัน"),
        ("ด่านช่องเม็ก ศุลกากรเก็บเงิน", "อุบลราชธานี", "สิรินธร"),
        ("สนามบินสุวรรณภูมิ เจ้าหน้าที่รีดเงิน", "สมุทรปราการ", "บางพลี"),
        ("เมืองดอกบัว อบต.จัดซื้อแพง", "อุบลราชธานี", None),
        ("Koh Tao police asked for money", "สุราษฎร์ธานี", "เกาะพะงัน"),
        ("หมู่เกาะสุรินทร์ อุทยานเก็บเงิน", "พังงา", "คุระบุรี"),
        ("ไร่เลย์ เจ้าหน้าที่เก็บเงินเรือ", "กระบี่", "เมืองกระบี่"),
    ],
)
def test_landmarks_name_their_province(text: str, province: str, district: str | None) -> None:
    found = extract(text, TODAY)
    assert (found.province, found.district) == (province, district)


def test_landmarks_table_is_well_formed(regions: RegionTable) -> None:
    text = resources.files("bot.thai").joinpath("data/landmarks.csv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) >= 100
    index = _resources.district_index()
    kinds = {"landmark", "island", "industrial_estate", "border_checkpoint", "airport", "old_name"}
    kinds |= {"nickname"}
    kinds |= {"beach", "national_park", "street", "port"}
    for row in rows:
        assert row["source"].strip(), row
        assert row["kind"] in kinds, row
        assert regions.region_of(row["province"]) is not None, row
        if row["district"]:
            assert any(d.province == row["province"] for d in index.get(row["district"], ())), row
    assert len({r["name"] for r in rows}) == len(rows), "a name listed twice"


@pytest.mark.parametrize(
    ("text", "province"),
    [
        ("บ้านผมอยู่ลำปาง แต่เรื่องเกิดตอนไปทำงานที่เชียงราย ตำรวจเรียกเงิน", "เชียงราย"),
        ("สำนักงานใหญ่อยู่กรุงเทพ แต่โรงงานอยู่ที่ระยอง เจ้าหน้าที่มาเก็บเงิน", "ระยอง"),
        ("ผมเป็นคนอุดร แต่ตอนนี้ทำงานอยู่ภูเก็ต ตำรวจรีดไถ", "ภูเก็ต"),
        ("ไปเที่ยวเชียงใหม่ แต่เรื่องเกิดที่ อ.หาดใหญ่ จ.สงขลา", "สงขลา"),
    ],
)
def test_the_place_of_the_incident_wins(text: str, province: str) -> None:
    assert extract(text, TODAY).province == province


@pytest.mark.parametrize(
    "text",
    [
        "ตากผ้าไว้ เห็นรถหลวงขนของ",
        "เลยเวลาทำการแล้วยังเรียกเงิน",
        "แพร่ข่าวว่านายกโกงงบ",
        "ร้านเชียงใหม่การช่าง ได้งานทุกโครงการ",
        "ลูกชื่อน้องน่าน โดนครูเรียกเงิน",
        "นายสุรินทร์ ใจดี ปลัดเทศบาล เรียกเงิน",
    ],
)
def test_a_province_inside_a_word_or_a_name_is_no_place(text: str) -> None:
    found = extract(text, TODAY)
    assert (found.province, found.region) == (None, None)


def test_a_region_named_directly() -> None:
    found = extract("เคยร้องไปที่ ป.ป.ท. เขต 7 แล้ว แต่เรื่องเงียบ", TODAY)
    assert (found.province, found.region) == (None, "7")
    # a province still decides when there is one
    assert extract("เรื่องเกิดที่ชัยภูมิ ร้องไป ปปท.เขต 9 แล้ว", TODAY).region == "3"


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("ชาวบ้านต้องให้ทองคำ 2 สลึงกับปลัด", None),
        ("ให้สร้อยทองหนัก 1 บาท เป็นสินน้ำใจ", None),
        ("โทรสายด่วน 1111 แล้วไม่มีคนรับ", None),
        ("งบโครงการ 3 ลบ. แต่ทำไม่ถึงครึ่ง", 3_000_000),
        ("the contract was 2 million baht", 2_000_000),
        ("งบ 10 ล้าน นายกเรียกเงินทอน 15% เป็นเงิน 1.5 ล้าน", 1_500_000),
        ("โครงการ 4 ล้าน ผู้รับเหมาต้องจ่ายเงินทอน 4 แสนให้ปลัด", 400_000),
        ("เรียกเงินหลังละ 2,000 บาท", 2_000),
        ("ตำรวจเก็บเงินรถตู้คันละ 300 ทุกเดือน", 300),
        ("บางแสนครับ ตำรวจเก็บส่วย", None),
        ("ผู้รับเหมาทิ้งงาน งบ 8 ล้าน", 8_000_000),
    ],
)
def test_money(text: str, amount: int | None) -> None:
    assert extract(text, TODAY).amount_thb == amount


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("เมื่อวันพ่อ ปลัดเรียกเงิน", date(2024, 12, 5)),
        ("วันแม่ที่ผ่านมา นายกเอาเงินไปใช้", date(2025, 8, 12)),
        ("วันแม่ปีที่แล้ว นายกเอาเงินไปใช้", date(2024, 8, 12)),
        ("วันเด็กปีนี้ อบต.เบิกงบ", date(2025, 1, 11)),
        ("วันสงกรานต์ ตำรวจตั้งด่าน", date(2025, 4, 13)),
        ("The officer asked for a bribe on 3 November 2025", date(2025, 11, 3)),
        ("happened on Nov 5, police wanted 2000 baht", date(2025, 11, 5)),
        ("yesterday the land officer asked for money", date(2025, 11, 19)),
        ("it was last Friday at the district office", date(2025, 11, 14)),
        ("two days ago at the checkpoint", date(2025, 11, 18)),
        ("เรื่องเกิดเมื่อวันที่ 10 แต่เพิ่งรู้เมื่อวาน", date(2025, 11, 10)),
        ("สองสามวันก่อน ผอ.เรียกเงินครู", None),
        ("เพิ่งรู้เมื่อวานว่านายกโกงงบ", None),
        ("ได้ยินมาเมื่อวานว่ากำนันรับเงิน", None),
        ("เรื่องที่แจ้งไปเมื่อวันที่ 2 ต.ค. คืบหน้าไหม", None),
        ("last week the mayor took money", None),
    ],
)
def test_incident_dates(text: str, day: date | None) -> None:
    assert extract(text, TODAY).incident_date == day


@pytest.mark.parametrize(
    ("answer", "ahead"),
    [
        ("30 ธ.ค. 2568", date(2025, 12, 30)),
        ("วันที่ 30 พ.ย. นี้", date(2025, 11, 30)),
        ("พรุ่งนี้", date(2025, 11, 21)),
        ("วันพ่อปีนี้", date(2025, 12, 5)),
        ("tomorrow", date(2025, 11, 21)),
        ("เมื่อวาน", None),
        ("5 ธ.ค.", None),
    ],
)
def test_a_date_ahead_is_reported_not_dropped(answer: str, ahead: date | None) -> None:
    assert future_date(answer, TODAY) == ahead
    if ahead is not None:
        assert parse_date(answer, TODAY) is None
        assert extract(answer, TODAY).future_date == ahead


@pytest.mark.parametrize(
    ("text", "categories"),
    [
        ("เจ้าหน้าที่ที่ดินอำเภอปากช่อง โคราช เรียกเงิน 5 แสน เมื่อวานนี้ เพื่อเร่งออกโฉนด", ("bribery", "permits_land")),
        ("เจ้าหน้าที่เรียกเงิน 2 หมื่น ถึงจะออกใบอนุญาตเปิดร้านให้", ("bribery", "permits_land")),
        ("สำนักงานที่ดินออกโฉนดทับป่าสงวน", ("permits_land",)),
        ("the headman forged signatures", ("forgery",)),
        ("vote buying 500 baht per head", ("election",)),
        ("bid rigging in the road project", ("procurement",)),
        ("police took 500 baht from me", ("bribery",)),
        ("ตำรวจมันเรียกตังค์ข้อยห้าร้อย", ("bribery",)),
        ("ผู้ใหญ่บ้านกินเงินค่าชดเชยน้ำท่วม", ("embezzlement",)),
    ],
)
def test_categories(text: str, categories: tuple[str, ...]) -> None:
    found = extract(text, TODAY)
    assert found.categories[: len(categories)] == categories
    assert found.category == categories[0]


def test_the_land_office_example_reads_in_full() -> None:
    found = extract("เจ้าหน้าที่ที่ดินอำเภอปากช่อง โคราช เรียกเงิน 5 แสน เมื่อวานนี้ เพื่อเร่งออกโฉนด", TODAY)
    assert (found.province, found.district, found.region) == ("นครราชสีมา", "ปากช่อง", "3")
    assert (found.amount_thb, found.incident_date) == (500_000, date(2025, 11, 19))


@pytest.mark.parametrize(
    ("text", "agency"),
    [
        ("ซื้อเสียงเลือกตั้ง อบจ. หัวละ 500 บาท", "อบจ."),
        ("ครูโรงเรียนบ้านโคกในเก็บเงินค่าเทอม", "โรงเรียนบ้านโคกใน"),
        ("นายก อบต.หนองบัว เรียกเงิน", "อบต.หนองบัว"),
        ("อบต. บ้านผมจัดซื้อรถขยะแพง", "อบต."),
    ],
)
def test_agency_names(text: str, agency: str) -> None:
    assert extract(text, TODAY).agency == agency


def test_spelling_correction_leaves_two_known_words_alone() -> None:
    assert "หนองบัวใน" in extract("อบต.หนองบัวในอำเภอเมือง", TODAY).normalized_text
