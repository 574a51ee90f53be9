"""Thai number words: the one table of digit, unit and count words that dates, times and money read.

Knows words and their values only; how a number sits in a sentence is each reader's business.
"""

from __future__ import annotations

from typing import Final

DIGIT_WORDS: Final[dict[str, int]] = {
    "ศูนย์": 0,
    "หนึ่ง": 1,
    "เอ็ด": 1,
    "สอง": 2,
    "ยี่": 2,
    "สาม": 3,
    "สี่": 4,
    "ห้า": 5,
    "หก": 6,
    "เจ็ด": 7,
    "แปด": 8,
    "เก้า": 9,
}
UNIT_WORDS: Final[dict[str, int]] = {
    "สิบ": 10,
    "ร้อย": 100,
    "พัน": 1_000,
    "หมื่น": 10_000,
    "แสน": 100_000,
    "ล้าน": 1_000_000,
}
# เอ็ด and ยี่ only stand inside a longer number (สิบเอ็ด, ยี่สิบ), and nobody counts days or hours with ศูนย์.
_NOT_COUNTS = frozenset({"ศูนย์", "เอ็ด", "ยี่"})
#: a small count written as a word: "สามวันก่อน", "อีกห้าวัน", "สิบเอ็ดโมง" (hours go up to twelve)
COUNT_WORDS: Final[dict[str, int]] = {
    **{word: value for word, value in DIGIT_WORDS.items() if word not in _NOT_COUNTS},
    "สิบ": UNIT_WORDS["สิบ"],
    "สิบเอ็ด": 11,
    "สิบสอง": 12,
}


def count_alternation(most: int) -> str:
    """A regex alternation of the count words up to ``most``, longest first so "สิบเอ็ด" beats "สิบ"."""
    words = [word for word, value in COUNT_WORDS.items() if value <= most]
    return "|".join(sorted(words, key=len, reverse=True))
