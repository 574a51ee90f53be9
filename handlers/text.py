"""Text as the platforms count it: UTF-16 units, grapheme clusters, and splitting long messages
without cutting a character, a Thai syllable or an emoji in two. Knows no platform API.
"""

from __future__ import annotations

import unicodedata


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (LINE and Telegram count so): most emoji count twice."""
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def _is_extended_pictographic(cp: int) -> bool:
    # An approximation of Unicode's Extended_Pictographic property, enough for ZWJ emoji sequences.
    return (
        0x1F000 <= cp <= 0x1FAFF
        or 0x2600 <= cp <= 0x27BF
        or 0x2300 <= cp <= 0x23FF
        or 0x2B00 <= cp <= 0x2BFF
        or cp in (0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x3030, 0x303D, 0x3297, 0x3299)
        or 0x2194 <= cp <= 0x21AA
    )


_CONTROL, _CR, _LF, _EXTEND, _ZWJ, _RI, _SPACING, _L, _V, _T, _LV, _LVT, _OTHER = range(13)


def _break_class(ch: str) -> int:
    cp = ord(ch)
    if ch == "\r":
        return _CR
    if ch == "\n":
        return _LF
    if cp == 0x200D:
        return _ZWJ
    if cp == 0x200C or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F:
        return _EXTEND
    if 0x1F1E6 <= cp <= 0x1F1FF:
        return _RI
    if cp in (0x0E33, 0x0EB3):  # Thai SARA AM and Lao AM attach to the preceding consonant
        return _SPACING
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return _L
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return _V
    if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
        return _T
    if 0xAC00 <= cp <= 0xD7A3:
        return _LV if (cp - 0xAC00) % 28 == 0 else _LVT
    category = unicodedata.category(ch)
    if category in ("Mn", "Me"):
        return _EXTEND
    if category == "Mc":
        return _SPACING
    if category in ("Cc", "Zl", "Zp") or (category == "Cf" and cp != 0x200D):
        return _CONTROL
    return _OTHER


def _joins(prev: int, cls: int, ch: str, *, ri_run: int, pictographic_zwj: bool) -> bool:
    """Whether no grapheme break falls between the previous character (class ``prev``) and ``ch``."""
    if prev == _CR and cls == _LF:
        return True
    if prev in (_CONTROL, _CR, _LF) or cls in (_CONTROL, _CR, _LF):
        return False
    if prev == _L and cls in (_L, _V, _LV, _LVT):
        return True
    if (prev in (_LV, _V) and cls in (_V, _T)) or (prev in (_LVT, _T) and cls == _T):
        return True
    if cls in (_EXTEND, _ZWJ, _SPACING):
        return True
    if prev == _ZWJ and pictographic_zwj:
        return _is_extended_pictographic(ord(ch))
    if prev == _RI and cls == _RI:
        return ri_run % 2 == 1
    return False


def graphemes(text: str) -> list[str]:
    """Split text into extended grapheme clusters (UAX #29 without Prepend and Indic conjuncts)."""
    clusters: list[str] = []
    current: list[str] = []
    prev = -1
    ri_run = 0  # regional indicators in the current run, to pair flags
    pictographic_zwj = False  # inside "pictographic Extend* ZWJ"
    in_pictographic = False  # inside "pictographic Extend*"
    for ch in text:
        cls = _break_class(ch)
        join = bool(current) and _joins(prev, cls, ch, ri_run=ri_run, pictographic_zwj=pictographic_zwj)
        if join:
            current.append(ch)
        else:
            if current:
                clusters.append("".join(current))
            current = [ch]
            ri_run = 0
            in_pictographic = False
        pictographic = _is_extended_pictographic(ord(ch))
        if pictographic:
            in_pictographic = True
        elif cls != _EXTEND and cls != _ZWJ:
            in_pictographic = False
        pictographic_zwj = in_pictographic and cls == _ZWJ
        ri_run = ri_run + 1 if cls == _RI else 0
        prev = cls
    if current:
        clusters.append("".join(current))
    return clusters


def truncate_graphemes(text: str, limit: int) -> str:
    """At most ``limit`` grapheme clusters; a shortened label ends with an ellipsis."""
    clusters = graphemes(text)
    if len(clusters) <= limit:
        return text
    return "".join(clusters[: limit - 1]) + "…"


def _split_oversized_cluster(cluster: str, limit: int) -> list[str]:
    # A single cluster over the limit (a letter with thousands of combining marks) cannot be kept
    # whole; cut between code points, which in a Python str never splits a surrogate pair.
    parts: list[str] = []
    current = ""
    for ch in cluster:
        if utf16_len(current) + utf16_len(ch) > limit:
            parts.append(current)
            current = ""
        current += ch
    if current:
        parts.append(current)
    return parts


def split_text(text: str, limit: int) -> list[str]:
    """Cut text into parts of at most ``limit`` UTF-16 units on grapheme boundaries.

    Prefers the last line break, then the last space, in the second half of a part, so readers
    rarely see a word cut in two. Joining the parts gives back the text exactly.
    """
    if utf16_len(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for cluster in graphemes(text):
        units = utf16_len(cluster)
        if units > limit:
            if current:
                parts.append("".join(current))
                current, size = [], 0
            parts.extend(_split_oversized_cluster(cluster, limit))
            continue
        if size + units > limit:
            cut = _preferred_cut(current)
            rest = sum(utf16_len(c) for c in current[cut:])
            if rest + units > limit:
                cut, rest = len(current), 0  # the carried-over tail would overflow: cut here instead
            parts.append("".join(current[:cut]))
            current = current[cut:]
            size = rest
        current.append(cluster)
        size += units
    if current:
        parts.append("".join(current))
    return parts


def _preferred_cut(clusters: list[str]) -> int:
    half = len(clusters) // 2
    for wanted in ("\n", " "):
        for i in range(len(clusters) - 1, half, -1):
            if clusters[i].startswith(wanted) or (wanted == "\n" and clusters[i] == "\r\n"):
                return i + 1
    return len(clusters)
