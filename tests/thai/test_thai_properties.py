"""Properties over arbitrary Unicode: nothing raises, normalize is idempotent, dates never in the future."""

from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.thai import classify, extract, normalize, parse_amount, parse_date, parse_province

TODAY = date(2025, 6, 15)
_PIECES = ["บาท", "แสน", "ล้าน", "หมื่น", "จ.", "อ.", "อบต.", "เมื่อวาน", "พ.ค.", "ห้า", "ครึ่ง", "โคราช", "m60ib9"]
THAI_ALPHABET = st.sampled_from(
    [*"กขคงจฉชซญดตถทนบปผพฟภมยรลวศสหอฮะาำิีึืุูเแโใไ่้๊๋็์ัๆฯ๐๑๒๓๔๕๖๗๘๙ .,/-0123456789\u200b", *_PIECES]
)
ANY_TEXT = st.one_of(st.text(max_size=60), st.lists(THAI_ALPHABET, max_size=25).map("".join))
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(ANY_TEXT)
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@FAST
@given(ANY_TEXT)
def test_nothing_raises(text: str) -> None:
    found = extract(text, TODAY)
    assert found.incident_date is None or found.incident_date <= TODAY
    assert found.amount_thb is None or found.amount_thb > 0
    classify(text)
    parse_amount(text)
    parse_province(text)
    answer = parse_date(text, TODAY)
    assert answer is None or answer[0] is None or answer[0] <= TODAY
