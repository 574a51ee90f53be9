"""Who is involved: the office or agency named in a message and the official's position, as text spans.

Reads normalised text only; knows nothing of people's names or of how the spans are shown.
"""

from __future__ import annotations

import re
from functools import cache

from bot.thai import _resources, lexicon
from bot.thai.trie import trie_regex

# Words that end an office name written without a space before the next clause.
_STOP_WORDS = frozenset(
    {
        "เรียก",
        "ให้",
        "ได้",
        "มี",
        "ไม่",
        "ที่",
        "ซึ่ง",
        "เก็บ",
        "จ่าย",
        "ทำ",
        "ออก",
        "สั่ง",
        "รับ",
        "เอา",
        "แจ้ง",
        "ว่า",
        "ก็",
        "จะ",
        "และ",
        "กับ",
        "ของ",
        "ครับ",
        "ค่ะ",
        "คะ",
        "นะ",
        "มา",
        "ไป",
        "เป็น",
        "อยู่",
        "โดย",
        "ใน",
        "แล้ว",
        "ตอน",
        "เมื่อ",
        "กิน",
        "โกง",
        "ฮั้ว",
        "ยักยอก",
        "ช่วย",
        "ขอ",
        "เบิก",
        "ใช้",
        "ปล่อย",
        "จัด",
        "ซื้อ",
        "จ้าง",
        "สร้าง",
        "ทุจริต",
        "คน",
        "โครงการ",
        "เรื่อง",
        "ด้วย",
        "อีก",
        "ทุก",
        "เขา",
        "หลาย",
        "เงิน",
        "ค่า",
        "พวก",
        "นาย",
        "นาง",
        "เลย",
        "แต่",
        "หรือ",
        "คือ",
        "นี้",
        "นั้น",
        "มัน",
        "ก่อน",
        "หลัง",
        "กว่า",
        "จึง",
        "เพราะ",
        "ถ้า",
        "ยัง",
        "ต้อง",
        "อยาก",
        "เอง",
        "ชื่อ",
        "เพื่อ",
        "ตั้งแต่",
        "จน",
        "ถึง",
        "ไว้",
        "ทั้ง",
        "แห่ง",
        "ผม",
        "ฉัน",
        "หนู",
        "เรา",
        "ดิฉัน",
        "บอก",
        "พูด",
        "ขู่",
        "ถูก",
        "โดน",
        "แอบ",
        "ชอบ",
        "เคย",
        "กำลัง",
        "ครั้ง",
        "ปี",
        "เดือน",
        "วัน",
        "เดิม",
        "จำนวน",
        "ประมาณ",
        "แพง",
        "ปลอม",
        "ย้าย",
        "ถนน",
        "สอบ",
        "งาน",
        "งบ",
        "กัน",
        "หา",
    }
)
_GENERIC_POSITIONS = frozenset({"เจ้าหน้าที่", "จนท.", "ตำรวจ", "ตร.", "ครู", "เจ้าพนักงาน", "หัวหน้า", "หมอ"})
_GENERIC_AGENCIES = frozenset({"สำนักงาน", "สนง.", "กรม", "กระทรวง", "เทศบาล"})
_MAX_NAME_TOKENS = 4


@cache
def _agency_pattern() -> re.Pattern[str]:
    return trie_regex(h for h, _ in lexicon.AGENCY_HEADS)


@cache
def _position_pattern() -> re.Pattern[str]:
    # Trie-shaped alternations match what longest-first ones would, faster.
    heads = trie_regex(lexicon.POSITION_HEADS).pattern
    quals = trie_regex(lexicon.POSITION_QUALIFIERS).pattern
    return re.compile("(" + heads + r")(?:(\s?)(" + quals + "))?")


@cache
def _place_names() -> re.Pattern[str]:
    names = (
        set(_resources.subdistrict_names()) | set(_resources.district_index()) | set(lexicon.PROVINCE_ALIASES)
    )
    names |= {p.name_th for p in _resources.default_regions().provinces}
    names |= {"เมือง" + p.name_th for p in _resources.default_regions().provinces}
    return trie_regex(names)


