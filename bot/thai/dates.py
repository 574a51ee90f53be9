"""When something happened: Thai dates, Buddhist-era years, relative days and vague periods.

Pure functions of text and a given `today`; never reads the clock and never returns a future date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

from bot.thai import lexicon, numeral
from bot.thai.normalize import normalize

_BE_OFFSET = 543
_EARLIEST_YEAR = 1950


@dataclass(frozen=True, slots=True)
class DateFind:
    day: date | None
    text: str | None
    spans: tuple[tuple[int, int], ...]  # every date-like span, so that money parsing can skip them


def _month_regex(key: str) -> str:
    if "." in key:
        letters = key.replace(".", "")
        return r"\.?\s?".join(re.escape(c) for c in letters) + r"\.?"
    return re.escape(key)


@cache
def _month_alternation() -> str:
    keys = sorted(lexicon.THAI_MONTHS, key=len, reverse=True)
    return "|".join(f"(?:{_month_regex(k)})" for k in keys)


def month_of(written: str) -> int | None:
    """The month number of a written Thai month ("มี.ค.", "มีนาคม"); None when it is no month."""
    compact = re.sub(r"[\s.]", "", written)
    for key, month in lexicon.THAI_MONTHS.items():
        if key.replace(".", "") == compact:
            return month
    return None


_FULL_MONTHS = (
    "มกราคม|กุมภาพันธ์|มีนาคม|เมษายน|พฤษภาคม|มิถุนายน|กรกฎาคม|กรกฏาคม|สิงหาคม|กันยายน|ตุลาคม|พฤศจิกายน|ธันวาคม|"
    "มกรา|กุมภา|มีนา|เมษา|พฤษภา|มิถุนา|กรกฎา|สิงหา|กันยา|ตุลา|พฤศจิกา|ธันวา"
)
_YEAR_TAIL = r"(?:\s*(?:พ\.?\s?ศ\.?|ปี|ค\.?\s?ศ\.?)?\s*(\d{4}|\d{2})(?![\d,]))?"


@cache
def date_patterns() -> dict[str, re.Pattern[str]]:
    """The written shapes of a calendar date, by name; `bot.thai.when` reads them forward."""
    months = _month_alternation()
    return {
        "iso": re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)"),
        "numeric": re.compile(r"(?<![\d,.])(\d{1,2})\s?([/\-.])\s?(\d{1,2})\s?\2\s?(\d{4}|\d{2})(?![\d,])"),
        "day_month": re.compile(
            r"(?:วันที่\s*)?(?<![\d,.])(\d{1,2})\s*(?:เดือน\s*)?(" + months + r")(?![\u0e01-\u0e2e])" + _YEAR_TAIL
        ),
        "month_year": re.compile(
            r"(?:เดือน\s*)?(" + _FULL_MONTHS + r")\s*(?:พ\.?\s?ศ\.?|ปี)?\s*(\d{4}|\d{2})(?![\d,])"
        ),
        "month_only": re.compile(
            r"(?:เดือน\s*(?:" + months + r")|(?:" + _FULL_MONTHS + r"))(?![\u0e01-\u0e2e])"
        ),
        "day_only": re.compile(r"วันที่\s*(\d{1,2})(?![\d/.\-])(?!\s*(?:ของเดือน|ถึง))"),
    }


_RELATIVE_DAYS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"(?:เมื่อ)?วานซืน(?:นี้)?"), 2),
    (re.compile(r"เมื่อวาน(?:นี้)?|เมื่อคืน(?:นี้)?|เมื่อวันวาน"), 1),
    (re.compile(r"วันนี้|เมื่อเช้า(?:นี้)?|เช้านี้|เมื่อกี้|เมื่อกี๊|เมื่อตอนเช้า|เมื่อบ่าย(?:นี้)?"), 0),
)
_N_DAYS_AGO = re.compile(
    r"(?:เมื่อ\s*)?(?<![\d,.])(?<!หมื่น)(?<!แสน)(?<!พัน)(?<!ล้าน)(?<!ร้อย)(?<!หมื่น )(?<!แสน )(?<!พัน )"
    r"(\d{1,3}|" + numeral.count_alternation(10) + r")\s*วัน\s*(?:ก่อน|ที่แล้ว|ที่ผ่านมา)"
)
_WEEKDAY = re.compile(
    r"(?:เมื่อ\s*)?วัน(จันทร์|จันทน์|อังคาร|พุธ|พฤหัสบดี|พฤหัสฯ|พฤหัส|ศุกร์|เสาร์|อาทิตย์)\s*(ที่แล้ว|ที่ผ่านมา|ก่อน)?"
)
_VAGUE = re.compile(
    r"(?:เมื่อ\s*|ช่วง\s*|ตอน\s*)?(?:"
    r"(?<![\d,.])(?<!หมื่น)(?<!แสน)(?<!พัน)(?<!ล้าน)(?<!ร้อย)(?<!หมื่น )(?<!แสน )(?<!พัน )(?<!ล้าน )"
    r"(?:\d{1,3}|" + numeral.count_alternation(10) + r"|หลาย|สองสาม|สามสี่)\s*"
    r"(?:วัน|อาทิตย์|สัปดาห์|เดือน|ปี)\s*(?:ก่อน|ที่แล้ว|ที่ผ่านมา)"
    r"|(?:อาทิตย์|สัปดาห์|เดือน|ปี)\s*(?:ที่แล้ว|ก่อน|ที่ผ่านมา|นี้)"
    r"|(?:ต้น|กลาง|ปลาย)\s*(?:เดือน|ปี)(?:\s*(?:ที่แล้ว|ก่อน|นี้))?"
    r"|(?:พ\.?\s?ศ\.?|ปี)\s*(?:25\d\d|\d\d)(?![\d,])"
    r"|ก่อนหน้านี้|เมื่อไม่นานมานี้|ไม่นานมานี้|สงกรานต์|ปีใหม่"
    r")"
)
_NOT_A_DATE = re.compile(r"ไม่แน่ใจ|จำไม่ได้|ไม่ทราบ|ไม่รู้|ไม่ได้ระบุ")
_BARE_YEAR = re.compile(r"^(?:พ\.?\s?ศ\.?|ปี)?\s*(25\d\d|19\d\d|20\d\d)$")
_BARE_DAY_MONTH = re.compile(r"^(\d{1,2})\s?[/\-.]\s?(\d{1,2})$")


def year_of(written: str, today: date) -> int | None:
    """The Christian-era year of a written year (Buddhist or Christian era, two or four digits)."""
    y = int(written)
    if len(written) == 2:
        be = 2500 + y - _BE_OFFSET
        # Two digits are a Buddhist-era year ("65"), unless that lands decades back and the
        # Christian-era reading is a recent year ("24" in 5/3/24).
        if today.year - be > 30 and 2000 + y <= today.year:
            return 2000 + y
        return be
    if y >= 2400:
        return y - _BE_OFFSET
    if 1900 <= y <= 2200:
        return y
    return None


def _make(y: int | None, m: int, d: int, today: date, year_given: bool) -> date | None:
    year = y if y is not None else today.year
    try:
        out = date(year, m, d)
    except ValueError:
        return None
    if out > today:
        if year_given:
            return None
        try:
            out = date(year - 1, m, d)
        except ValueError:
            return None
    if out.year < _EARLIEST_YEAR:
        return None
    return out


def _clean_span(text: str) -> str:
    return re.sub(r"^(?:เมื่อ|ช่วง|ตอน)\s*", "", text).strip()


def find_date(text: str, today: date) -> DateFind:
    """The incident date in normalised text: a single date, or the vague period as text."""
    pats = date_patterns()
    spans: list[tuple[int, int]] = []
    exact: list[tuple[int, date]] = []
    vague: list[tuple[int, str]] = []

    for m in pats["iso"].finditer(text):
        spans.append(m.span())
        y = year_of(m.group(1), today)
        if y is not None:
            d = _make(y, int(m.group(2)), int(m.group(3)), today, True)
            if d:
                exact.append((m.start(), d))
    for m in pats["numeric"].finditer(text):
        if any(s <= m.start() < e for s, e in spans):
            continue
        spans.append(m.span())
        y = year_of(m.group(4), today)
        if y is not None:
            d = _make(y, int(m.group(3)), int(m.group(1)), today, True)
            if d:
                exact.append((m.start(), d))
    for m in pats["day_month"].finditer(text):
        month = month_of(m.group(2))
        if month is None:
            continue
        spans.append(m.span())
        year = year_of(m.group(3), today) if m.group(3) else None
        if m.group(3) and year is None:
            continue
        d = _make(year, month, int(m.group(1)), today, m.group(3) is not None)
        if d:
            exact.append((m.start(), d))
    for m in pats["month_year"].finditer(text):
        if any(s <= m.start() < e for s, e in spans):
            continue
        spans.append(m.span())
        vague.append((m.start(), _clean_span(m.group(0))))
    for m in pats["month_only"].finditer(text):
        if any(s <= m.start() < e for s, e in spans):
            continue
        spans.append(m.span())
        vague.append((m.start(), _clean_span(m.group(0))))

    relative: list[tuple[int, date]] = []
    for m in _N_DAYS_AGO.finditer(text):
        spans.append(m.span())
        n_text = m.group(1)
        n = int(n_text) if n_text.isdigit() else numeral.COUNT_WORDS[n_text]
        if n <= 400:
            relative.append((m.start(), today - timedelta(days=n)))
    for pattern, back in _RELATIVE_DAYS:
        for m in pattern.finditer(text):
            if any(s <= m.start() < e for s, e in spans):
                continue
            spans.append(m.span())
            relative.append((m.start(), today - timedelta(days=back)))
    for m in _WEEKDAY.finditer(text):
        if any(s <= m.start() < e for s, e in spans):
            continue
        spans.append(m.span())
        wd = lexicon.THAI_WEEKDAYS[m.group(1)]
        back = (today.weekday() - wd) % 7 or 7
        relative.append((m.start(), today - timedelta(days=back)))
    for m in pats["day_only"].finditer(text):
        if any(s <= m.start() < e for s, e in spans):
            continue
        spans.append(m.span())
        day = int(m.group(1))
        d = _make(today.year, today.month, day, today, True)
        if d is None and 1 <= day <= 31:
            prev = today.replace(day=1) - timedelta(days=1)
            d = _make(prev.year, prev.month, day, today, True)
        if d:
            relative.append((m.start(), d))
    for m in _VAGUE.finditer(text):
        if any(s <= m.start() < e or s < m.end() <= e for s, e in spans):
            continue
        spans.append(m.span())
        vague.append((m.start(), _clean_span(m.group(0))))

    if exact:
        return DateFind(min(exact)[1], None, tuple(spans))
    if relative:
        return DateFind(min(relative)[1], None, tuple(spans))
    if vague:
        return DateFind(None, min(vague)[1], tuple(spans))
    return DateFind(None, None, tuple(spans))


def parse_date(answer: str, today: date) -> tuple[date | None, str | None] | None:
    """(date, None) for a single date; (None, text) for a vague period; None when it is no date."""
    text = normalize(answer)
    if not text or _NOT_A_DATE.search(text):
        return None
    found = find_date(text, today)
    if found.day is not None:
        return found.day, None
    if found.text is not None:
        return None, found.text
    stripped = text.strip(" .,!?")
    m = _BARE_DAY_MONTH.match(stripped)
    if m:
        d = _make(None, int(m.group(2)), int(m.group(1)), today, False)
        return (d, None) if d else None
    m = _BARE_YEAR.match(stripped)
    if m:
        y = year_of(m.group(1), today)
        if y is not None and _EARLIEST_YEAR <= y <= today.year:
            return None, stripped
    return None
