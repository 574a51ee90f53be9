"""When something will happen: a workshop's date and time, or when to send a notice.

The forward-looking twin of `bot.thai.dates` (which never returns a future date): Thai and
numeric dates with Buddhist-era years, today/tomorrow/weekdays ahead, and clock times written
as 13:30, 13.30 น., บ่ายสองโมง, ๙ โมงเช้า or สองทุ่ม. Pure functions of text and `today`.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from bot.thai import lexicon, numeral
from bot.thai.dates import date_patterns, month_of, year_of
from bot.thai.normalize import normalize

_N = r"(\d{1,2}|" + numeral.count_alternation(12) + ")"
_CLOCK = re.compile(r"(?<![\d/\-])(\d{1,2})\s*[:.]\s*(\d{2})(?![\d/\-.]\d)\s*(?:น\.?|นาฬิกา)?")
_HOUR_ONLY = re.compile(r"(?<![\d/\-.])(\d{1,2})\s*(?:น\.|นาฬิกา)")
_AFTERNOON = re.compile(r"บ่าย\s*" + _N + r"?\s*(?:โมง)?(?:\s*ครึ่ง)?")
_MORNING = re.compile(_N + r"\s*โมง\s*(เช้า|เย็น|ครึ่ง)?")
_EVENING = re.compile(_N + r"\s*ทุ่ม(\s*ครึ่ง)?")
_NOON = re.compile(r"เที่ยง(?!คืน)(?:\s*ตรง|วัน)?")
_RELATIVE = (
    (re.compile(r"มะรืน(?:นี้)?"), 2),
    (re.compile(r"พรุ่งนี้"), 1),
    (re.compile(r"วันนี้|คืนนี้|เย็นนี้|บ่ายนี้"), 0),
)
_IN_DAYS = re.compile(r"อีก\s*" + _N + r"\s*วัน")
_WEEKDAY = re.compile(r"วัน(จันทร์|จันทน์|อังคาร|พุธ|พฤหัสบดี|พฤหัสฯ|พฤหัส|ศุกร์|เสาร์|อาทิตย์)\s*(หน้า)?")


def _number(text: str | None, default: int) -> int:
    if not text:
        return default
    return int(text) if text.isdigit() else numeral.COUNT_WORDS[text]


def find_time(text: str) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """(hour, minute) in normalised text and the span it came from."""
    m = _CLOCK.search(text)
    if m and int(m.group(1)) < 24 and int(m.group(2)) < 60:
        return (int(m.group(1)), int(m.group(2))), m.span()
    m = _AFTERNOON.search(text)
    if m:
        hour = _number(m.group(1), 1)
        half = 30 if "ครึ่ง" in m.group(0) else 0
        return ((hour + 12) if hour < 12 else hour, half), m.span()
    m = _EVENING.search(text)
    if m:
        return (min(23, _number(m.group(1), 1) + 18), 30 if m.group(2) else 0), m.span()
    m = _MORNING.search(text)
    if m:
        hour = _number(m.group(1), 0)
        if m.group(2) == "เย็น" and hour < 12:
            hour += 12
        return (hour, 30 if m.group(2) == "ครึ่ง" else 0), m.span()
    m = _HOUR_ONLY.search(text)
    if m and int(m.group(1)) < 24:
        return (int(m.group(1)), 0), m.span()
    m = _NOON.search(text)
    if m:
        return (12, 0), m.span()
    return None, None


def _ahead(y: int | None, month: int, day: int, today: date) -> date | None:
    """A date on or after today; without a year, the next time that day comes round."""
    try:
        out = date(y if y is not None else today.year, month, day)
    except ValueError:
        return None
    if y is None and out < today:
        try:
            out = date(today.year + 1, month, day)
        except ValueError:
            return None
    return out


def find_day(text: str, today: date) -> date | None:
    pats = date_patterns()
    m = pats["iso"].search(text)
    if m:
        y = year_of(m.group(1), today)
        return _ahead(y, int(m.group(2)), int(m.group(3)), today) if y else None
    m = pats["numeric"].search(text)
    if m:
        y = year_of(m.group(4), today)
        return _ahead(y, int(m.group(3)), int(m.group(1)), today) if y else None
    m = pats["day_month"].search(text)
    if m:
        month = month_of(m.group(2))
        if month is not None:
            year = _future_year(m.group(3), today) if m.group(3) else None
            return _ahead(year, month, int(m.group(1)), today)
    for pattern, ahead in _RELATIVE:
        if pattern.search(text):
            return today + timedelta(days=ahead)
    m = _IN_DAYS.search(text)
    if m:
        return today + timedelta(days=_number(m.group(1), 1))
    m = _WEEKDAY.search(text)
    if m:
        wd = lexicon.THAI_WEEKDAYS[m.group(1)]
        days = (wd - today.weekday()) % 7
        if m.group(2) and days == 0:
            days = 7
        return today + timedelta(days=days)
    m = re.search(r"(?<![\d/\-.])(\d{1,2})\s?[/\-]\s?(\d{1,2})(?![\d/\-])", text)
    if m:
        return _ahead(None, int(m.group(2)), int(m.group(1)), today)
    return None


def _future_year(written: str, today: date) -> int | None:
    y = int(written)
    if len(written) == 2:
        return 2500 + y - 543  # two digits ahead of us are a Buddhist-era year ("69" = 2026)
    return year_of(written, today)


def parse_when(answer: str, today: date) -> tuple[date | None, tuple[int, int] | None]:
    """The date (today or later) and the clock time in an answer; either may be missing."""
    text = normalize(answer)
    clock, span = find_time(text)
    rest = text if span is None else text[: span[0]] + " " + text[span[1] :]
    return find_day(rest, today), clock
