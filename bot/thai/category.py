"""Category of a tip from keyword cues: codes, out-of-scope referrals, scoring.

Knows the category codes and their cue phrases; knows nothing of forms, buttons or message text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache, lru_cache
from types import MappingProxyType

from bot.thai import lexicon
from bot.thai.normalize import normalize

CATEGORIES: tuple[str, ...] = (
    "bribery",
    "procurement",
    "embezzlement",
    "abuse_of_power",
    "personnel",
    "conflict_of_interest",
    "permits_land",
    "forgery",
    "unusual_wealth",
    "policy",
    "election",
    "grievance",
    "other",
)

OUT_OF_SCOPE: Mapping[str, str] = MappingProxyType(
    {"unusual_wealth": "nacc", "policy": "nacc", "election": "ect", "grievance": "damrongdhama"}
)

_CONTRACT_CONTEXT = re.compile(r"สัญญา|รับเหมา|โครงการ|ก่อสร้าง|ประมูล|จัดจ้าง|จัดซื้อ|ผู้รับจ้าง")
_ELECTION_CONTEXT = re.compile(
    r"เลือกตั้ง|ผู้สมัคร|หัวคะแนน|กาเบอร์|ลงคะแนน|ส\.ส\.|ส\.อบต|นายก\s?อบต.*สมัคร|เบอร์\s?\d"
)


@cache
def _cues() -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
    owners: dict[str, list[tuple[str, int]]] = {}
    for code, cues in lexicon.CATEGORY_CUES.items():
        for phrase, weight in cues:
            owners.setdefault(phrase.replace(" ", "").casefold(), []).append((code, weight))
    for phrase in lexicon.GENERIC_CUES:
        owners.setdefault(phrase.casefold(), []).append(("other", 1))
    return tuple((k, tuple(v)) for k, v in sorted(owners.items(), key=lambda kv: -len(kv[0])))


@cache
def _cue_index() -> dict[str, tuple[tuple[int, str, tuple[tuple[str, int], ...]], ...]]:
    """Cues by their first two characters (one for a one-character cue), each with its rank in `_cues()`."""
    index: dict[str, list[tuple[int, str, tuple[tuple[str, int], ...]]]] = {}
    for rank, (phrase, owners) in enumerate(_cues()):
        index.setdefault(phrase[:2], []).append((rank, phrase, owners))
    return {k: tuple(v) for k, v in index.items()}


@lru_cache(maxsize=256)
def _scores(text: str) -> tuple[tuple[str, int], ...]:
    compact = text.replace(" ", "").casefold()
    index = _cue_index()
    # Every occurrence of every cue, taken longest cue first as a scan of `_cues()` in order would.
    hits: list[tuple[int, int, int, tuple[tuple[str, int], ...]]] = []
    for i in range(len(compact)):
        for key in (compact[i : i + 1], compact[i : i + 2]):
            for rank, phrase, owners in index.get(key, ()):
                if compact.startswith(phrase, i):
                    hits.append((rank, i, i + len(phrase), owners))
    hits.sort()
    taken: list[tuple[int, int]] = []
    out: dict[str, int] = {}
    for _, start, end, owners in hits:
        if not any(s <= start and end <= e for s, e in taken):
            taken.append((start, end))
            for code, weight in owners:
                out[code] = out.get(code, 0) + weight
    if _NOT_REAL.search(compact) and ("เบิก" in compact or "งบ" in compact or "จ้าง" in compact):
        out["embezzlement"] = out.get("embezzlement", 0) + 3
    if "หัวคิว" in compact and _CONTRACT_CONTEXT.search(compact):
        out["procurement"] = out.get("procurement", 0) + 5
    if _ASKED_MONEY.search(compact):
        out["bribery"] = out.get("bribery", 0) + 3
    if "แจกเงิน" in compact or "แจกของ" in compact:
        if _ELECTION_CONTEXT.search(compact):
            out["election"] = out.get("election", 0) + 4
        else:
            out["election"] = max(0, out.get("election", 0) - 2)
    return tuple((k, v) for k, v in out.items() if v > 0)


def scores(text: str) -> dict[str, int]:
    """Cue weight per category in normalised text; a cue inside a longer matched cue does not count."""
    return dict(_scores(text))


# "police wanted 2000 baht", "they asked for 500 baht", "took 500 baht from me": money demanded, in English.
_ASKED_MONEY = re.compile(
    r"(?:asked|asks|wanted|wants|demanded|demands|took|takes|charged|charges|collects?|collected|requested)"
    r"(?:me|us|him|her|them|for|a|an|extra)*(?:\d[\d,.]*k?|money|cash|baht)"
)
_MIN_SCORE = 2
_STRONG_SCORE = 3
# "ไม่ได้ขุดจริง", "ไม่มีคนมาทำจริง": paid for work that never happened.
_NOT_REAL = re.compile(r"ไม่(?:ได้|มี)[\u0e00-\u0e7f]{0,14}จริง")
# Questions about how things work ("สอบถาม…ต้องไปที่ไหน") are not tips unless a strong cue says so.
_INQUIRY = re.compile(r"สอบถาม|ต้องทำยังไง|ต้องทำอย่างไร|ต้องไปที่ไหน|ทำยังไงดี|ขอถาม|อยากถาม")


# A payment demanded for a permit, a land title or a document is bribery first: the permit is its object.
_ACT_OVER_OBJECT = {"permits_land": "bribery"}


def categories_normalized(text: str) -> tuple[str, ...]:
    """Every category the message points to, the main one (`classify_normalized`) first."""
    main = classify_normalized(text)
    if main is None:
        return ()
    found = {k: v for k, v in scores(text).items() if v >= _MIN_SCORE and k not in ("other", main)}
    rest = sorted(found, key=lambda k: (-found[k], lexicon.CATEGORY_PRIORITY.index(k)))
    return (main, *rest)


def classify_normalized(text: str) -> str | None:
    # A single weak cue (weight 1) is background, not a signal.
    found = {k: v for k, v in scores(text).items() if v >= _MIN_SCORE or k == "other"}
    generic = found.pop("other", 0)
    if _INQUIRY.search(text) and max(found.values(), default=0) < _STRONG_SCORE:
        return None
    corrupt = {k: v for k, v in found.items() if k != "grievance"}
    if corrupt:
        best = max(corrupt.values())
        # Grievance words beside a weak corruption cue do not make it a corruption report.
        if found.get("grievance", 0) > best and not generic:
            return "grievance"
        for code in lexicon.CATEGORY_PRIORITY:
            if corrupt.get(code) == best:
                act = _ACT_OVER_OBJECT.get(code)
                if act is not None and corrupt.get(act, 0) >= _MIN_SCORE:
                    return act
                return code
    if found.get("grievance"):
        return "grievance"
    if generic:
        return "other"
    return None


def classify(text: str) -> str | None:
    """Category code of a message, or None when nothing in it points to a category."""
    return classify_normalized(normalize(text))
