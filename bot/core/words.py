"""The words the bot recognises when typed: commands, answers, and every button label.

One table for the whole conversation (report form, menus, the organizer's notice form, account
linking), so a word is added in one place; tests/test_words.py checks that every button label in
the locales is recognised when typed. Knows nothing of flows or state.
"""

from __future__ import annotations

import re
import unicodedata

WORDS: dict[str, tuple[str, ...]] = {
    "cancel": ("ยกเลิก", "cancel", "/cancel", "เลิก", "ยืนยันยกเลิก", "yes, cancel"),
    "back": ("ย้อนกลับ", "กลับ", "back", "/back", "ย้อน"),
    "skip": ("ข้าม", "skip", "/skip", "ไม่ทราบ", "ไม่รู้", "ไม่มี", "ไม่แน่ใจ"),
    "menu": ("เมนู", "menu", "/menu", "เมนูหลัก"),
    "help": ("ช่วยเหลือ", "help", "/help", "?", "วิธีใช้", "ช่วยด้วย"),
    "status": (
        "สถานะ",
        "status",
        "/status",
        "เรื่องของฉัน",
        "my tips",
        "my reports",
        "/mytips",
        "ติดตามเรื่อง",
    ),
    "report": ("แจ้งเบาะแส", "report", "/report", "แจ้งเรื่อง", "ร้องเรียน"),
    # "ติดต่อได้" / "ไม่ต้องติดต่อ": the contact question's buttons, typed
    "yes": (
        "ใช่",
        "yes",
        "ตกลง",
        "ok",
        "ถูกต้อง",
        "ใช่ครับ",
        "ใช่ค่ะ",
        "y",
        "ติดต่อได้",
        "ถามทางแชตได้",
        "ask in this chat",
        "yes, contact me",
    ),
    "no": (
        "ไม่ใช่",
        "no",
        "ไม่",
        "n",
        "ผิด",
        "ไม่ต้อง",
        "ไม่ต้องติดต่อ",
        "no contact",
        "no rsvp",
        "ไม่ต้องโทร",
        "no calls",
    ),
    "accept": ("ยินยอม", "ยอมรับ", "accept", "agree", "i agree", "ตกลง", "ยินยอมครับ", "ยินยอมค่ะ"),
    "decline": ("ไม่ยินยอม", "decline", "ไม่ยอมรับ", "ไม่ตกลง", "i do not agree"),
    "done": (
        "เสร็จ",
        "เสร็จแล้ว",
        "done",
        "พอแล้ว",
        "หมดแล้ว",
        "ครบแล้ว",
        "ไม่มีหลักฐาน",
        "no evidence",
        "เล่าจบแล้ว",
        "เล่าครบแล้ว",
        "จบแล้ว",
        "done telling",
    ),
    "confirm": ("ยืนยัน", "ส่ง", "confirm", "send", "ยืนยันส่ง"),
    "edit": ("แก้ไข", "edit", "แก้", "change"),
    "continue": ("ทำต่อ", "continue", "ต่อ", "กรอกต่อ", "keep going"),
    "restart": ("เริ่มใหม่", "restart", "start over"),
    "optout": ("หยุดรับข่าวสาร", "ไม่รับข่าวสาร", "stop notices", "/stopnotices"),
    "optin": ("รับข่าวสาร", "notices on", "get notices", "/notices"),
    "notices": ("ข่าวกิจกรรม", "ข่าวสาร", "notices", "/news"),
    # the reporter's rights: see what is stored, erase it (withdrawing consent is the same)
    "mydata": ("ข้อมูลของฉัน", "ดูข้อมูลของฉัน", "/mydata", "my data"),
    "forget": (
        "ลบข้อมูลของฉัน",
        "ลบข้อมูล",
        "ขอลบข้อมูล",
        "ขอลบข้อมูลของฉัน",
        "ถอนความยินยอม",
        "/forget",
        "delete my data",
        "withdraw consent",
    ),
    "forget_confirm": ("ยืนยันลบข้อมูล", "confirm deletion"),
    "forget_keep": ("ไม่ลบ", "ไม่ต้องลบ", "keep my data"),
    # the place question's button (it opens the platform's location picker)
    "location": ("ส่งโลเคชัน", "ส่งตำแหน่ง", "share location"),
    # the organizer's notice form
    "everyone": ("ทุกคน", "ทั้งหมด", "ทุกจังหวัด", "ทุกเขต", "everyone", "all"),
    "rsvp_on": ("ให้ตอบรับ", "ask for rsvp"),
    "now": ("ส่งทันที", "ทันที", "เดี๋ยวนี้", "now"),
}

#: words that are commands wherever they are typed, even in a free-text field
GLOBAL = (
    "cancel",
    "back",
    "skip",
    "menu",
    "help",
    "status",
    "report",
    "optout",
    "optin",
    "notices",
    "mydata",
    "forget",
)

#: account linking, typed outside a report
LINK_WORDS = frozenset({"/link", "เชื่อมบัญชี", "link account"})
UNLINK_WORDS = frozenset({"/unlink", "ยกเลิกเชื่อมบัญชี", "unlink account"})

#: the organizer's `/broadcast` command and its Thai sub-commands
BROADCAST_COMMANDS = ("/broadcast", "/ประกาศ")
BROADCAST_ACTIONS = {"รายการ": "list", "รายงาน": "report", "ยกเลิก": "cancel"}

_INDEX = {w.casefold(): cmd for cmd, words in WORDS.items() for w in words}
_POLITE = re.compile(r"(ครับ|ค่ะ|คะ|คับ|จ้ะ|จ้า|นะ)+$")
_INVISIBLE = {"Cf", "Cc", "Zs", "Zl", "Zp", "So", "Sk", "Mn"}


def word(text: str) -> str | None:
    """The command or answer a typed message is, polite particles forgiven; None for other text."""
    t = text.strip().casefold()
    if t in _INDEX:
        return _INDEX[t]
    t = _POLITE.sub("", t).strip()
    return _INDEX.get(t)


def without_politeness(text: str) -> str:
    return _POLITE.sub("", text.casefold()).strip()


def meaningful(text: str) -> bool:
    """False for empty, emoji-only, zero-width or punctuation-only messages."""
    return any(unicodedata.category(ch) not in _INVISIBLE and not ch.isspace() for ch in text) and any(
        ch.isalnum() for ch in text
    )
