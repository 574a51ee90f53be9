"""One name for one public body: "อบต.หนองบัว", "องค์การบริหารส่วนตำบลหนองบัว" and "อบต. หนองบัว อ.เมือง"
are the same office. Also the official's position with the office taken out ("ปลัด อบต." → "ปลัด").

Pure string work on our own abbreviation table (`lexicon.ABBREVIATIONS`); no tokenizer needed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from bot.thai import lexicon

#: office kinds whose proper name follows them ("องค์การบริหารส่วนตำบล" + "หนองบัว"), longest first;
#: the value is the short form staff write
_HEADS: dict[str, str] = {
    "องค์การบริหารส่วนตำบล": "อบต.",
    "องค์การบริหารส่วนจังหวัด": "อบจ.",
    "โรงพยาบาลส่งเสริมสุขภาพตำบล": "รพ.สต.",
    "สำนักงานเขตพื้นที่การศึกษาประถมศึกษา": "สพป.",
    "สำนักงานเขตพื้นที่การศึกษามัธยมศึกษา": "สพม.",
    "สำนักงานสาธารณสุขจังหวัด": "สสจ.",
    "สำนักงานสาธารณสุขอำเภอ": "สสอ.",
    "สำนักงานที่ดินจังหวัด": "สนง.ที่ดินจังหวัด",
    "สำนักงานที่ดินอำเภอ": "สนง.ที่ดินอำเภอ",
    "สำนักงานที่ดิน": "สนง.ที่ดิน",
    "สถานีตำรวจภูธร": "สภ.",
    "สถานีตำรวจนครบาล": "สน.",
    "เทศบาลตำบล": "ทต.",
    "เทศบาลเมือง": "ทม.",
    "เทศบาลนคร": "ทน.",
    "โรงพยาบาล": "รพ.",
    "โรงเรียน": "รร.",
    "ที่ว่าการอำเภอ": "อำเภอ",
    "สำนักงานเกษตรอำเภอ": "เกษตรอำเภอ",
    "สำนักงานเกษตรจังหวัด": "เกษตรจังหวัด",
    "แขวงทางหลวงชนบท": "ทางหลวงชนบท",
    "แขวงทางหลวง": "แขวงทางหลวง",
    "การไฟฟ้าส่วนภูมิภาค": "กฟภ.",
    "การประปาส่วนภูมิภาค": "กปภ.",
}
#: abbreviations beyond `lexicon.ABBREVIATIONS`, and spellings without the dot(s)
_MORE: dict[str, str] = {
    "สสอ.": "สำนักงานสาธารณสุขอำเภอ",
    "ร.ร.": "โรงเรียน",
    "ร.พ.": "โรงพยาบาล",
    "รพสต.": "โรงพยาบาลส่งเสริมสุขภาพตำบล",
    "รพ.สต": "โรงพยาบาลส่งเสริมสุขภาพตำบล",
    "อ.บ.ต.": "องค์การบริหารส่วนตำบล",
    "อ.บ.จ.": "องค์การบริหารส่วนจังหวัด",
    "สนง.ที่ดิน": "สำนักงานที่ดิน",
}
#: where the proper name ends: a place qualifier or a word that starts a description
_NAME_END = re.compile(r"(อำเภอ|จังหวัด|ตำบล|หมู่ที่|หมู่|บ้านเลขที่|ที่|ของ|ซึ่ง|เรื่อง|กรณี|ใน|และ|\(|,|/)")
_DISTRICT = re.compile(r"(?:อำเภอ|(?<![ก-๙])เขต(?!พื้นที่))\s*([ก-๙]+)")
_SPACE = re.compile(r"\s+")
#: marks that volunteers add, drop or swap without changing the name they mean
_LOOSE = str.maketrans("", "", "\u0e48\u0e49\u0e4a\u0e4b\u0e47\u0e4c\u0e3a.-'\"")
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")


@dataclass(frozen=True, slots=True)
class Agency:
    """`key` is what two mentions of one office share; `label` is how staff read it."""

    key: str
    label: str
    head: str  # the office kind in full ("องค์การบริหารส่วนตำบล"); empty when unknown
    name: str  # its proper name ("หนองบัว"); the whole text when the kind is unknown
    district: str | None  # "อ.ปราสาท" written after it, without the "อ."


#: abbreviations that are not an office (positions, papers): position() reads those
_NOT_OFFICES = frozenset({"นส.3", "น.ส.3", "ตร.", "สว.", "จนท.", "ผอ.", "นอ.", "ผวจ.", "ผญบ.", "ผใบ."})


@cache
def _abbreviations() -> tuple[tuple[re.Pattern[str], str], ...]:
    table = {**lexicon.ABBREVIATIONS, **_MORE}
    pairs: list[tuple[re.Pattern[str], str]] = []
    for short, full in sorted(table.items(), key=lambda kv: -len(kv[0])):
        bare = short.rstrip(".")
        if len(bare) < 2 or short in (
            "นส.3",
            "น.ส.3",
            "ตร.",
            "สว.",
            "จนท.",
            "ผอ.",
            "นอ.",
            "ผวจ.",
            "ผญบ.",
            "ผใบ.",
        ):
            continue  # place words handled by clean(); positions handled by position()
        # "อบต.", "อบต " + name; "อบต" + name only for the longer ones (a short one is often a word)
        # without its dot only when no vowel or tone mark follows (so it ends a syllable)
        dot = r"(?:\.|(?![\u0e30-\u0e3a\u0e47-\u0e4e]))" if len(bare.replace(".", "")) >= 3 else r"\."
        pat = re.compile(rf"(?<![ก-๙]){re.escape(bare)}{dot}\s*")
        pairs.append((pat, full))
    return tuple(pairs)


def clean(text: str) -> str:
    """Abbreviations written out in full, Thai digits as Arabic, one space between words."""
    text = unicodedata.normalize("NFC", text).translate(_THAI_DIGITS).casefold()
    text = text.replace("\u200b", "").replace("ํา", "ำ")
    for pat, full in _abbreviations():
        text = pat.sub(full, text)
    # place qualifiers written short: "อ.เมือง", "จ.สุรินทร์", "ต.หนองบัว"
    text = re.sub(r"(?<![ก-๙])อ\.\s*", "อำเภอ", text)
    text = re.sub(r"(?<![ก-๙])จ\.\s*", "จังหวัด", text)
    text = re.sub(r"(?<![ก-๙])ต\.\s*", "ตำบล", text)
    return _SPACE.sub(" ", text).strip()


def loose(text: str) -> str:
    """Text compared as volunteers spell it: no spaces, tone marks or dots."""
    return _SPACE.sub("", text).translate(_LOOSE)


def agency(text: str | None, province: str | None = None) -> Agency | None:
    """The office a volunteer named, or None when there is nothing to go on."""
    if not text or not text.strip():
        return None
    cleaned = clean(text)
    district_m = _DISTRICT.search(cleaned)
    district = district_m.group(1) if district_m else None
    if district and district.startswith("เมือง") and len(district) == len("เมือง") and province:
        district = "เมือง" + province
    compact = cleaned.replace(" ", "")
    for head in sorted(_HEADS, key=len, reverse=True):
        at = compact.find(head)
        if at < 0 or at > 2:
            continue
        rest = compact[at + len(head) :]
        if head == "องค์การบริหารส่วนจังหวัด" and rest.startswith("จังหวัด"):
            rest = rest[len("จังหวัด") :]
        end = _NAME_END.search(rest)
        name = rest[: end.start()] if end and end.start() > 0 else rest
        if head in ("องค์การบริหารส่วนจังหวัด", "สำนักงานสาธารณสุขจังหวัด", "สำนักงานที่ดินจังหวัด"):
            name = name or (province or "")
        if not name:
            continue
        key = f"{head}|{loose(name)}"
        return Agency(key=key, label=_HEADS[head] + name, head=head, name=name, district=district)
    head_less = _NAME_END.split(compact, maxsplit=1)[0] if not compact.startswith("ที่") else compact
    name = head_less or compact
    if len(loose(name)) < 3:
        return None
    return Agency(key=f"|{loose(name)}", label=name, head="", name=name, district=district)


#: position words, longest first, as a volunteer may write them; value: one spelling for all
_POSITIONS: dict[str, str] = {
    "นายกองค์การบริหารส่วนตำบล": "นายก",
    "นายกเทศมนตรี": "นายก",
    "นายก": "นายก",
    "รองนายก": "รองนายก",
    "ปลัด": "ปลัด",
    "รองปลัด": "รองปลัด",
    "ผู้อำนวยการ": "ผู้อำนวยการ",
    "ผอ.": "ผู้อำนวยการ",
    "ผอ": "ผู้อำนวยการ",
    "รองผู้อำนวยการ": "รองผู้อำนวยการ",
    "รองผอ.": "รองผู้อำนวยการ",
    "หัวหน้าส่วนการคลัง": "ผู้อำนวยการกองคลัง",
    "ผู้อำนวยการกองคลัง": "ผู้อำนวยการกองคลัง",
    "ผอ.กองคลัง": "ผู้อำนวยการกองคลัง",
    "กองคลัง": "ผู้อำนวยการกองคลัง",
    "ผู้อำนวยการกองช่าง": "ผู้อำนวยการกองช่าง",
    "ผอ.กองช่าง": "ผู้อำนวยการกองช่าง",
    "นายช่าง": "นายช่าง",
    "กองช่าง": "ผู้อำนวยการกองช่าง",
    "เจ้าหน้าที่พัสดุ": "เจ้าหน้าที่พัสดุ",
    "จนท.พัสดุ": "เจ้าหน้าที่พัสดุ",
    "พัสดุ": "เจ้าหน้าที่พัสดุ",
    "เจ้าหน้าที่การเงิน": "เจ้าหน้าที่การเงิน",
    "การเงิน": "เจ้าหน้าที่การเงิน",
    "ครูใหญ่": "ผู้อำนวยการ",
    "กำนัน": "กำนัน",
    "ผู้ใหญ่บ้าน": "ผู้ใหญ่บ้าน",
    "ผญบ.": "ผู้ใหญ่บ้าน",
    "สารวัตร": "สารวัตร",
    "สว.": "สารวัตร",
    "ผู้กำกับ": "ผู้กำกับการ",
    "ผกก.": "ผู้กำกับการ",
    "ผู้กำกับการ": "ผู้กำกับการ",
    "นายอำเภอ": "นายอำเภอ",
    "เจ้าพนักงานที่ดิน": "เจ้าพนักงานที่ดิน",
    "หัวหน้า": "หัวหน้า",
    "ครู": "ครู",
    "แพทย์": "แพทย์",
    "หมอ": "แพทย์",
    "ตำรวจ": "ตำรวจ",
    "ตร.": "ตำรวจ",
}


def position(text: str | None) -> str | None:
    """The official's position in one spelling ("ปลัด อบต.", "ปลัดอบต" → "ปลัด"), or None."""
    if not text or not text.strip():
        return None
    compact = unicodedata.normalize("NFC", text).casefold().replace(" ", "").replace("ํา", "ำ")
    for word in sorted(_POSITIONS, key=len, reverse=True):
        if compact.startswith(word):
            return _POSITIONS[word]
    for word in sorted(_POSITIONS, key=len, reverse=True):
        if len(word) >= 4 and word in compact:
            return _POSITIONS[word]
    return None
