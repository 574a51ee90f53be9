"""Province and district (amphoe / khet) found in normalised Thai text or in a direct answer.

Owns the place-name tables built from the region table, our aliases and geothai; knows nothing of tips.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

from rapidfuzz import fuzz, process

from bot.core.routing import RegionTable
from bot.thai import _resources, lexicon
from bot.thai.normalize import normalize
from bot.thai.trie import trie_regex

_FUZZY_CUTOFF = 85.0
_BANGKOK = "กรุงเทพมหานคร"
_PROVINCE_MARKER = re.compile(r"(?:จังหวัด|(?<![\u0e00-\u0e7f])จ\.?)\s*$")
_DISTRICT_MARKER = re.compile(r"(?:อำเภอ|(?<![\u0e00-\u0e7f])อ\.|เขต|สภ\.?|สน\.)\s*$")
_SUBDISTRICT_MARKER = re.compile(r"(?:ตำบล|(?<![\u0e00-\u0e7f])ต\.)\s*$")
_HONORIFICS = ("นาย", "นาง", "นางสาว", "น.ส.", "คุณ", "ด.ช.", "ด.ญ.", "ชื่อ", "น้อง", "พี่", "ลุง", "ป้า")
# A shop or company named after a province ("ร้านเชียงใหม่การช่าง", "บริษัทระยองพัฒนา") is no place.
_BUSINESS_BEFORE = re.compile(r"(?:ร้าน|บริษัท|บจก\.|หจก\.|ห้าง|แบรนด์|ยี่ห้อ|ตรา)\s?$")
_GLUED_AFTER = re.compile(r"[\u0e01-\u0e2e\u0e40-\u0e44]")
_POLITE = re.compile(r"(ครับผม|ครับ|ค่ะ|คะ|จ้า|จ้ะ|ค่า|นะคะ|นะครับ|นะ|คับ|ฮะ)\s*$")
_TAIL_AFTER = re.compile(r"^(?:\s|$|[,.!?)(\"'/:;]|ครับ|ค่ะ|คะ|นะ|จ้า|คับ|แล้ว|มา|ไป|นี่|นี้|ด้วย|จ้ะ)")
_THAI_RUN = re.compile(r"[\u0e00-\u0e7f.ฯ]+")
_LATIN = re.compile(r"[A-Za-z]{2}")


@dataclass(frozen=True, slots=True)
class _Hit:
    province: str | None
    districts: tuple[_resources.District, ...]
    start: int
    end: int
    marked: bool


@dataclass(frozen=True, slots=True)
class _Tables:
    province_keys: dict[str, str]  # written form -> official Thai name
    english: re.Pattern[str]
    english_keys: dict[str, str]
    pattern: re.Pattern[str]
    fuzzy_names: tuple[str, ...]
    landmark_districts: dict[str, _resources.District]  # landmark as written -> its district


# What was said about a place just before it: where the volunteer lives or the company's head office
# (a passing mention), or where it happened (the place that routes the tip).
_HOME_BEFORE = re.compile(
    r"(?:บ้าน(?:ผม|ฉัน|หนู|เรา|ข่อย|ดิฉัน|เดิม)?(?:อยู่)?|(?:เป็น|เป็นชาว)คน|บ้านเกิด|ภูมิลำเนา|มาจาก|ย้ายมาจาก|"
    r"สำนักงานใหญ่(?:อยู่)?|สนญ\.?|ไปเที่ยว|เที่ยว|live in|from|head office in)\s*(?:ที่|จังหวัด|จ\.)?\s*$",
    re.IGNORECASE,
)
_INCIDENT_BEFORE = re.compile(
    r"(?:เกิดที่|เกิดเหตุ|เรื่องเกิด|เกิดขึ้น|ไปทำงาน|ทำงานอยู่|มาทำงาน|โรงงาน|สาขา|ไซต์งาน|happened|factory)"
    r"[^\n]{0,24}$",
    re.IGNORECASE,
)
# "ป.ป.ท. เขต 7", "ปปท.เขต 3", "PACC region 9": the volunteer names the regional office itself.
_REGION_NAMED = re.compile(
    r"(?:(?:ป\.?\s?){1,2}ท\.?|PACC)\s*(?:เขต|ภาค|region|area)\s*(\d)(?!\d)", re.IGNORECASE
)


@cache
def _tables(regions: RegionTable) -> _Tables:
    official = {p.name_th for p in regions.provinces}
    keys: dict[str, str] = {name: name for name in official}
    for alias, target in lexicon.PROVINCE_ALIASES.items():
        if target in official:
            keys[alias] = target
    english: dict[str, str] = {}
    for p in regions.provinces:
        if p.name_en:
            english[p.name_en.casefold()] = p.name_th
            english[p.name_en.casefold().replace(" ", "")] = p.name_th
    for alias, target in lexicon.ENGLISH_ALIASES.items():
        if target in official:
            english[alias] = target
    landmark_districts: dict[str, _resources.District] = {}
    for mark in _resources.landmarks():
        if mark.province not in official:
            continue
        if mark.name.isascii():
            english.setdefault(mark.name.casefold(), mark.province)
            key = mark.name.casefold()
        else:
            keys.setdefault(mark.name, mark.province)
            key = mark.name
        if mark.district:
            landmark_districts[key] = _resources.District(mark.district, mark.province)
    eng_alt = "|".join(re.escape(k).replace(r"\ ", r"[\s-]?") for k in sorted(english, key=len, reverse=True))
    eng_pattern = re.compile(r"(?<![A-Za-z])(" + eng_alt + r")(?![A-Za-z])", re.IGNORECASE)
    every = set(keys) | set(_resources.district_index())
    pattern = trie_regex(every)
    fuzzy = tuple(sorted({k for k in keys if len(k) >= 5 and not k.endswith("ฯ")}))
    fuzzy = tuple(n for n in fuzzy if n in official or n in lexicon.PROVINCE_ALIASES)
    return _Tables(keys, eng_pattern, english, pattern, fuzzy, landmark_districts)


def _preceding(text: str, start: int) -> str:
    return text[max(0, start - 16) : start]


def _marker(before: str, marker: re.Pattern[str]) -> bool:
    return marker.search(before) is not None


def _local(before: str) -> bool:
    stripped = before.rstrip()
    return any(stripped.endswith(p) for p in lexicon.LOCAL_PREFIXES)


def _honorific(before: str) -> bool:
    stripped = before.rstrip()
    return any(stripped.endswith(h) for h in _HONORIFICS)


def _hits(text: str, regions: RegionTable, *, whole_answer: bool) -> list[_Hit]:
    tables = _tables(regions)
    index = _resources.district_index()
    words = _resources.thai_words()
    bounds: frozenset[int] | None = None
    hits: list[_Hit] = []
    for m in tables.pattern.finditer(text):
        key, start, end = m.group(0), m.start(), m.end()
        before = _preceding(text, start)
        prov_marked = _marker(before, _PROVINCE_MARKER)
        dist_marked = _marker(before, _DISTRICT_MARKER)
        if _honorific(before) and not (prov_marked or dist_marked):
            continue
        province = tables.province_keys.get(key)
        if province is not None:
            glued = _GLUED_AFTER.match(text[end : end + 1]) is not None
            if not whole_answer and glued and _BUSINESS_BEFORE.search(before):
                continue
            if not whole_answer and not prov_marked:
                if _local(before) and not dist_marked:
                    continue
                if key in lexicon.STRICT_PROVINCES:
                    lead = any(before.endswith(w) for w in lexicon.PLACE_LEAD_WORDS)
                    if not (lead and _TAIL_AFTER.match(text[end:])):
                        continue
                if bounds is None:
                    bounds = _resources.token_bounds(text)
                if start not in bounds and not dist_marked:
                    continue
            own = tables.landmark_districts.get(key)
            hits.append(_Hit(province, (own,) if own else index.get(key, ()), start, end, prov_marked))
            continue
        districts = index.get(key, ())
        if not districts:
            continue
        if not dist_marked and not whole_answer:
            if _local(before) or _marker(before, _SUBDISTRICT_MARKER):
                continue
            if key not in lexicon.FAMOUS_DISTRICTS and (key in words or _common_subdistrict(key, districts)):
                continue
            if len(key) < 4:
                continue
            if bounds is None:
                bounds = _resources.token_bounds(text)
            if start not in bounds or end not in bounds:
                continue
        hits.append(_Hit(None, districts, start, end, dist_marked))
    # The English names are a long case-blind alternation: only worth scanning with Latin letters about.
    english = tables.english.finditer(text) if _LATIN.search(text) else iter(())
    for m in english:
        key = re.sub(r"[\s-]", "", m.group(1).casefold())
        province = tables.english_keys.get(m.group(1).casefold()) or tables.english_keys.get(key)
        if province is not None:
            own = tables.landmark_districts.get(m.group(1).casefold())
            hits.append(_Hit(province, (own,) if own else (), m.start(), m.end(), False))
    hits.sort(key=lambda h: h.start)
    return hits


@cache
def _subdistrict_provinces() -> dict[str, frozenset[str]]:
    import geothai

    index: dict[str, set[str]] = {}
    for p in geothai.provinces():
        for d in geothai.districts(p.code):
            for sub in geothai.subdistricts(d.code):
                index.setdefault(sub.name_th, set()).add(p.name_th)
    return {k: frozenset(v) for k, v in index.items()}


def _common_subdistrict(name: str, districts: tuple[_resources.District, ...]) -> bool:
    """True when a district name is also a tambon or village name in other provinces (หนองบัว, บ้านใหม่)."""
    own = {d.province for d in districts}
    return bool(_subdistrict_provinces().get(name, frozenset()) - own)


def _mueang(text: str, province: str) -> str | None:
    """The capital district when the text says อ.เมือง / สภ.เมือง without repeating the province."""
    if re.search(r"(?:อ\.|อำเภอ|สภ\.?)\s*เมือง", text):
        name = "เมือง" + province
        if name in _resources.district_index():
            return name
    return None


def _fuzzy_province(text: str, regions: RegionTable) -> str | None:
    tables = _tables(regions)
    candidates: list[str] = []
    for m in re.finditer(r"(?:จังหวัด|จ\.)\s*([\u0e00-\u0e7f]{3,})", text):
        run = m.group(1)
        candidates.extend(run[:n] for n in range(3, min(len(run), 18) + 1))
    if not candidates:
        return None
    best: tuple[float, str] | None = None
    for cand in candidates:
        hit = process.extractOne(cand, tables.fuzzy_names, scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF)
        if hit is not None and (best is None or hit[1] > best[0]):
            best = (hit[1], tables.province_keys[hit[0]])
    return best[1] if best else None


def _fuzzy_bare(text: str, regions: RegionTable) -> str | None:
    """A misspelt official name written without a marker, e.g. "กาญจนบุลี"."""
    tokens = _resources.tokenizer()(text)
    best: tuple[float, str] | None = None
    for i in range(len(tokens)):
        for n in (1, 2, 3):
            seg = tokens[i : i + n]
            if len(seg) < n or not all(_THAI_RUN.fullmatch(s) for s in seg):
                continue
            cand = "".join(seg)
            if len(cand) < 6 or cand in _resources.thai_words():
                continue
            hit = _fuzzy_one(cand, regions)
            if hit is not None and (best is None or hit[0] > best[0]):
                best = hit
    return best[1] if best else None


@lru_cache(maxsize=16384)
def _fuzzy_one(cand: str, regions: RegionTable) -> tuple[float, str] | None:
    """(score, province) of the official name a word of a message may misspell; words repeat, so cached."""
    tables = _tables(regions)
    hit = process.extractOne(cand, tables.fuzzy_names, scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF)
    if hit is None or hit[0][0] != cand[0]:
        return None
    return hit[1], tables.province_keys[hit[0]]


def _district_name(d: _resources.District) -> str:
    return d.name[3:] if d.province == _BANGKOK and d.name.startswith("เขต") else d.name


def _resolve(text: str, hits: list[_Hit], regions: RegionTable, fuzzy: bool) -> tuple[str | None, str | None]:
    provinces = [h for h in hits if h.province is not None]
    district_hits = [h for h in hits if h.districts]
    province: str | None = None
    if provinces:
        marked = [h for h in provinces if h.marked]
        mentioned = {h.province for h in provinces}
        # A province confirmed by a district of the same province outweighs a passing mention.
        confirmed = [
            h for h in provinces if any(d.province == h.province for x in district_hits for d in x.districts)
        ]
        chosen = marked or confirmed or provinces
        province = chosen[0].province
        if not marked and len(mentioned) > 1 and not confirmed:
            province = provinces[0].province
        if len(mentioned) > 1:
            # Prefer where it happened over where the volunteer lives or a head office is.
            def rank(h: _Hit) -> tuple[bool, bool, bool]:
                before = text[max(0, h.start - 40) : h.start]
                return (
                    _INCIDENT_BEFORE.search(before) is None,
                    _HOME_BEFORE.search(before) is not None,
                    h.province != province,
                )

            province = min(provinces, key=rank).province
    district: str | None = None
    ordered = sorted(district_hits, key=lambda h: (not h.marked, h.start))
    for h in ordered:
        if province is not None:
            same = [d for d in h.districts if d.province == province]
            if same:
                district = _district_name(same[0])
                break
            if h.province is None and h.marked and not provinces:
                continue
        else:
            owners = {d.province for d in h.districts}
            if len(owners) == 1:
                province = h.districts[0].province
                district = _district_name(h.districts[0])
            else:
                district = _district_name(h.districts[0])
            break
    if province is None and fuzzy:
        province = _fuzzy_province(text, regions) or _fuzzy_bare(text, regions)
    if province is not None and district is None:
        district = _mueang(text, province)
    return province, district


def find_region(text: str) -> str | None:
    """The PACC region a message names directly ("เคยร้องไปที่ ป.ป.ท. เขต 7"), or None."""
    m = _REGION_NAMED.search(text)
    if m and m.group(1) != "0":
        return m.group(1)
    return None


def find_place(text: str, regions: RegionTable | None = None) -> tuple[str | None, str | None]:
    """(province, district) mentioned in normalised free text; either may be None."""
    table = regions or _resources.default_regions()
    return _resolve(text, _hits(text, table, whole_answer=False), table, fuzzy=True)


def parse_province(answer: str, regions: RegionTable | None = None) -> tuple[str, str | None] | None:
    """(province, district or None) from a direct answer to "which province / district?"."""
    table = regions or _resources.default_regions()
    text = normalize(answer)
    text = _POLITE.sub("", text).strip(" .,!?")
    if not text:
        return None
    bare = re.sub(r"^(?:จังหวัด|จ\.|จ\s)\s*", "", text).strip()
    codes = _resources.province_abbreviations()
    code = bare.rstrip(".").replace(".", "")
    official = {p.name_th for p in table.provinces}
    if code in codes and codes[code] in official and len(bare) <= 4:
        return codes[code], None
    tables = _tables(table)
    if bare in tables.province_keys:
        return tables.province_keys[bare], None
    province, district = _resolve(text, _hits(text, table, whole_answer=True), table, fuzzy=True)
    if province is None:
        names = tuple(tables.province_keys) + tuple(tables.english_keys)
        hit = process.extractOne(bare.casefold(), names, scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF)
        if hit is not None:
            key = str(hit[0])
            province = tables.province_keys.get(key) or tables.english_keys.get(key)
    if province is None:
        return None
    return province, district
