"""Normalisation of volunteer Thai text: Unicode clean-up, digits, repeats, keyboard slips, typos.

Knows nothing of what is extracted afterwards; abbreviations stay as written.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.thai import _resources, lexicon

_THAI = re.compile(r"[\u0e00-\u0e7f]")
_THAI_RUN = re.compile(r"^[\u0e00-\u0e7f]+$")
_ASCII_RUN = re.compile(r"[!-~]+")
# A repeated character run; ASCII letters and digits are left alone ("1000000", "www", "Mississippi").
_REPEATS = re.compile(r"([^0-9A-Za-z\s])\1{2,}")
_SPACES = re.compile(r"\s+")
_URLISH = re.compile(r"(?:https?:|www\.|@|\.com|\.co\b|\.th\b|\.net|\.org)", re.IGNORECASE)
# Thai characters that cannot start a written word (vowels above/below, tone marks, follow vowels).
_NO_WORD_START = frozenset("ะัาำิีึืฺุู็่้๊๋์ํๅ")
_MAX_PASSES = 4
# Short words that are whole words, never the fragment of a misspelt one ("หนองบัว|ใน" is no typo).
_FUNCTION_WORDS = frozenset(
    {"ใน", "ที่", "และ", "กับ", "ของ", "แต่", "จาก", "ไป", "มา", "ให้", "ได้", "ว่า", "นี้", "ก็", "จะ", "แล้ว"}
)


# Text made only of printable ASCII and Thai has no control or format character to strip.
_PLAIN = re.compile(r"[ -~\u0e01-\u0e5b]*")
_THAI_DIGITS = re.compile(r"[\u0e50-\u0e59]")


def _strip_controls(text: str) -> str:
    if _PLAIN.fullmatch(text):
        return text
    out: list[str] = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cf" or cat == "Cs" or cat == "Co" or cat == "Cn":
            continue
        out.append(" " if cat == "Cc" or cat in ("Zl", "Zp") else ch)
    return "".join(out)


def _clean(text: str) -> str:
    util = _resources.util()
    text = _strip_controls(text)
    if _marks_untidy().search(text):
        text = util.normalize(text)
        # pythainlp may leave stray format characters when it reorders marks; strip again.
        text = _strip_controls(text)
    if _THAI_DIGITS.search(text):
        text = util.thai_digit_to_arabic_digit(text)
    text = _REPEATS.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip()


@cache
def _marks_untidy() -> re.Pattern[str]:
    """Where PyThaiNLP's `normalize` could change anything; text without a match is already tidy.

    Built from PyThaiNLP's own character classes, so that the (slow, ~40 regex passes) call is made only
    for the few messages that need it; tests/thai/test_thai_normalize.py checks the equivalence.
    """
    _resources.util()
    import pythainlp as p

    signs = "\u0e3a\u0e4c\u0e4d\u0e4e"
    above_below = f"{p.thai_above_vowels}{p.thai_below_vowels}"
    dangling = re.escape(f"{above_below}{p.thai_tonemarks}{signs}")
    norepeat = re.escape(f"{p.thai_follow_vowels}{p.thai_lead_vowels}{above_below}{signs}")
    tones = re.escape(p.thai_tonemarks)
    marks = re.escape(f"{p.thai_above_vowels}{p.thai_below_vowels}")
    follow = re.escape(p.thai_follow_vowels)
    return re.compile(
        "|".join(
            (
                "[\u200b\u200c\n]",
                "  ",
                f"^[{dangling}]",
                f" [{dangling}]",
                "\u0e40\u0e40",
                f"[{tones}\u0e4c][{marks}]",
                "\u0e4d",
                f"[{follow}][{tones}]",
                "\u0e45",
                f"([{norepeat}]) *\\1",
                f"[{tones}]{{2,}}",
                "^ | $",
            )
        )
    )


@cache
def _names() -> frozenset[str]:
    _resources.util()
    from pythainlp.corpus import thai_family_names, thai_female_names, thai_male_names

    return frozenset(thai_family_names() | thai_female_names() | thai_male_names())


def _known(word: str) -> bool:
    return word in _resources.vocabulary() or word in _names()


def _segments_into_words(thai: str) -> bool:
    if _known(thai):
        return True
    parts = [p for p in _resources.tokenizer()(thai) if p.strip()]
    return 1 < len(parts) <= 3 and all(len(p) >= 2 and _known(p) for p in parts)


@lru_cache(maxsize=8192)
def _keyboard_fix(token: str) -> str | None:
    """The Thai word a Latin token was meant to be when typed with the wrong keyboard layout."""
    if len(token) < 3 or not any(c.isalpha() for c in token) or _URLISH.search(token):
        return None
    letters_only = token.isalpha()
    # Pure letters are usually real English (or a brand name): demand a longer, dictionary-exact result.
    if letters_only and len(token) < 5:
        return None
    thai = _resources.util().eng_to_thai(token)
    if not _THAI_RUN.match(thai) or thai[0] in _NO_WORD_START:
        return None
    if letters_only:
        return thai if _known(thai) and len(thai) >= 4 else None
    return thai if _segments_into_words(thai) else None


def fix_keyboard_slips(text: str) -> str:
    """Replace Latin tokens typed on the wrong layout ("m60ib9") by the Thai word they spell."""

    def repl(m: re.Match[str]) -> str:
        token = m.group(0)
        # Keep sentence punctuation that merely trails a slip outside the conversion.
        fixed = _keyboard_fix(token)
        return fixed if fixed is not None else token

    return _ASCII_RUN.sub(repl, text)


@cache
def _correction_targets() -> tuple[str, ...]:
    # District names are left out: a sequence of ordinary words one letter away from an amphoe name
    # ("วันจันทร์" / วังจันทร์) is far more common than a misspelt amphoe.
    places = set(_resources.district_index()) - set(lexicon.PROVINCE_ALIASES)
    terms = _resources.domain_terms() - places
    return tuple(sorted(t for t in terms if len(t) >= 4 and _THAI_RUN.match(t)))


@cache
def _targets_by_letter() -> dict[str, tuple[str, ...]]:
    index: dict[str, list[str]] = {}
    for target in _correction_targets():
        index.setdefault(target[0], []).append(target)
    return {k: tuple(v) for k, v in index.items()}


@cache
def _norvig() -> object:
    _resources.util()
    from pythainlp.spell import pn

    return pn.NorvigSpellChecker()


@lru_cache(maxsize=16384)
def _correct(candidate: str) -> str | None:
    if len(candidate) < 4 or _known(candidate) or candidate in lexicon.PROTECTED_TERMS:
        return None
    limit = 1 if len(candidate) <= 7 else 2
    # Only a target with the same first letter is taken, so only those are searched.
    targets = _targets_by_letter().get(candidate[0], ())
    hit = process.extractOne(candidate, targets, scorer=OSA.distance, score_cutoff=limit)
    if hit is not None and hit[0][0] == candidate[0] and abs(len(hit[0]) - len(candidate)) <= limit:
        return str(hit[0])
    return None


@lru_cache(maxsize=16384)
def _correct_word(word: str) -> str | None:
    """General-vocabulary fix of one out-of-vocabulary token, taken only when the answer is clear."""
    if len(word) < 4 or _known(word):
        return None
    from pythainlp.spell import pn

    checker = _norvig()
    known = checker.known(pn._edits1(word))  # type: ignore[attr-defined]
    if not known:
        return None
    ranked = sorted(known, key=checker.freq, reverse=True)  # type: ignore[attr-defined]
    if len(ranked) > 1 and checker.freq(ranked[0]) < 5 * checker.freq(ranked[1]):  # type: ignore[attr-defined]
        return None
    return str(ranked[0])


@lru_cache(maxsize=65536)
def _token_flags(token: str) -> tuple[bool, bool, bool]:
    """(a Thai word, a known word, a whole word that is no fragment of a misspelt one) for one token."""
    thai = _THAI_RUN.match(token) is not None
    known = thai and _known(token)
    return thai, known, known and (len(token) > 2 or token in _FUNCTION_WORDS)


def correct_spelling(text: str) -> str:
    """Correct misspelt out-of-vocabulary words (>= 4 characters); known and domain words are kept."""
    tokens = _resources.tokenizer()(text)
    flags = [_token_flags(t) for t in tokens]
    thai = [f[0] for f in flags]
    known = [f[1] for f in flags]
    # A misspelt word falls apart into fragments; a window of whole words is no candidate.
    whole = [f[2] for f in flags]
    if all(k or not th for th, k in zip(thai, known, strict=True)) and not any(
        thai[i] and thai[i + 1] and not (whole[i] and whole[i + 1]) for i in range(len(tokens) - 1)
    ):
        return text  # no window below is a candidate: nothing to correct
    out: list[str] = []
    i = 0
    while i < len(tokens):
        replaced = False
        if thai[i]:
            for n in (3, 2, 1):
                if i + n > len(tokens) or not all(thai[i : i + n]):
                    continue
                if (n > 1 and all(whole[i : i + n])) or (n == 1 and known[i]):
                    continue
                seg = tokens[i : i + n]
                joined = "".join(seg)
                fixed = _correct(joined)
                if fixed is not None and n > 1 and fixed in ("".join(seg[:-1]), "".join(seg[1:])):
                    fixed = None
                if fixed is None and n == 1:
                    fixed = _correct_word(seg[0])
                if fixed is not None:
                    out.append(fixed)
                    i += n
                    replaced = True
                    break
        if not replaced:
            out.append(tokens[i])
            i += 1
    return "".join(out)


def _one_pass(text: str) -> str:
    """One round of fixes over cleaned text; the result is cleaned again only where a fix changed it."""
    if _ASCII_RUN.search(text):
        fixed = fix_keyboard_slips(text)
        text = _clean(fixed) if fixed != text else text
    if _THAI.search(text):
        fixed = correct_spelling(text)
        text = _clean(fixed) if fixed != text else text
    return text


@lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    """Normalised text: idempotent (normalize(normalize(t)) == normalize(t))."""
    # Cleaning first saves a whole second pass for most messages (the pass would only re-check it).
    current = _clean(text)
    for _ in range(_MAX_PASSES):
        nxt = _one_pass(current)
        if nxt == current:
            return nxt
        current = nxt
    return current
