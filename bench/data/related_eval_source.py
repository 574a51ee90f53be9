# ruff: noqa: E501  (data: one matter per line reads better than wrapped)
"""The invented matters behind bench/data/related_eval.jsonl (tuning) and related_heldout.jsonl (held
out: other matters, other wordings, other places; never used to tune).

Each group is one matter told by several volunteers in their own words, registers and spellings of
the office; near-miss groups are the same office about another matter, a neighbouring office with
a similar name about the same kind of matter, and the same office name in another province.
`python bench/data/related_eval_source.py` writes both files (deterministic).
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (province, district, region)
PLACES = [
    ("สุรินทร์", "ปราสาท", "3"),
    ("บุรีรัมย์", "ลำปลายมาศ", "3"),
    ("ขอนแก่น", "ชุมแพ", "4"),
    ("อุดรธานี", "กุมภวาปี", "4"),
    ("เชียงใหม่", "สันทราย", "5"),
    ("ลำปาง", "เกาะคา", "5"),
    ("นครสวรรค์", "ตาคลี", "6"),
    ("ราชบุรี", "บ้านโป่ง", "7"),
    ("สุราษฎร์ธานี", "พุนพิน", "8"),
    ("สงขลา", "หาดใหญ่", "9"),
    ("ชลบุรี", "บางละมุง", "2"),
    ("พระนครศรีอยุธยา", "บางปะอิน", "1"),
    ("ศรีสะเกษ", "กันทรลักษ์", "3"),
    ("ร้อยเอ็ด", "เสลภูมิ", "4"),
]

NAMES = [
    "หนองบัว", "โนนสูง", "บ้านโคก", "ดอนแก้ว", "ท่าช้าง", "หนองแวง", "โคกกลาง", "นาดี", "ห้วยทราย",
    "บ่อทอง", "สระแก้ว", "คลองใหม่", "ทุ่งใหญ่", "ป่าแดง", "หนองหิน", "วังน้ำเย็น", "โพธิ์ทอง", "นาคำ",
    "สามัคคี", "หนองสองห้อง", "บึงบูรพ์", "ดงยาง", "ศรีสว่าง", "เมืองเก่า", "ทรายมูล", "หัวทะเล",
]  # fmt: skip
#: a neighbour with a similar name (near-misses)
NEIGHBOUR = {"หนองบัว": "หนองบัวใหญ่", "โนนสูง": "โนนสูงใต้", "บ้านโคก": "บ้านโคกใหม่", "นาดี": "นาดีน้อย"}

# how volunteers write each kind of office; {n} name, {d} district, {p} province
OFFICE_WRITINGS = {
    "sao": (["อบต.{n}", "องค์การบริหารส่วนตำบล{n}", "อบต. {n} อ.{d}", "อบต{n}", "อ.บ.ต.{n}", "อบต.{n} จ.{p}"], "อบต.{n}"),
    "tessaban": (["ทต.{n}", "เทศบาลตำบล{n}", "เทศบาลตำบล {n} อำเภอ{d}", "ทต. {n}"], "เทศบาลตำบล{n}"),
    "clinic": (["รพ.สต.{n}", "โรงพยาบาลส่งเสริมสุขภาพตำบล{n}", "รพสต.{n}", "รพ.สต. บ้าน{n}"], "รพ.สต.{n}"),
    "school": (["โรงเรียนบ้าน{n}", "รร.บ้าน{n}", "ร.ร.บ้าน{n}", "โรงเรียน บ้าน{n} อ.{d}"], "โรงเรียนบ้าน{n}"),
    "pao": (["อบจ.{p}", "องค์การบริหารส่วนจังหวัด{p}", "อบจ. {p}"], "อบจ.{p}"),
    "land": (["สำนักงานที่ดินจังหวัด{p}", "ที่ดินจังหวัด{p}", "สนง.ที่ดินจังหวัด{p}"], "สำนักงานที่ดินจังหวัด{p}"),
}  # fmt: skip

# kinds of matter: category, offices it happens at, the official, and tellings in several registers.
# {o} office as written, {t} the official, {a} amount, {x} a detail of this matter
TUNE_MATTERS = {
    "permit_bribe": (
        "bribery", ("sao", "tessaban"), ["ปลัด", "ปลัด อบต.", "ปลัดฯ"], ["ใบอนุญาตก่อสร้าง", "ใบอนุญาตต่อเติมบ้าน", "ใบอนุญาตเปิดร้าน"],
        [
            "{t} {o} เรียกเงินใต้โต๊ะ {a} บาท แลกกับการออก{x}",
            "เรียนเจ้าหน้าที่ ข้าพเจ้าไปยื่นขอ{x}ที่{o} แต่{t}แจ้งว่าต้องจ่ายค่าดำเนินการ {a} บาทโดยไม่มีใบเสร็จ",
            "ไปขอ{x} โดน{t}{o}ขอเงินค่าน้ำร้อนน้ำชา {a} บาท ไม่จ่ายก็ไม่เซ็นให้",
            "แจ้งหน่อยค่ะ {o} จะออก{x}ต้องจ่ายเงินให้{t}ก่อน {a} บาท ชาวบ้านหลายคนโดนแบบนี้",
        ],
    ),
    "road_substandard": (
        "procurement", ("sao", "tessaban", "pao"), ["นายก", "นายก อบต.", "ผอ.กองช่าง"], ["ถนนคอนกรีตหมู่ 4", "ถนนลาดยางสายบ้านใหม่", "ถนนลูกรังเข้าหมู่บ้าน"],
        [
            "{o} สร้าง{x} ความหนาไม่ถึงตามสัญญา ทำเสร็จไม่ถึงเดือนก็แตกร้าว งบ {a} บาท",
            "โครงการ{x}ของ{o} ผู้รับเหมาเป็นญาติ{t} เทปูนบางกว่าแบบ ถนนพังแล้ว",
            "{x} ที่{o}เพิ่งทำ พังแล้วครับ ปูนบางมาก ไม่มีเหล็ก สงสัยว่ามีการฮั้วกับ{t}",
            "ขอให้ตรวจสอบ{x} ของ{o} ใช้งบไป {a} บาท แต่คุณภาพต่ำกว่ามาตรฐาน ไม่มีป้ายโครงการ",
        ],
    ),
    "school_lunch": (
        "embezzlement", ("school",), ["ผอ.โรงเรียน", "ผู้อำนวยการ", "ผอ."], ["อาหารกลางวัน", "นมโรงเรียน", "อาหารกลางวันนักเรียน"],
        [
            "{t} {o} เบิกค่า{x}เกินจริง เด็กได้กินไม่ครบ",
            "ลูกเรียนอยู่{o} กลับมาบอกว่า{x}น้อยมาก แค่ข้าวกับไข่ แต่ทางโรงเรียนเบิกเต็ม",
            "ครูในโรงเรียนเล่าว่า{t}ทำบัญชี{x}ปลอม เบิกเงินไปเดือนละ {a} บาท",
            "ขอร้องเรียนเรื่อง{x}ที่{o} คุณภาพแย่มาก สงสัยว่ามีการหักเงินค่าอาหาร",
        ],
    ),
    "clinic_overtime": (
        "embezzlement", ("clinic",), ["ผอ.รพ.สต.", "หัวหน้า", "ผอ."], ["ค่าล่วงเวลา", "ค่าเวรนอกเวลา", "ค่าตอบแทนนอกเวลา"],
        [
            "{t} {o} เบิก{x}ทั้งที่ไม่ได้มาทำงาน เดือนละหลายพันบาท",
            "ที่{o} มีการลงชื่อเบิก{x}ปลอม เจ้าหน้าที่ไม่ได้อยู่เวรจริง",
            "อสม.เห็นว่า{o}ปิดตั้งแต่บ่ายสาม แต่มีการเบิก{x}ทุกวัน รวมแล้วราว {a} บาท",
        ],
    ),
    "land_fee": (
        "permits_land", ("land",), ["เจ้าหน้าที่", "เจ้าพนักงานที่ดิน", "จนท."], ["โฉนด", "การรังวัด", "การโอนที่ดิน"],
        [
            "{t}{o} เรียกเงินค่าเดินเรื่อง{x} {a} บาท นอกเหนือจากค่าธรรมเนียม",
            "ไปติดต่อเรื่อง{x}ที่{o} ถูกบอกว่าถ้าอยากได้เร็วต้องจ่ายพิเศษ {a} บาท",
            "โดนเรียกเงินใต้โต๊ะเรื่อง{x} ที่{o} คนที่ไม่จ่ายต้องรอหลายเดือน",
        ],
    ),
    "relief_goods": (
        "embezzlement", ("sao", "tessaban"), ["นายก", "รองนายก", "สมาชิกสภา"], ["ถุงยังชีพน้ำท่วม", "เงินช่วยเหลือภัยแล้ง", "ข้าวสารช่วยผู้ประสบภัย"],
        [
            "{o} แจก{x}ไม่ครบตามรายชื่อ ของหายไปครึ่งหนึ่ง {t}เอาไปแจกพวกตัวเอง",
            "ชาวบ้านไม่ได้รับ{x} แต่ในเอกสารของ{o}ลงว่าได้รับแล้ว",
            "{x} ที่{o}ได้รับมา ถูก{t}กันไว้ให้หัวคะแนน คนเดือดร้อนจริงไม่ได้",
        ],
    ),
    "job_selling": (
        "personnel", ("sao", "tessaban", "pao"), ["นายก", "ปลัด", "นายก อบจ."], ["พนักงานจ้าง", "ลูกจ้างชั่วคราว", "พนักงานจ้างตามภารกิจ"],
        [
            "{o} รับสมัคร{x} แต่ต้องจ่ายเงินให้{t} {a} บาทถึงจะได้บรรจุ",
            "มีการซื้อขายตำแหน่ง{x}ที่{o} คนที่ได้เป็นเครือญาติ{t}ทั้งนั้น",
            "ญาติไปสมัคร{x}ที่{o} ถูกเรียกเงิน {a} บาท บอกว่าเป็นค่าวิ่งเต้น",
        ],
    ),
    "water_tank": (
        "procurement", ("sao", "tessaban"), ["นายก", "ผอ.กองช่าง", "นายช่าง"], ["หอถังประปา", "ระบบประปาหมู่บ้าน", "บ่อบาดาล"],
        [
            "{o} จ้างทำ{x} ราคา {a} บาท แต่สร้างเสร็จแล้วใช้ไม่ได้ น้ำไม่ไหล",
            "โครงการ{x}ของ{o} ทิ้งงานไว้ครึ่งเดียว แต่เบิกเงินไปครบแล้ว",
            "{x}ที่{o}เพิ่งสร้าง รั่วตั้งแต่วันแรก ผู้รับเหมาเป็นพวกของ{t}",
        ],
    ),
    "fake_training": (
        "embezzlement", ("sao", "tessaban", "pao"), ["ปลัด", "นายก", "หัวหน้าสำนักปลัด"], ["อบรมดูงาน", "อบรมผู้สูงอายุ", "สัมมนานอกสถานที่"],
        [
            "{o} จัด{x} มีคนไปจริงไม่ถึงครึ่ง แต่ลงชื่อเบิกเต็ม {a} บาท",
            "ไปร่วม{x}ของ{o} เขาให้เซ็นชื่อหลายแผ่น แต่ได้อาหารแค่มื้อเดียว",
            "การ{x}ของ{o} เป็นการเที่ยวมากกว่า เบิกค่าใช้จ่ายเกินจริง {t}เป็นคนจัด",
        ],
    ),
    "equipment_overprice": (
        "procurement", ("clinic", "school", "sao"), ["ผอ.", "เจ้าหน้าที่พัสดุ", "จนท.พัสดุ"], ["เครื่องวัดความดัน", "คอมพิวเตอร์", "เครื่องกรองน้ำ"],
        [
            "{o} ซื้อ{x}ราคาแพงเกินจริงหลายเท่า ชุดละ {a} บาท",
            "{t}{o} จัดซื้อ{x}จากร้านของญาติ ราคาสูงกว่าท้องตลาดมาก",
            "เห็นใบเสนอราคา{x}ของ{o} แพงผิดปกติ สงสัยว่ามีเงินทอน",
        ],
    ),
    "garbage_fee": (
        "abuse_of_power", ("sao", "tessaban"), ["เจ้าหน้าที่", "พนักงานเก็บเงิน", "จนท."], ["ค่าขยะ", "ค่าเก็บขยะรายเดือน", "ค่าธรรมเนียมขยะ"],
        [
            "{t}{o} เก็บ{x}จากชาวบ้านแต่ไม่ให้ใบเสร็จ บ้านละ {a} บาท",
            "จ่าย{x}ให้{o}ทุกเดือน แต่ไม่เคยได้ใบเสร็จ สงสัยเงินไม่เข้าหลวง",
            "{o} ขึ้น{x}เอง โดยไม่มีประกาศ เงินเข้ากระเป๋า{t}",
        ],
    ),
    "elderly_allowance": (
        "embezzlement", ("sao", "tessaban"), ["เจ้าหน้าที่การเงิน", "ปลัด", "จนท.การเงิน"], ["เบี้ยยังชีพผู้สูงอายุ", "เบี้ยคนพิการ", "เบี้ยยังชีพ"],
        [
            "{t}{o} หัก{x}ของยายเดือนละ {a} บาท อ้างว่าเป็นค่าธรรมเนียม",
            "{x}ที่{o}จ่ายให้ผู้สูงอายุ ไม่ครบทุกเดือน บางคนเสียชีวิตไปแล้วยังมีชื่อรับเงิน",
            "แม่ได้{x}ไม่ครบ เจ้าหน้าที่{o}บอกว่าต้องแบ่งให้กองทุน",
        ],
    ),
    "school_building": (
        "procurement", ("school",), ["ผอ.โรงเรียน", "ผอ.", "ครูพัสดุ"], ["อาคารเรียน", "หลังคาโรงอาหาร", "ห้องน้ำนักเรียน"],
        [
            "{o} ซ่อม{x} ใช้วัสดุเกรดต่ำ แต่เบิกงบ {a} บาท",
            "{x}ของ{o}เพิ่งซ่อมเสร็จ ฝนตกก็รั่วแล้ว {t}เลือกผู้รับเหมาเอง",
            "สงสัยการจ้างซ่อม{x} ที่{o} ไม่มีการประกาศประกวดราคา",
        ],
    ),
    "pao_bid": (
        "procurement", ("pao",), ["นายก อบจ.", "รองนายก", "ผอ.กองช่าง"], ["สนามกีฬา", "สะพานข้ามลำห้วย", "ท่อระบายน้ำ"],
        [
            "{o} ประมูลก่อสร้าง{x} มีการฮั้วประมูล บริษัทเดิมชนะทุกครั้ง วงเงิน {a} บาท",
            "โครงการ{x}ของ{o} กำหนดสเปกล็อกให้บริษัทที่ใกล้ชิด{t}",
            "การจัดจ้าง{x} {o} มีผู้เสนอราคารายเดียว ราคาสูงกว่ากลาง",
        ],
    ),
}  # fmt: skip

HELDOUT_MATTERS = {
    "market_stall": (
        "bribery", ("tessaban", "sao"), ["เจ้าหน้าที่เทศกิจ", "นิติกร", "จนท.เทศกิจ"], ["แผงตลาดนัด", "ที่ขายของหน้าตลาด", "ล็อกตลาดสด"],
        [
            "จะได้{x}ต้องจ่ายให้{t}{o} ล็อกละ {a} บาทต่อเดือน ไม่มีใบเสร็จ",
            "แม่ค้าในตลาดโดน{t}ของ{o}เก็บเงินค่า{x}เพิ่ม ใครไม่จ่ายโดนย้ายที่",
            "ร้องเรียน{o} เรื่องการให้เช่า{x} มีการเรียกรับเงินพิเศษ {a} บาท",
        ],
    ),
    "vaccine_stock": (
        "embezzlement", ("clinic",), ["ผอ.รพ.สต.", "เจ้าหน้าที่", "หัวหน้า"], ["ยาและเวชภัณฑ์", "วัคซีน", "ยาสามัญประจำบ้าน"],
        [
            "{o} มี{x}หายจากคลังบ่อย {t}เอาไปขายต่อคลินิกเอกชน",
            "ไปรับ{x}ที่{o} บอกว่าหมด แต่ในบัญชีเบิกมาเต็ม",
            "สงสัยว่า{x}ของ{o} ถูกยักยอกออกไป มูลค่าราว {a} บาท",
        ],
    ),
    "flood_dredge": (
        "procurement", ("sao", "pao"), ["นายก", "ผอ.กองช่าง", "นายก อบจ."], ["ขุดลอกคลอง", "ขุดลอกหนองน้ำ", "ขุดลอกลำห้วย"],
        [
            "โครงการ{x}ของ{o} ขุดแค่ผิว ๆ แต่เบิกเต็ม {a} บาท",
            "{o} จ้าง{x} รถแบคโฮมาทำวันเดียวแล้วหายไป น้ำยังท่วมเหมือนเดิม",
            "ชาวบ้านเห็นว่า{x}ที่{o}ทำ ไม่ตรงตามแบบ ความลึกไม่ถึง {t}ไม่เคยมาดู",
        ],
    ),
    "scholarship": (
        "abuse_of_power", ("school",), ["ผอ.", "ครูแนะแนว", "ผู้อำนวยการ"], ["ทุนการศึกษา", "ทุนเรียนดี", "เงินช่วยเหลือนักเรียนยากจน"],
        [
            "{t}{o} ให้{x}แต่ลูกหลานคนรู้จัก เด็กที่จนจริงไม่ได้",
            "{x}ของ{o} มีรายชื่อเด็กที่ย้ายไปแล้วยังได้รับเงิน",
            "ลูกได้{x}จาก{o} แต่ครูหักไว้ {a} บาท บอกว่าเป็นค่าบำรุง",
        ],
    ),
    "streetlight": (
        "procurement", ("sao", "tessaban"), ["นายก", "ผอ.กองช่าง", "นายช่าง"], ["เสาไฟโซลาร์เซลล์", "ไฟส่องทาง", "โคมไฟถนน"],
        [
            "{o} ติด{x} ต้นละ {a} บาท แพงเกินจริง ใช้ได้ไม่กี่เดือนก็ดับ",
            "{x}ที่{o}ซื้อมา ดับเกือบหมดแล้ว สงสัยว่าของไม่ได้มาตรฐาน",
            "ขอให้ตรวจสอบการจัดซื้อ{x}ของ{o} {t}เป็นคนเลือกบริษัท",
        ],
    ),
    "land_encroach": (
        "permits_land", ("land",), ["เจ้าพนักงานที่ดิน", "เจ้าหน้าที่", "จนท."], ["ที่สาธารณะ", "ที่ป่าสงวน", "ที่หัวไร่ปลายนา"],
        [
            "{o} ออกเอกสารสิทธิ์ใน{x}ให้นายทุน {t}ได้เงินไป {a} บาท",
            "มีการออกโฉนดทับ{x} โดย{o} ชาวบ้านใช้ที่นี้มานาน",
            "ร้องเรียน{t}{o} รับเงินแล้วออกเอกสารใน{x}",
        ],
    ),
}  # fmt: skip

REGISTER_TAILS = ["", " ครับ", " ค่ะ", " ช่วยตรวจสอบด้วยครับ", " ฝากด้วยนะคะ", " ขอบคุณค่ะ", " รีบด่วนเลย"]


def _office(
    kind: str, name: str, prov: str, dist: str, rng: random.Random, *, skip_ok: bool
) -> tuple[str | None, str]:
    writings, in_story = OFFICE_WRITINGS[kind]
    written = rng.choice(writings).format(n=name, d=dist, p=prov)
    spoken = rng.choice([written, in_story.format(n=name, d=dist, p=prov)])
    if skip_ok and rng.random() < 0.15:
        return None, spoken  # the volunteer skipped the agency question; the story names it
    return written, spoken


def _group(
    rng: random.Random,
    gid: str,
    matter: tuple,
    kind: str,
    name: str,
    place: tuple[str, str, str],
    base: date,
    tellers: int,
    note: str,
) -> list[dict]:
    category, _, officials, details, tellings = matter
    prov, dist, region = place
    official = rng.choice(officials)
    detail = rng.choice(details)
    amount = rng.choice([3000, 5000, 20000, 50000, 120000, 350000, 1500000])
    out = []
    for i, tpl in enumerate(
        rng.sample(tellings, min(tellers, len(tellings)))
        + rng.sample(tellings, max(0, tellers - len(tellings)))
    ):
        agency, spoken = _office(kind, name, prov, dist, rng, skip_ok=True)
        said_amount = rng.choice(
            [f"{amount:,}", str(amount), f"{amount // 1000} พัน" if amount < 100000 else f"{amount:,}"]
        )
        narrative = tpl.format(
            o=spoken, t=official if rng.random() < 0.8 else "เจ้าหน้าที่", a=said_amount, x=detail
        )
        narrative += rng.choice(REGISTER_TAILS)
        out.append(
            {
                "id": f"{gid}-{i + 1}",
                "group": gid,
                "category": category if rng.random() < 0.85 else rng.choice(["other", category]),
                "narrative": narrative,
                "agency": agency,
                "official": official if rng.random() < 0.6 else None,
                "province": prov,
                "district": dist if rng.random() < 0.8 else None,
                "region": region,
                "date": (base + timedelta(days=rng.randint(0, 75))).isoformat(),
                "note": note,
            }
        )
    return out


def _identity(kind: str, name: str, place: tuple[str, str, str]) -> str:
    """Which office this is: a provincial office has one per province, whatever the name."""
    return OFFICE_WRITINGS[kind][1].format(n=name, d=place[1], p=place[0]) + "|" + place[0]


def build(matters: dict, seed: int, groups: int, names: list[str], places: list) -> list[dict]:
    rng = random.Random(seed)
    rows: list[dict] = []
    keys = list(matters)
    n = 0
    start = date(2026, 1, 5)
    used: set[tuple[str, str, str]] = set()
    while n < groups:
        key = keys[n % len(keys)]
        matter = matters[key]
        kind = rng.choice(matter[1])
        name, place = rng.choice(names), rng.choice(places)
        while (_identity(kind, name, place), key) in used:  # one group per matter at one office
            name, place = rng.choice(names), rng.choice(places)
        used.add((_identity(kind, name, place), key))
        base = start + timedelta(days=rng.randint(0, 250))
        gid = f"g{seed}-{n:03d}"
        rows += _group(
            rng, gid, matter, kind, name, place, base, rng.choice([2, 3, 3, 4]), f"{key} at {kind}"
        )
        n += 1
        if n >= groups:
            break
        # a near-miss beside it, every other group
        near = None
        if n % 2 == 0:
            okey = keys[(n + 3) % len(keys)]
            twin = NEIGHBOUR.get(name, name + "ใต้")
            if kind in matters[okey][1] and (_identity(kind, name, place), okey) not in used:
                near = (okey, name, place, "near miss: same office, other matter")
            elif kind not in ("pao", "land") and (_identity(kind, twin, place), key) not in used:
                near = (key, twin, place, "near miss: neighbouring office, similar name")
        elif n % 5 == 0 and kind not in ("pao", "land"):
            elsewhere = places[(places.index(place) + 3) % len(places)]
            if (_identity(kind, name, elsewhere), key) not in used:
                near = (key, name, elsewhere, "near miss: same name, other province")
        if near is not None:
            nkey, nname, nplace, note = near
            used.add((_identity(kind, nname, nplace), nkey))
            rows += _group(rng, f"g{seed}-{n:03d}", matters[nkey], kind, nname, nplace, base, 2, note)
            n += 1
    return rows


def main() -> None:
    tune = build(TUNE_MATTERS, 1, 84, NAMES[:18], PLACES[:10])
    held = build(HELDOUT_MATTERS, 2, 30, NAMES[14:], PLACES[6:])
    for name, rows in (("related_eval.jsonl", tune), ("related_heldout.jsonl", held)):
        with (HERE / name).open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(name, len(rows), "tips in", len({r["group"] for r in rows}), "groups")


if __name__ == "__main__":
    main()
