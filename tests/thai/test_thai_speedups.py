"""The speed-ups change no answer: the tidy-text guard before PyThaiNLP's normalize, the trie patterns."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.thai import _resources
from bot.thai.normalize import _marks_untidy
from bot.thai.trie import trie_regex

_MARKS = "ะัาำิีึืฺุู็่้๊๋์ํๅเแโใไ"
_CHARS = [*"กขคงนมยรส", *_MARKS, " ", "\u200b", "\n", "a", "1"]
THAI = st.lists(st.sampled_from(_CHARS), max_size=20).map("".join)
FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(THAI)
def test_text_the_guard_passes_is_left_unchanged_by_pythainlp(text: str) -> None:
    if _marks_untidy().search(text) is None:
        assert _resources.util().normalize(text) == text


def test_guard_catches_the_usual_slips() -> None:
    for slip in ("เเละ", "ทํา", "จ่่าย", "  ", "ก\u200bข", "่ก"):
        assert _marks_untidy().search(slip), slip


WORDS = st.lists(st.text(alphabet="abกข", min_size=1, max_size=4), max_size=12)


@FAST
@given(WORDS, st.text(alphabet="abกข ", max_size=30))
def test_trie_pattern_finds_what_a_longest_first_alternation_finds(words: list[str], text: str) -> None:
    plain = re.compile("|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True)) or r"(?!x)x")
    assert [m.span() for m in trie_regex(words).finditer(text)] == [m.span() for m in plain.finditer(text)]


def test_nlpo3_cuts_thai_as_pythainlp_newmm_does() -> None:
    from pythainlp.tokenize import Tokenizer

    words = _resources.vocabulary()
    fast = _resources._nlpo3_segmenter(words)
    if fast is None:
        import pytest

        pytest.skip("nlpO3 is not installed: PyThaiNLP's newmm is used")
    slow = Tokenizer(custom_dict=words, engine="newmm", keep_whitespace=True).word_tokenize
    for text in (
        "นายก อบต.หนองบัว เรียกเงินใต้โต๊ะ ห้าแสนบาท ที่โคราช",
        "เจ้าหน้าที่ที่ดินอำเภอปากช่อง เรียกเงิน 5 แสน เมื่อวานนี้ เพื่อเร่งออกโฉนด",
        "บางแสนครับ เทศบาลเก็บเงินแม่ค้าริมหาด เจ้าละ 500 ไม่มีใบเสร็จ",
    ):
        assert fast(text) == slow(text), text
