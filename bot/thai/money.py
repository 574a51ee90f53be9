"""Amounts of money in Thai: digits, number words, colloquial short forms ("2 หมื่นห้า", "แสนห้า", "ครึ่งล้าน").

Knows what money looks like in a sentence; knows nothing of tips or categories.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from functools import lru_cache

from bot.thai import _resources
from bot.thai.dates import find_date
from bot.thai.normalize import normalize
from bot.thai.numeral import DIGIT_WORDS, UNIT_WORDS

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_WORD = "|".join(sorted([*DIGIT_WORDS, *UNIT_WORDS, "ครึ่ง"], key=len, reverse=True))
_ATOM = rf"(?:{_NUM})\s?[kK](?![A-Za-z])|(?:{_NUM})|(?:{_WORD})"
_SPAN = re.compile(rf"(?:{_ATOM})(?:\s?(?:{_ATOM}))*")
_ATOM_RE = re.compile(rf"({_NUM})\s?([kK])(?![A-Za-z])|({_NUM})|({_WORD})")

_CURRENCY_AFTER = re.compile(
    r"^\s?(?:บาท|บ\.|฿|-\s*บาท|\.-|,-|ล้านบาท|ลบ\.|baht|thb|million|m\b(?=\s*(?:baht|thb)))", re.IGNORECASE
)
# "3 ลบ." (ล้านบาท), "2 million", "1.5M baht": the number counts millions.
_MILLIONS_AFTER = re.compile(r"^\s?(?:ลบ\.|ล้านบาท|million\b|M\b|m\b(?=\s*(?:baht|thb)))")
# Gold is weighed in บาท and สลึง: "ทองคำ 2 สลึง", "ทองหนัก 1 บาท" are weights, not money.
_GOLD_BEFORE = re.compile(r"(?:ทอง|ทองคำ|สร้อย|แหวน|หนัก|gold)[^\d]{0,8}$", re.IGNORECASE)
# Hotlines and short numbers are no amounts ("สายด่วน 1111", "โทร 1206").
_HOTLINES = frozenset({"191", "199", "1111", "1205", "1206", "1300", "1444", "1567", "1193", "1155", "1669"})
# A project's budget beside another amount: the other one (a kickback, the bribe) is what the tip is about.
_BUDGET_BEFORE = re.compile(
    r"(?:งบ|งบประมาณ|โครงการ|ราคากลาง|วงเงิน|มูลค่าโครงการ|มูลค่าสัญญา|budget|project|contract)[^\d\n]{0,14}$",
    re.IGNORECASE,
)
_NOT_MONEY_AFTER = re.compile(
    r"^\s?(?:สลึง|เท่า|ปี|คน|%|เปอร์เซ็น|เปอร์เซนต์|ครั้ง|วัน|เดือน|สัปดาห์|อาทิตย์|หลัง|ราย|ไร่|งาน|ตาราง|ตร\.|กม|กิโล|"
    r"เมตร|ม\.|ชั่วโมง|ชม|นาที|โมง|ทุ่ม|ตัว|คัน|ชิ้น|แห่ง|จุด|หมู่|ครอบครัว|ข้อ|ชุด|เครื่อง|ลำ|กระสอบ|ถุง|กล่อง|ลิตร|"
    r"ตัน|กก|สาย|เส้น|รอบ|หน่วย|ท่าน|นาย|คะแนน|เสียง|โครงการ|ฉบับ|แปลง|ต้น|ห้อง|ชั้น|ขวบ|หน้า|ขั้น|ระดับ|องศา|"
    r"นิ้ว|ศพ|ราย|ลูก|โรงเรียน|บ้าน|หมู่บ้าน|ตำบล|อำเภอ|แผ่น|ซอง|ใบ(?!เสร็จ)|คู่|อัน|ข้าง|พวก|กลุ่ม|ทาง|ทุ่ม|นัด|"
    r"เบอร์|เลข|ตำแหน่ง|แถว|ช่อง|กระป๋อง|ขวด|แพ็ค|กิโลกรัม|กรัม|ก้อน|ม้วน|ท่อน|ร้าน|แผง|เจ้า|ครัวเรือน|บริษัท|สัญญา)"
)
_NOT_MONEY_BEFORE = re.compile(
    r"(?:ร้อยละ|หลัก|หลาย|หมู่|หมู่ที่|ม\.|เลขที่|บ้านเลขที่|ซอย|ซ\.|ถนน|ถ\.|โทร\.?|โทรศัพท์|เบอร์|หมายเลข|ครั้งที่|ข้อ|มาตรา|ปี|พ\.ศ\.|"
    r"ค\.ศ\.|อายุ|รุ่น|ชั้น|ห้อง|ทะเบียน|เขต|รหัส|เลข|ลำดับ|คนที่|ฉบับที่|วันที่|ประถม|มัธยม|ระดับ|ซี|ชั้นปี|"
    r"เวลา|ตอน|กลุ่ม|หน้า|สายด่วน|hotline|call|line|id|tel)\s?$",
    re.IGNORECASE,
)
_MONEY_BEFORE = re.compile(
    r"(?:เงิน|ค่า|จ่าย|เรียก|งบ|ราคา|มูลค่า|โอน|ไถ|ให้|ยัด|สินบน|รับ|เบิก|ทอน|เก็บ|ละ|หัวละ|คนละ|ครั้งละ|ปีละ|"
    r"เดือนละ|วันละ|ตกราว|รวม|ทั้งหมด|ประมาณ|ราวๆ|ราว|กว่า|เกือบ|ถึง|เป็นเงิน|ทุน|กู้|หนี้|ขาย|ซื้อ|ประมูล|สัญญา|"
    r"ใต้โต๊ะ|ส่วย|ค่าคอม|ชดเชย|เยียวยา|เบี้ย|โบนัส|เงินเดือน|หัก|ยอด|บาท)[^\d\n]{0,14}$"
)
# Words that start with a number word but mean something else (แสนดี "very good", ร้อยเอก a rank).
_GLUED_WORD_AFTER = re.compile(
    r"^(?:ดี|สุข|สบาย|จะ|สาหัส|รู้|นา|ช้าง|ธุ์|ธ์|เอก|โท|ตรี|ตำรวจ|เวร|ละ|ศักดิ์|ล้ม|งาม|ลึก|ไกล|ยาก|เหนื่อย|แสบ|ล้าน)"
)
_LARGE_UNITS = ("หมื่น", "แสน", "ล้าน")
# "ม.1", "นส.3", "รง.4": a number glued to a Thai abbreviation is a grade, form or law number.
_ABBREVIATION_BEFORE = re.compile(r"[\u0e00-\u0e7f]\.\s?$")
_LAUGHTER = re.compile(r"^5{3,}$")
_MAX_AMOUNT = 100_000_000_000


@dataclass(frozen=True, slots=True)
class _Atom:
    kind: str  # "num", "unit", "half"
    value: Fraction
    bare_digit: bool  # a single digit written alone, which may be a colloquial fraction of a unit


def _atoms(span: str) -> list[_Atom] | None:
    out: list[_Atom] = []
    pos = 0
    for m in _ATOM_RE.finditer(span):
        if span[pos : m.start()].strip():
            return None
        pos = m.end()
        if m.group(1):
            out.append(_Atom("num", Fraction(m.group(1).replace(",", "")) * 1000, False))
        elif m.group(3):
            raw = m.group(3).replace(",", "")
            out.append(_Atom("num", Fraction(raw), raw.isdigit() and len(raw) == 1))
        else:
            word = m.group(4)
            if word == "ครึ่ง":
                out.append(_Atom("half", Fraction(1, 2), False))
            elif word in UNIT_WORDS:
                out.append(_Atom("unit", Fraction(UNIT_WORDS[word]), False))
            else:
                out.append(_Atom("num", Fraction(DIGIT_WORDS[word]), True))
    return out


def _below_million(atoms: list[_Atom], parent_unit: int | None) -> Fraction | None:
    acc = Fraction(0)
    coef: _Atom | None = None
    last_unit: Fraction | None = None
    pending_half = False
    for a in atoms:
        if a.kind == "num":
            if coef is not None:
                # "สิบ" and "ร้อย" take a units digit as a second number word ("สิบเอ็ด"): only digits.
                return None
            coef = a
        elif a.kind == "half":
            if coef is None and last_unit is not None:
                acc += last_unit / 2
                last_unit = None
            elif coef is None:
                pending_half = True
            else:
                return None
        else:
            if last_unit is not None and a.value >= last_unit:
                return None
            if pending_half:
                factor = Fraction(1, 2)
                pending_half = False
            else:
                factor = coef.value if coef is not None else Fraction(1)
            acc += factor * a.value
            last_unit = a.value
            coef = None
    if pending_half:
        if parent_unit is None:
            return None
        acc += Fraction(parent_unit, 2)
    if coef is not None:
        if coef.bare_digit and last_unit is not None and last_unit >= 1000:
            acc += coef.value * last_unit / 10
        elif coef.bare_digit and last_unit is None and parent_unit is not None and not acc:
            acc += coef.value * Fraction(parent_unit, 10)
        else:
            acc += coef.value
    return acc


def _value(atoms: list[_Atom]) -> Fraction | None:
    millions = [i for i, a in enumerate(atoms) if a.kind == "unit" and a.value == 1_000_000]
    if not millions:
        return _below_million(atoms, None)
    cut = millions[-1]
    head, tail = atoms[:cut], atoms[cut + 1 :]
    if any(a.kind == "unit" and a.value == 1_000_000 for a in head):
        return None
    if len(head) == 1 and head[0].kind == "half":
        high: Fraction | None = Fraction(1, 2)
    else:
        high = _below_million(head, None) if head else Fraction(1)
    low = _below_million(tail, 1_000_000) if tail else Fraction(0)
    if high is None or low is None:
        return None
    return high * 1_000_000 + low


@lru_cache(maxsize=8192)
def amount_of(span: str) -> int | None:
    """The value of one written amount ("2 หมื่นห้า" -> 25000); None when it is not a number."""
    atoms = _atoms(span)
    if not atoms or all(a.kind == "half" for a in atoms):
        return None
    value = _value(atoms)
    if value is None or value <= 0 or value > _MAX_AMOUNT:
        return None
    return round(value)


def _phone_like(text: str, start: int, end: int) -> bool:
    digits = text[start:end]
    if re.fullmatch(r"0\d{8,9}", digits.replace(" ", "")):
        return True
    if digits[:1] == "0" and not digits.startswith("0."):
        return True
    before = text[start - 1 : start]
    after = text[end : end + 1]
    if before and before in "-/":
        return True
    return bool(after) and after in "-/" and not text[end:].startswith("-บาท")


def _candidates(text: str) -> list[tuple[int, int]]:
    """Spans of number atoms; a span that does not read as one number is retried without its first atom."""
    out: list[tuple[int, int]] = []
    for m in _SPAN.finditer(text):
        start, end = m.span()
        while end > start and text[end - 1] == " ":
            end -= 1
        while start < end:
            if amount_of(text[start:end]) is not None:
                out.append((start, end))
                break
            first = _ATOM_RE.match(text, start)
            if first is None:
                break
            start = first.end()
            while start < end and text[start] == " ":
                start += 1
    return out


def find_amounts(text: str, skip: tuple[tuple[int, int], ...] = (), need_context: bool = True) -> list[int]:
    """Amounts of money written in normalised text, in order; counts, dates and phone numbers are skipped."""
    return [value for value, _, _ in find_amount_spans(text, skip, need_context)]


def main_amount(text: str, skip: tuple[tuple[int, int], ...] = ()) -> int | None:
    """The amount a tip is about: the largest, except that a project's budget gives way to any other."""
    found = find_amount_spans(text, skip)
    if not found:
        return None
    other = [v for v, start, _ in found if not _BUDGET_BEFORE.search(text[max(0, start - 24) : start])]
    return max(other or [v for v, _, _ in found])


