"""Related tips: what two tips about one matter share, and how strongly that says "the same matter".

Pure: a tip's facts become signal strings (`features`), storage keeps only their keyed hashes (the
blind index), and `score` weighs what a stored tip shares with a new one. No I/O, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from bot.core.catalog import ref
from bot.core.model import TipDetail
from bot.thai import agency as thai_agency

#: signal kinds (the part of a feature before ":")
AGENCY = "agency"  # the same office in the same province
AGENCY_DISTRICT = "agency_district"  # ... and the same district
POSITION = "position"  # the same official's position at that office
PLACE = "place"  # the same district and category, within about a month
STORY = "story"  # narrative words, a consistent sample of them
KINDS = (AGENCY, AGENCY_DISTRICT, POSITION, PLACE, STORY)

THAI_OFFSET = timedelta(hours=7)
#: days per time bucket of the place signal; a query looks at its bucket and both neighbours
PLACE_BUCKET_DAYS = 30
#: narrative words kept per tip: the same consistent sample on every tip (bottom-k of a hash)
STORY_SAMPLE = 24


@dataclass(frozen=True, slots=True)
class Weights:
    """How much each shared signal counts. A score is "where" (the same office, or the same place
    and category close in time) times "what" (a similar account, the same category, the same
    official): the same office about another matter, or the same story at another office, stays
    low. A score at or above `threshold` is a suggestion. Tuned on bench/data/related_eval.jsonl."""

    agency: float = 0.75
    agency_district: float = 0.15
    place: float = 0.45
    position: float = 0.25
    story: float = 1.6
    same_category: float = 0.3
    position_what: float = 0.3
    #: the least share of sampled words two accounts must have in common to count at all
    story_floor: float = 0.15
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


def facts(tip: TipDetail) -> Facts:
    """A stored tip's facts; its time is the incident date, else the Thai day it arrived."""
    return Facts(
        category=tip.category,
        narrative=tip.narrative,
        agency=tip.agency,
        official=tip.official,
        province=tip.province,
        district=tip.district,
        when=tip.incident_date or (tip.created_at + THAI_OFFSET).date(),
    )


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
    """The same consistent sample on every tip: the k words of lowest hash (bottom-k), so two tips
    sharing many words share many sampled ones. Word pairs were tried too and did no better on the
    evaluation set (bench/related_eval.py)."""
    return sorted(set(story_words(narrative)), key=_h)[:k]


def _bucket(d: date) -> int:
    return d.toordinal() // PLACE_BUCKET_DAYS


def signals(facts: Facts, *, story: bool = True) -> Signals:
    """A tip's features (`story=False`: without the narrative words, which need the tokenizer)."""
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
    words = [f"{STORY}:{w}" for w in story_sample(facts.narrative)] if story else []
    index += words
    query += words
    return Signals(tuple(index), tuple(query), labels, len(words))


def kind_of(feature: str) -> str:
    return feature.split(":", 1)[0]


def score(
    mine: Signals, category: str, cand: Candidate, weights: Weights = DEFAULT_WEIGHTS
) -> tuple[float, tuple[str, ...]]:
    """How likely `cand` concerns the same matter, and the signals that say so (strongest first)."""
    w = weights
    hits = cand.hits
    where: list[tuple[float, str]] = []
    what: list[tuple[float, str]] = []
    if hits.get(AGENCY):
        where.append((w.agency, AGENCY))
        if hits.get(AGENCY_DISTRICT):
            where.append((w.agency_district, AGENCY_DISTRICT))
    if hits.get(PLACE):
        where.append((w.place if not hits.get(AGENCY) else w.place / 3, PLACE))
    if hits.get(POSITION):
        where.append((w.position, POSITION))
        what.append((w.position_what, POSITION))
    shared = hits.get(STORY, 0)
    if shared:
        size = min(mine.story_size, cand.story_size or mine.story_size) or 1
        overlap = shared / size
        if overlap >= w.story_floor:
            what.append((w.story * overlap, STORY))
    if cand.category == category:
        what.append((w.same_category, "category"))
    total = min(1.0, sum(x for x, _ in where)) * min(1.0, sum(x for x, _ in what))
    strongest: dict[str, float] = {}
    for x, name in where + what:
        strongest[name] = max(strongest.get(name, 0.0), x)
    named = tuple(n for n, _ in sorted(strongest.items(), key=lambda p: -p[1]) if n != "category")
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
