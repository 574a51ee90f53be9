"""When something happened: Thai dates, Buddhist-era years, relative days and vague periods.

Pure functions of text and a given `today`; never reads the clock and never returns a future date as the
incident date (a date ahead of `today` is reported apart, as `DateFind.future` and `future_date`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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
    future: date | None = None  # a date after `today` the text names when it names no past one


# Said just before a date: when the volunteer heard of it or reported it, not when it happened.
_LATIN = re.compile(r"[A-Za-z]{2}")
_HEARD_BEFORE = re.compile(
    r"(?:(?:เพิ่ง|พึ่ง)?(?:รู้|ทราบ|ได้ยิน|ได้ข่าว|เห็นข่าว|ได้รับแจ้ง|รู้ข่าว)(?:มา|เรื่อง(?:นี้)?)?"
    r"|(?:แจ้ง|ส่งเรื่อง|ร้องเรียน|ร้อง|ส่ง)(?:ไป|มา)(?:แล้ว)?(?:ตั้งแต่)?"
    r"|(?:just\s+)?(?:heard|found out|learned|learnt|reported(?: it)?|sent(?: it)?)(?: about (?:it|this))?)"
    r"\s*(?:ตอน|เมื่อ|on)?\s*$",
    re.IGNORECASE,
)
# A date said to be ahead: "วันที่ 30 พ.ย. นี้", "ที่จะถึง".
_AHEAD_AFTER = re.compile(r"^\s*(?:นี้|ที่จะถึง(?:นี้)?|ที่จะมาถึง|ข้างหน้า)")
_AHEAD_DAYS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"มะรืน(?:นี้)?|day after tomorrow", re.IGNORECASE), 2),
    (re.compile(r"พรุ่งนี้|tomorrow", re.IGNORECASE), 1),
)
_COUNT_BEFORE = re.compile(r"(?:สอง|สาม|สี่|ห้า|หลาย|ไม่กี่|สัก|ซัก)\s*$")
_NAMED_TAIL = re.compile(
    r"\s*(ปีที่แล้ว|ปีก่อน|ปีกลาย|ปีนี้|ที่ผ่านมา|ที่แล้ว|last year|this year)?"
    r"(?:\s*(?:พ\.?\s?ศ\.?|ปี|of)?\s*(\d{4})(?![\d,]))?",
    re.IGNORECASE,
)
_NAMED_ENDS = re.compile(r"^(?:$|[^\u0e00-\u0e7f]|ปี|ที่|นี้|ครับ|ค่ะ|คะ|นะ|ตอน|เมื่อ|ของ|เรา|มี|มา|จ้า)")
_EN_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_EN_YEAR = r"(?:,?\s*(\d{4}))?(?![\d:])"
_EN_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
_EN_AGO = re.compile(r"\b(\d{1,3}|a|an|one|two|three|four|five|six|seven)\s+days?\s+ago\b", re.IGNORECASE)
_EN_RELATIVE: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"\b(?:the\s+)?day\s+before\s+yesterday\b", re.IGNORECASE), 2),
    (re.compile(r"\byesterday\b|\blast\s+night\b", re.IGNORECASE), 1),
    (re.compile(r"\btoday\b|\bthis\s+(?:morning|afternoon|evening)\b|\btonight\b", re.IGNORECASE), 0),
)
_EN_VAGUE = re.compile(
    r"\b(?:last|past|this)\s+(?:week|month|year)\b|\b(?:a\s+few|few|several|couple(?:\s+of)?)\s+"
    r"(?:days|weeks|months|years)\s+ago\b|\b(?:weeks|months|years)\s+ago\b|\brecently\b",
    re.IGNORECASE,
)


@cache
def _named_days() -> re.Pattern[str]:
    names = [*lexicon.NAMED_DAYS, *lexicon.CHILDRENS_DAY]
    alt = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(r"(?:เมื่อ\s*|ตอน\s*|on\s+)?(" + alt + ")", re.IGNORECASE)


@cache
def _english_dates() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    months = "|".join(sorted(lexicon.ENGLISH_MONTHS, key=len, reverse=True))
    weekdays = "|".join(sorted(lexicon.ENGLISH_WEEKDAYS, key=len, reverse=True))
    day_month = re.compile(
        r"(?<![\d/.])" + _EN_DAY + r"\s*(?:of\s+)?\b(" + months + r")\b\.?" + _EN_YEAR, re.IGNORECASE
    )
    month_day = re.compile(r"\b(" + months + r")\b\.?\s+" + _EN_DAY + r"\b" + _EN_YEAR, re.IGNORECASE)
    weekday = re.compile(r"\b(?:last|on|this\s+past|past)\s+(" + weekdays + r")\b", re.IGNORECASE)
    return day_month, month_day, weekday


def _childrens_day(year: int) -> date:
    first = date(year, 1, 1)
    first_saturday = first + timedelta(days=(5 - first.weekday()) % 7)
    return first_saturday + timedelta(days=7)


def _named_day(name: str, year: int) -> date:
    if name.casefold() in lexicon.CHILDRENS_DAY:
        return _childrens_day(year)
    month, day = lexicon.NAMED_DAYS[name.casefold() if name.isascii() else name]
    return date(year, month, day)


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
    ahead: list[tuple[int, date]] = []

    def heard(start: int) -> bool:
        return _HEARD_BEFORE.search(text[max(0, start - 24) : start]) is not None

    def full(y: int | None, m: int, d: int, start: int, out: list[tuple[int, date]]) -> None:
        """A date with its year written (or said to be ahead): past -> `out`, future -> `ahead`."""
        try:
            day = date(y if y is not None else today.year, m, d)
        except ValueError:
            return
        if day > today:
            ahead.append((start, day))
        elif day.year >= _EARLIEST_YEAR and not heard(start):
            out.append((start, day))

    for m in pats["iso"].finditer(text):
        spans.append(m.span())
        y = year_of(m.group(1), today)
        if y is not None:
            full(y, int(m.group(2)), int(m.group(3)), m.start(), exact)
    for m in pats["numeric"].finditer(text):
        if any(s <= m.start() < e for s, e in spans):
            continue
        spans.append(m.span())
        y = year_of(m.group(4), today)
        if y is not None:
            full(y, int(m.group(3)), int(m.group(1)), m.start(), exact)
    for m in pats["day_month"].finditer(text):
        month = month_of(m.group(2))
        if month is None:
            continue
        spans.append(m.span())
        year = year_of(m.group(3), today) if m.group(3) else None
        if m.group(3) and year is None:
            continue
        if year is not None or _AHEAD_AFTER.match(text[m.end() :]):
            full(year, month, int(m.group(1)), m.start(), exact)
            continue
        d = _make(year, month, int(m.group(1)), today, False)
        if d and not heard(m.start()):
            exact.append((m.start(), d))
    latin = _LATIN.search(text) is not None

    def english(pattern: re.Pattern[str]) -> Iterator[re.Match[str]]:
        return pattern.finditer(text) if latin else iter(())

    day_month_en, month_day_en, weekday_en = _english_dates()
    for m in english(day_month_en):
        if any(s <= m.start() < e for s, e in spans):
            continue
        spans.append(m.span())
        month = lexicon.ENGLISH_MONTHS[m.group(2).casefold()]
        y = year_of(m.group(3), today) if m.group(3) else None
        if y is not None:
            full(y, month, int(m.group(1)), m.start(), exact)
        elif (d := _make(None, month, int(m.group(1)), today, False)) and not heard(m.start()):
            exact.append((m.start(), d))
    for m in english(month_day_en):
        if any(s <= m.start() < e for s, e in spans):
            continue
        spans.append(m.span())
        month = lexicon.ENGLISH_MONTHS[m.group(1).casefold()]
        y = year_of(m.group(3), today) if m.group(3) else None
        if y is not None:
            full(y, month, int(m.group(2)), m.start(), exact)
        elif (d := _make(None, month, int(m.group(2)), today, False)) and not heard(m.start()):
            exact.append((m.start(), d))
    # Every Thai named day, weekday and "N วันก่อน" has วัน in it; the English ones need Latin letters.
    has_day = "วัน" in text
    named = _named_days().finditer(text) if has_day or latin else iter(())
    for m in named:
        if any(s <= m.start() < e for s, e in spans):
            continue
        tail = _NAMED_TAIL.match(text, m.end())
        end = tail.end() if tail else m.end()
        if not _NAMED_ENDS.match(text[m.end() :]):
            continue
        spans.append((m.start(), end))
        name = m.group(1)
        mod = (tail.group(1) or "") if tail else ""
        written = tail.group(2) if tail else None
        if written:
            y = year_of(written, today)
            if y is None:
                continue
        elif mod.casefold() in ("ปีที่แล้ว", "ปีก่อน", "ปีกลาย", "last year"):
            y = today.year - 1
        elif mod.casefold() in ("ปีนี้", "this year") or _AHEAD_AFTER.match(text[m.end() :]):
            y = today.year
        else:
            y = today.year if _named_day(name, today.year) <= today else today.year - 1
        day = _named_day(name, y)
        if day > today:
            ahead.append((m.start(), day))
        elif not heard(m.start()):
            exact.append((m.start(), day))
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
    for pattern, forward in _AHEAD_DAYS:
        for m in pattern.finditer(text):
            if not any(s <= m.start() < e for s, e in spans):
                spans.append(m.span())
                ahead.append((m.start(), today + timedelta(days=forward)))
    for m in _N_DAYS_AGO.finditer(text) if has_day else iter(()):
        spans.append(m.span())
        if _COUNT_BEFORE.search(text[: m.start(1)]):
            # "สองสามวันก่อน": a few days, no day
            vague.append((m.start(), _clean_span(m.group(0))))
            continue
        if heard(m.start()):
            continue
        n_text = m.group(1)
        n = int(n_text) if n_text.isdigit() else numeral.COUNT_WORDS[n_text]
        if n <= 400:
            relative.append((m.start(), today - timedelta(days=n)))
    for pattern, back in _RELATIVE_DAYS:
        for m in pattern.finditer(text):
            if any(s <= m.start() < e for s, e in spans):
                continue
            spans.append(m.span())
            if not heard(m.start()):
                relative.append((m.start(), today - timedelta(days=back)))
    for m in english(_EN_AGO):
        spans.append(m.span())
        word = m.group(1).casefold()
        n = int(word) if word.isdigit() else _EN_WORDS[word]
        if n <= 400 and not heard(m.start()):
            relative.append((m.start(), today - timedelta(days=n)))
    for pattern, back in _EN_RELATIVE:
        for m in english(pattern):
            if any(s <= m.start() < e for s, e in spans):
                continue
            spans.append(m.span())
            if not heard(m.start()):
                relative.append((m.start(), today - timedelta(days=back)))
    for m in english(weekday_en):
        if any(s <= m.start() < e for s, e in spans):
            continue
        spans.append(m.span())
        wd = lexicon.ENGLISH_WEEKDAYS[m.group(1).casefold()]
        back = (today.weekday() - wd) % 7 or 7
        if not heard(m.start()):
            relative.append((m.start(), today - timedelta(days=back)))
    for m in english(_EN_VAGUE):
        if not any(s <= m.start() < e for s, e in spans):
            spans.append(m.span())
            vague.append((m.start(), m.group(0)))
    for m in _WEEKDAY.finditer(text) if has_day else iter(()):
        if any(s <= m.start() < e for s, e in spans):
            continue
        spans.append(m.span())
        wd = lexicon.THAI_WEEKDAYS[m.group(1)]
        back = (today.weekday() - wd) % 7 or 7
        if not heard(m.start()):
            relative.append((m.start(), today - timedelta(days=back)))
    for m in pats["day_only"].finditer(text):
        if any(s <= m.start() < e for s, e in spans):
            continue
        spans.append(m.span())
        day_no = int(m.group(1))
        d = _make(today.year, today.month, day_no, today, True)
        if d is None and 1 <= day_no <= 31:
            prev = today.replace(day=1) - timedelta(days=1)
            d = _make(prev.year, prev.month, day_no, today, True)
        if d and not heard(m.start()):
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
    future = min(ahead)[1] if ahead else None
    if vague:
        return DateFind(None, min(vague)[1], tuple(spans), future)
    return DateFind(None, None, tuple(spans), future)


def future_date(answer: str, today: date) -> date | None:
    """The date an answer names when it lies after `today` and it names no earlier one; else None.

    `parse_date` never returns such a date (an incident cannot be in the future): this tells the
    conversation why an answer like "30 ธ.ค. 2568" or "พรุ่งนี้" was not taken.
    """
    text = normalize(answer)
    if not text:
        return None
    found = find_date(text, today)
    return found.future if found.day is None else None


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