def find_amount_spans(
    text: str, skip: tuple[tuple[int, int], ...] = (), need_context: bool = True
) -> list[tuple[int, int, int]]:
    """(value, start, end) of every amount of money in normalised text, in order."""
    found: list[tuple[int, int, int]] = []
    bounds: frozenset[int] | None = None
    for start, end in _candidates(text):
        span = text[start:end]
        if any(s < end and start < e for s, e in skip):
            continue
        if _phone_like(text, start, end):
            continue
        after = text[end:]
        gap = len(after) - len(after.lstrip())
        if any(s == end + gap for s, _ in skip):
            # What follows is a date ("ปีที่แล้ว"), not a counted unit.
            after = ""
        before = text[max(0, start - 24) : start]
        if span in _HOTLINES and not _CURRENCY_AFTER.match(after):
            continue
        if _GOLD_BEFORE.search(before) and re.match(r"^\s?(?:บาท|สลึง)", after):
            continue
        currency = bool(_CURRENCY_AFTER.match(after))
        large = any(u in span for u in _LARGE_UNITS) or re.search(r"\d\s?[kK]", span) is not None
        if not currency:
            if _NOT_MONEY_AFTER.match(after):
                continue
            if not large and (_NOT_MONEY_BEFORE.search(before) or _ABBREVIATION_BEFORE.search(before)):
                continue
            if _LAUGHTER.match(span):
                continue
        if bounds is None:
            bounds = _resources.token_bounds(text)
        # A number word glued inside a longer word (แสนดี, พันธุ์, ร้อยละ, ร้อยเอ็ด) is no amount.
        if not span[0].isdigit() and start not in bounds:
            continue
        if not span[-1].isdigit() and (end not in bounds or _GLUED_WORD_AFTER.match(after)):
            continue
        value = amount_of(span)
        if value is None:
            continue
        if _MILLIONS_AFTER.match(after) and "ล้าน" not in span:
            value *= 1_000_000
            if value > _MAX_AMOUNT:
                continue
        if need_context:
            money_word = bool(_MONEY_BEFORE.search(before))
            if not (currency or large or money_word):
                continue
            # A lone digit word ("สามเจ้า") is a count unless baht follows.
            if not currency and not any(c.isdigit() for c in span) and not any(u in span for u in UNIT_WORDS):
                continue
            # A bare Buddhist-era year next to a money word ("งบปี 2567") is still a year.
            if not currency and not large and 2400 <= value <= 2700 and "," not in span:
                continue
        found.append((value, start, end))
    return found


_NO_AMOUNT = re.compile(r"^(?:ไม่มี|ไม่ทราบ|ไม่รู้|ไม่แน่ใจ|ไม่ได้|ไม่เกี่ยว|ข้าม|-)")


def parse_amount(answer: str) -> int | None:
    """The amount in a direct answer to "how much money?"; a bare number counts as money."""
    text = normalize(answer)
    if not text or _NO_AMOUNT.match(text):
        return None
    # Any fixed day works: only the spans of date-like text are used.
    spans = find_date(text, date(2100, 1, 1)).spans
    amounts = find_amounts(text, spans, need_context=False)
    return max(amounts) if amounts else None
