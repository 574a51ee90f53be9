"""Related tips: what two tips about one matter share, and how strongly that says "the same matter".

Pure: a tip's facts become signal strings (`features`), storage keeps only their keyed hashes (the
blind index), and `score` weighs what a stored tip shares with a new one. No I/O, no clock.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any

from bot.core.catalog import ref
from bot.thai import agency as thai_agency

#: signal kinds (the part of a feature before ":")
AGENCY = "agency"  # the same office in the same province
AGENCY_DISTRICT = "agency_district"  # ... and the same district
POSITION = "position"  # the same official's position at that office
PLACE = "place"  # the same district and category, within about a month
STORY = "story"  # narrative words, a consistent sample of them
KINDS = (AGENCY, AGENCY_DISTRICT, POSITION, PLACE, STORY)

#: days per time bucket of the place signal; a query looks at its bucket and both neighbours
PLACE_BUCKET_DAYS = 30
#: narrative words kept per tip: the same consistent sample on every tip (bottom-k of a hash)
STORY_SAMPLE = 24


@dataclass(frozen=True, slots=True)
class Weights:
    """How much each shared signal counts; a score at or above `threshold` is a suggestion."""

    agency: float = 0.35
    agency_district: float = 0.1
    position: float = 0.25
    place: float = 0.3
    same_category: float = 0.1
    story: float = 0.9
    threshold: float = 0.55


DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True, slots=True)
class Facts:
    """What the matcher reads of a tip (decrypted, in the process that has it)."""

    category: str
    narrative: str
    agency: str | None
    official: str | None
    province: str | None
    district: str | None
    when: date


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored tip that shares at least one hashed signal with the one being matched."""

    tip_id: int
    case_code: str
    region: str
    category: str
    status: str
    status_detail: str | None
    created_at: datetime
    hits: Mapping[str, int]
    story_size: int = 0


@dataclass(frozen=True, slots=True)
class Match:
    """A related tip: its score, the signals it shares, and whether staff confirmed it."""

    tip_id: int
    case_code: str
    region: str
    category: str
    status: str
    status_detail: str | None
    created_at: datetime
    score: float
    signals: tuple[str, ...]
    #: "suggested" (the matcher), "linked" (staff confirmed), "duplicate" (this one closed as a
    #: duplicate of the tip looked at), "original" (the tip looked at is a duplicate of this one)
    link: str = "suggested"


@dataclass(frozen=True, slots=True)
class RelatedView:
    """What one viewer may see of a tip's related tips: the ones of regions it may see, and for the
    others only how many there are in each region."""

    visible: tuple[Match, ...] = ()
    hidden: tuple[tuple[str, int], ...] = ()

    @property
    def count(self) -> int:
        return len(self.visible) + sum(n for _, n in self.hidden)


@dataclass(frozen=True, slots=True)
class Signals:
    """A tip's features, and the labels staff read in a reason (from this tip's own answers)."""

    index: tuple[str, ...]
    query: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    story_size: int = 0


