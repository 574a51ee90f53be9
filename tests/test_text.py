"""Text measuring and splitting shared by the LINE and Telegram adapters."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.text import graphemes, split_text, truncate_graphemes, utf16_len


@pytest.mark.parametrize(
    ("text", "clusters"),
    [
        ("น้ำ", ["น้ำ"]),
        ("ที่นี่", ["ที่", "นี่"]),
        ("กำลัง", ["กำ", "ลั", "ง"]),
        ("👨\u200d👩\u200d👧\u200d👦!", ["👨\u200d👩\u200d👧\u200d👦", "!"]),
        ("🇹🇭🇯🇵🇺", ["🇹🇭", "🇯🇵", "🇺"]),
        ("👍🏽", ["👍🏽"]),
        ("1\ufe0f\u20e3", ["1\ufe0f\u20e3"]),
        ("🏳\ufe0f\u200d🌈", ["🏳\ufe0f\u200d🌈"]),
        ("e\u0301", ["e\u0301"]),
        ("a\r\nb", ["a", "\r\n", "b"]),
        ("한국", ["한", "국"]),
        ("\u1100\u1161\u11a8", ["\u1100\u1161\u11a8"]),
        ("a\u200db", ["a\u200d", "b"]),
    ],
)
def test_grapheme_clusters(text: str, clusters: list[str]) -> None:
    assert graphemes(text) == clusters


@given(st.text())
def test_utf16_length_matches_the_encoding(text: str) -> None:
    assert utf16_len(text) == len(text.encode("utf-16-le", "surrogatepass")) // 2


PIECES = ["ก", "ที่", "น้ำ", "เงิน", "🍎", "👨\u200d👩\u200d👧", "🇹🇭", "e\u0301", " ", "\n", "a", "ๆ", "\u200b"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=200), st.integers(min_value=8, max_value=60))
def test_split_keeps_everything_within_the_limit_on_cluster_boundaries(pieces: list[str], limit: int) -> None:
    text = "".join(pieces)
    parts = split_text(text, limit)
    assert "".join(parts) == text
    assert all(0 < utf16_len(p) <= limit for p in parts)
    boundaries = {0}
    for cluster in graphemes(text):
        boundaries.add(max(boundaries) + len(cluster))
    offset = 0
    for part in parts:
        offset += len(part)
        assert offset in boundaries


def test_split_prefers_line_breaks_and_spaces() -> None:
    text = "คำร้องเรียน ข้อที่หนึ่ง\n" * 40
    parts = split_text(text, 100)
    assert all(p.endswith(("\n", " ")) for p in parts[:-1])


def test_a_single_oversized_cluster_is_cut_between_code_points() -> None:
    text = "a" + "\u0301" * 20 + "🍎"
    parts = split_text(text, 5)
    assert "".join(parts) == text
    assert all(utf16_len(p) <= 5 for p in parts)


def test_short_text_is_one_part_and_empty_is_none() -> None:
    assert split_text("สวัสดี", 5000) == ["สวัสดี"]
    assert split_text("", 5000) == []


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("ใช่", "ใช่"),
        ("ที่" * 20, "ที่" * 20),
        ("ที่" * 21, "ที่" * 19 + "…"),
        ("👨\u200d👩\u200d👧" * 25, "👨\u200d👩\u200d👧" * 19 + "…"),
    ],
)
def test_truncate_counts_clusters(label: str, expected: str) -> None:
    assert truncate_graphemes(label, 20) == expected
