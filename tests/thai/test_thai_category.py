"""Category: codes, referrals of out-of-scope kinds, keyword scoring, and no signal -> None."""

from __future__ import annotations

import pytest

from bot.thai import CATEGORIES, OUT_OF_SCOPE, classify


def test_codes() -> None:
    assert CATEGORIES == (
        "bribery",
        "procurement",
        "embezzlement",
        "abuse_of_power",
        "personnel",
        "conflict_of_interest",
        "permits_land",
        "forgery",
        "unusual_wealth",
        "policy",
        "election",
        "grievance",
        "other",
    )
    assert dict(OUT_OF_SCOPE) == {
        "unusual_wealth": "nacc",
        "policy": "nacc",
        "election": "ect",
        "grievance": "damrongdhama",
    }
    assert set(OUT_OF_SCOPE) <= set(CATEGORIES)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("เจ้าหน้าที่เรียกเงินใต้โต๊ะ", "bribery"),
        ("ตำรวจเก็บส่วยรถบรรทุก", "bribery"),
        ("ค่าน้ำร้อนน้ำชา", "bribery"),
        ("ผอ.เรียกแป๊ะเจี๊ยะ", "bribery"),
        ("ฮั้วประมูลถนน", "procurement"),
        ("ล็อคสเปคเครื่องออกกำลังกาย", "procurement"),
        ("เก็บค่าหัวคิวจากผู้รับเหมาโครงการก่อสร้าง", "procurement"),
        ("ยักยอกเงินกองทุนหมู่บ้าน", "embezzlement"),
        ("เอารถหลวงไปใช้ส่วนตัว", "embezzlement"),
        ("เบิกค่าอบรมแต่ไม่ได้จัดจริง", "embezzlement"),
        ("กลั่นแกล้งชาวบ้าน", "abuse_of_power"),
        ("ดองเรื่องร้องเรียน", "abuse_of_power"),
        ("ซื้อขายตำแหน่ง", "personnel"),
        ("ฝากเด็กเข้าทำงาน", "personnel"),
        ("ผลประโยชน์ทับซ้อน บริษัทลูกนายก", "conflict_of_interest"),
        ("ออกโฉนดทับป่า", "permits_land"),
        ("ปลอมลายเซ็นชาวบ้าน", "forgery"),
        ("ร่ำรวยผิดปกติ", "unusual_wealth"),
        ("ทุจริตเชิงนโยบาย", "policy"),
        ("ซื้อเสียงหัวละ 500", "election"),
        ("หัวคะแนนแจกเงิน กาเบอร์ 3", "election"),
        ("บริการล่าช้า พูดจาไม่สุภาพ", "grievance"),
        ("มีการทุจริตในหน่วยงาน", "other"),
        ("m60ib9", "other"),
    ],
)
def test_classify(text: str, code: str) -> None:
    assert classify(text) == code


@pytest.mark.parametrize(
    "text",
    ["สวัสดีครับ", "ขอบคุณค่ะ", "", "ทดสอบ", "สอบถามค่ะ ถ้าอยากขอใบอนุญาตเปิดร้านต้องไปที่ไหน", "ไปตลาดมา"],
)
def test_no_signal(text: str) -> None:
    assert classify(text) is None


def test_every_result_is_a_code() -> None:
    for text in ("โกง", "ส่วย", "ล่าช้า", "abc", "ซื้อเสียง"):
        assert classify(text) in (*CATEGORIES, None)