def _h(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


@cache
def _stopwords() -> frozenset[str]:
    from pythainlp.corpus import thai_stopwords

    domain = {
        "เงิน", "บาท", "โครงการ", "เจ้าหน้าที่", "ทุจริต", "โกง", "แจ้ง", "เรื่อง", "ครับ", "ค่ะ", "คะ", "นะ",
        "จ้า", "ที่", "มี", "ไม่", "ได้", "ให้", "ว่า", "แล้ว", "ก็", "คน", "ปี", "เดือน", "วัน", "ตอน", "ช่วย",
        "หน่อย", "เลย", "มาก", "ด้วย", "ทาง", "ของ", "เขา", "พวก", "ชาวบ้าน", "หมู่บ้าน", "บ้าน",
        "อำเภอ", "จังหวัด", "ตำบล", "หมู่", "กัน", "อยู่", "เป็น", "จะ", "ไป", "มา", "เอา", "แต่", "และ",
    }  # fmt: skip
    return frozenset(thai_stopwords()) | frozenset(domain)


def story_words(narrative: str) -> list[str]:
    """Content words of a narrative, abbreviations written out, in one spelling."""
    from bot.thai._resources import tokenizer

    text = thai_agency.clean(narrative)
    stop = _stopwords()
    words: list[str] = []
    for tok in tokenizer()(text):
        tok = tok.strip()
        if len(tok) < 2 or tok in stop or not any("\u0e01" <= ch <= "\u0e2e" or ch.isalpha() for ch in tok):
            continue
        words.append(thai_agency.loose(tok))
    return words


def story_sample(narrative: str, k: int = STORY_SAMPLE) -> list[str]:
    """The same consistent sample on every tip: the k words (and word pairs) of lowest hash, so two
    tips sharing many words share many sampled ones."""
    words = story_words(narrative)
    grams = set(words) | {a + "+" + b for a, b in itertools.pairwise(words)}
    return sorted(grams, key=_h)[:k]


def _bucket(d: date) -> int:
    return d.toordinal() // PLACE_BUCKET_DAYS


def signals(facts: Facts) -> Signals:
    index: list[str] = []
    query: list[str] = []
    labels: dict[str, str] = {}
    province = facts.province or ""
    office = thai_agency.agency(facts.agency, facts.province)
    if office is None:
        # the office is often named in the story only ("ปลัด อบต.หนองบัว เรียกเงิน …")
        from bot.thai.who import find_agency

        found = find_agency(thai_agency.clean(facts.narrative))
        office = thai_agency.agency(found, facts.province) if found else None
    district = facts.district or (office.district if office else None)
    if district == "เมือง" and province:
        district = "เมือง" + province
    if office is not None:
        both = [f"{AGENCY}:{office.key}|{province}"]
        labels[AGENCY] = office.label + (f" อ.{district}" if district else "")
        if district:
            both.append(f"{AGENCY_DISTRICT}:{office.key}|{province}|{district}")
        title = thai_agency.position(facts.official)
        if title:
            both.append(f"{POSITION}:{office.key}|{province}|{title}")
            labels[POSITION] = f"{facts.official.strip() if facts.official else title} {office.label}"
        index += both
        query += both
    if district and province:
        b = _bucket(facts.when)
        index.append(f"{PLACE}:{province}|{district}|{facts.category}|{b}")
        query += [f"{PLACE}:{province}|{district}|{facts.category}|{x}" for x in (b - 1, b, b + 1)]
        labels[PLACE] = f"อ.{district} จ.{province}"
    story = [f"{STORY}:{w}" for w in story_sample(facts.narrative)]
    index += story
    query += story
    return Signals(tuple(index), tuple(query), labels, len(story))


def kind_of(feature: str) -> str:
    return feature.split(":", 1)[0]


def score(
    mine: Signals, category: str, cand: Candidate, weights: Weights = DEFAULT_WEIGHTS
) -> tuple[float, tuple[str, ...]]:
    """How likely `cand` concerns the same matter, and the signals that say so (strongest first)."""
    parts: list[tuple[float, str]] = []
    hits = cand.hits
    if hits.get(AGENCY):
        parts.append((weights.agency, AGENCY))
        if hits.get(AGENCY_DISTRICT):
            parts.append((weights.agency_district, AGENCY_DISTRICT))
        if cand.category == category:
            parts.append((weights.same_category, "category"))
    if hits.get(POSITION):
        parts.append((weights.position, POSITION))
    if hits.get(PLACE):
        parts.append((weights.place, PLACE))
    shared = hits.get(STORY, 0)
    if shared:
        size = min(mine.story_size, cand.story_size or mine.story_size) or 1
        overlap = shared / size
        if overlap >= 0.15:
            parts.append((weights.story * overlap, STORY))
    total = min(1.0, sum(w for w, _ in parts))
    named = tuple(s for _, s in sorted(parts, key=lambda p: -p[0]) if s != "category")
    return total, named


def matches(
    mine: Signals,
    category: str,
    candidates: Sequence[Candidate],
    weights: Weights = DEFAULT_WEIGHTS,
    limit: int = 10,
) -> list[Match]:
    out: list[Match] = []
    for c in candidates:
        s, named = score(mine, category, c, weights)
        if s >= weights.threshold and named:
            out.append(
                Match(
                    c.tip_id,
                    c.case_code,
                    c.region,
                    c.category,
                    c.status,
                    c.status_detail,
                    c.created_at,
                    round(s, 2),
                    named,
                )
            )
    out.sort(key=lambda m: (-m.score, -m.created_at.timestamp()))
    return out[:limit]


def reasons(mine: Signals, match: Match) -> list[dict[str, Any]]:
    """The reasons in words, from the viewer's own tip ("หน่วยงานเดียวกัน: อบต.หนองบัว อ.ปราสาท")."""
    out: list[dict[str, Any]] = []
    for s in match.signals:
        if s == AGENCY_DISTRICT:
            continue  # said by the agency reason, which names the district
        if s == STORY:
            out.append(ref("related.reason.story"))
        elif s in mine.labels:
            out.append(ref(f"related.reason.{s}", what=mine.labels[s]))
    if match.link in ("linked", "duplicate", "original"):
        out.insert(0, ref(f"related.reason.{match.link}"))
    return out
