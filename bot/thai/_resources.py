"""Lazily loaded language resources: PyThaiNLP word lists and tokenizer, geothai districts, region table.

Everything here is built once per process on first use; nothing touches the network or writes files.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, cast

from bot.core.routing import RegionTable
from bot.thai import lexicon


@cache
def _pythainlp_ready() -> None:
    # Importing pythainlp creates ~/pythainlp-data unless it is read-only; we only read bundled data, so
    # ask for read-only and offline mode unless the operator chose otherwise.
    os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")
    os.environ.setdefault("PYTHAINLP_OFFLINE", "1")


@cache
def util() -> Any:
    _pythainlp_ready()
    import pythainlp.util

    return pythainlp.util


@cache
def thai_words() -> frozenset[str]:
    _pythainlp_ready()
    from pythainlp.corpus import thai_words as words

    return frozenset(words())


@cache
def province_abbreviations() -> dict[str, str]:
    """Official two-letter Thai province codes (กบ, นม, …) -> official name."""
    _pythainlp_ready()
    from pythainlp.corpus import provinces

    rows = cast("list[dict[str, str]]", provinces(details=True))
    return {row["abbr_th"]: row["name_th"] for row in rows if row.get("abbr_th")}


@dataclass(frozen=True, slots=True)
class District:
    name: str  # official amphoe / khet name, e.g. "เมืองสุรินทร์", "เขตบางกะปิ"
    province: str


@cache
def districts() -> tuple[District, ...]:
    import geothai

    out: list[District] = []
    for p in geothai.provinces():
        for d in geothai.districts(p.code):
            out.append(District(d.name_th, p.name_th))
    return tuple(out)


@cache
def district_index() -> dict[str, tuple[District, ...]]:
    """Every written form of a district name -> the districts it can mean."""
    index: dict[str, list[District]] = {}
    for d in districts():
        keys = {d.name}
        if d.name.startswith("เขต") and d.province == "กรุงเทพมหานคร":
            keys.add(d.name[3:])
        for key in keys:
            index.setdefault(key, []).append(d)
    return {k: tuple(v) for k, v in index.items()}


@cache
def subdistrict_names() -> frozenset[str]:
    import geothai

    names: set[str] = set()
    for d in districts_codes():
        for s in geothai.subdistricts(d):
            names.add(s.name_th)
    return frozenset(names)


@cache
def districts_codes() -> tuple[str, ...]:
    import geothai

    return tuple(d.code for p in geothai.provinces() for d in geothai.districts(p.code))


@dataclass(frozen=True, slots=True)
class Landmark:
    name: str  # as written in messages: Thai or English
    province: str
    district: str | None
    kind: str  # landmark, island, industrial_estate, border_checkpoint, airport, old_name, nickname, …


# Words a kind of landmark is often written with ("นิคมอมตะนคร", "ด่านช่องเม็ก", "สนามบินอู่ตะเภา").
_LANDMARK_PREFIXES: dict[str, tuple[str, ...]] = {
    "industrial_estate": ("นิคม", "นิคมอุตสาหกรรม", "นิคมฯ"),
    "border_checkpoint": ("ด่าน", "ด่านพรมแดน", "ด่านศุลกากร", "จุดผ่านแดน", "จุดผ่อนปรน"),
    "airport": ("สนามบิน", "ท่าอากาศยาน", "ท่าอากาศยานนานาชาติ"),
    "national_park": ("อุทยานแห่งชาติ", "อุทยาน"),
}


@cache
def landmarks() -> tuple[Landmark, ...]:
    """The curated landmarks table (bot/thai/data/landmarks.csv), each written form once.

    Operators extend it by adding rows (name, province, district, kind, source); see README.
    """
    import csv
    import io
    from importlib import resources

    text = resources.files("bot.thai").joinpath("data/landmarks.csv").read_text("utf-8")
    out: dict[str, Landmark] = {}
    for row in csv.DictReader(io.StringIO(text)):
        name = row["name"].strip()
        province = row["province"].strip()
        if not name or not province:
            continue
        mark = Landmark(name, province, row.get("district", "").strip() or None, row.get("kind", "").strip())
        forms = [name]
        if not name.isascii():
            forms += [p + name for p in _LANDMARK_PREFIXES.get(mark.kind, ()) if not name.startswith(p)]
        for form in forms:
            out.setdefault(form, Landmark(form, mark.province, mark.district, mark.kind))
    return tuple(out.values())


@cache
def default_regions() -> RegionTable:
    return RegionTable.load()


@cache
def domain_terms() -> frozenset[str]:
    """Terms that spelling correction and the keyboard fix must respect."""
    terms: set[str] = set(lexicon.PROTECTED_TERMS)
    terms.update(lexicon.PROVINCE_ALIASES)
    terms.update(lexicon.ABBREVIATIONS)
    terms.update(lexicon.THAI_MONTHS)
    for cues in lexicon.CATEGORY_CUES.values():
        terms.update(phrase for phrase, _ in cues)
    terms.update(lexicon.GENERIC_CUES)
    terms.update(head for head, _ in lexicon.AGENCY_HEADS)
    terms.update(lexicon.POSITION_HEADS)
    terms.update(p.name_th for p in default_regions().provinces)
    terms.update(district_index())
    terms.update(m.name for m in landmarks())
    return frozenset(t for t in terms if t and not t.isascii())


@cache
def vocabulary() -> frozenset[str]:
    return thai_words() | domain_terms() | subdistrict_names()


def _nlpo3_segmenter(words: frozenset[str]) -> Callable[[str], list[str]] | None:
    """nlpO3's newmm (the same algorithm as PyThaiNLP's, in Rust, several times faster) over our words.

    nlpO3 loads a dictionary only from a file: the list goes into a private temporary file that is
    removed as soon as it is loaded. None (PyThaiNLP's newmm is used) where nlpO3 is unavailable or fails.
    """
    try:
        import nlpo3
    except ImportError:
        return None
    name = f"tipbot-{len(words)}-{hash(words) & 0xFFFFFFFF:x}"
    try:
        with tempfile.TemporaryDirectory(prefix="tipbot-words-") as folder:
            path = os.path.join(folder, "words.txt")
            with open(path, "w", encoding="utf-8") as out:
                out.write("\n".join(sorted(words)))
            _, ok = nlpo3.load_dict(path, name)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # nlpO3 reports I/O trouble as a Rust panic (a BaseException)
        return None
    if not ok:
        return None

    def segment(text: str) -> list[str]:
        return nlpo3.segment(text, name)

    return segment


@cache
def tokenizer() -> Callable[[str], tuple[str, ...]]:
    """newmm word cutting with our vocabulary: nlpO3 when installed, else PyThaiNLP's own."""
    _pythainlp_ready()
    cut = _nlpo3_segmenter(vocabulary())
    if cut is None:
        from pythainlp.tokenize import Tokenizer

        cut = Tokenizer(custom_dict=vocabulary(), engine="newmm", keep_whitespace=True).word_tokenize

    # Normalisation, place, money and office readers all cut the same text: cut it once.
    @lru_cache(maxsize=512)
    def tokenize(text: str) -> tuple[str, ...]:
        return tuple(cut(text))

    return tokenize


@lru_cache(maxsize=512)
def token_bounds(text: str) -> frozenset[int]:
    """The offsets where the tokenizer cuts ``text`` into words, its two ends included."""
    bounds = {0, len(text)}
    pos = 0
    for tok in tokenizer()(text):
        pos += len(tok)
        bounds.add(pos)
    return frozenset(bounds)