def _place_prefix(run: str) -> str | None:
    for prefix in ("บ้าน", "วัด", ""):
        if not run.startswith(prefix):
            continue
        m = _place_names().match(run, len(prefix))
        if m and len(m.group(0)) >= 2:
            return prefix + m.group(0)
    return None


@cache
def _cue_words() -> frozenset[str]:
    return _resources.domain_terms() - set(_resources.district_index()) - _resources.subdistrict_names()


# Village and school names often end in a direction or size word: บ้านโคกใน, บ้านหนองบัวเหนือ.
_NAME_SUFFIX = re.compile(r"(?:ใน|นอก|เหนือ|ใต้|ใหม่|เก่า|น้อย|ใหญ่|กลาง|ตะวันออก|ตะวันตก|พัฒนา|สามัคคี)")
_PLACE_NEXT = re.compile(r"\s?(?:อำเภอ|อ\.|ตำบล|ต\.|จังหวัด|จ\.|เขต|เมือง|พื้นที่|หมู่|ม\.|ซอย|แถว|ย่าน)")
_MY_HOME = re.compile(r"^(?:บ้าน|วัด)(?:ผม|เรา|ฉัน|หนู|ข่อย|เฮา|กู|ดิฉัน|พี่|น้อง)")


def _name_after(text: str, pos: int, head: str) -> str:
    rest = text[pos:]
    lead = ""
    if rest.startswith(" ") and head.endswith("."):
        lead, rest = " ", rest[1:]
    m = re.match(r"[\u0e00-\u0e7f.]+", rest)
    if not m:
        return ""
    run = m.group(0)
    if _MY_HOME.match(run):
        return ""
    place = _place_prefix(run)
    if place:
        tail = _NAME_SUFFIX.match(run, len(place))
        if tail and not _PLACE_NEXT.match(run, tail.end()) and not _place_names().match(run, tail.end()):
            place = run[: tail.end()]
        return lead + place
    if lead:
        # After "อบจ. " a name is a place: ordinary words ("หัวละ", "ทุกแห่ง") are the next clause.
        return ""
    kept: list[str] = []
    agency = _agency_pattern()
    for tok in _resources.tokenizer()(run):
        if (
            tok in _STOP_WORDS
            or agency.fullmatch(tok)
            or tok in lexicon.POSITION_HEADS
            or tok in _cue_words()
        ):
            break
        kept.append(tok)
        if len(kept) >= _MAX_NAME_TOKENS:
            break
    name = "".join(kept).rstrip(".")
    return lead + name if name else ""


def find_agency(text: str) -> str | None:
    """The office named in normalised text, with its place name when one follows ("อบต.หนองบัว")."""
    named: list[str] = []
    bare: list[str] = []
    bounds: frozenset[int] | None = None
    takes_name = dict(lexicon.AGENCY_HEADS)
    for m in _agency_pattern().finditer(text):
        head = m.group(0)
        if bounds is None:
            bounds = _resources.token_bounds(text)
        if m.start() not in bounds:
            continue
        name = _name_after(text, m.end(), head) if takes_name.get(head, False) else ""
        if name:
            named.append(head + name)
        elif head not in _GENERIC_AGENCIES:
            bare.append(head)
    if named:
        return named[0]
    return bare[0] if bare else None


def find_official(text: str) -> str | None:
    """The accused official's position in normalised text ("ปลัด อบต.", "ผอ.โรงเรียน", "กำนัน")."""
    specific: list[str] = []
    generic: list[str] = []
    bounds: frozenset[int] | None = None
    for m in _position_pattern().finditer(text):
        head, space, qual = m.group(1), m.group(2), m.group(3)
        before = text[max(0, m.start() - 4) : m.start()]
        if head.startswith("นายก") and before.endswith("นคร"):
            continue
        if bounds is None:
            bounds = _resources.token_bounds(text)
        if m.start() not in bounds:
            continue
        if not qual and m.end() not in bounds and not head.endswith((".", "ฯ")):
            continue
        if qual:
            joiner = " " if (space or "." in qual) and not head.endswith(".") else ""
            span = head + joiner + qual
        else:
            span = head
        (generic if head in _GENERIC_POSITIONS and not qual else specific).append(span)
    if specific:
        return specific[0]
    return generic[0] if generic else None
