"""The staff group flow: what a staff chat (a group, or a private chat that joined) may type.

Group chats only ever get answers to `/join`, `/leave`, staff commands and help; the desk
(`bot.runtime.staff`) decides what a command may do. A volunteer's answer to a staff question is here too.
"""

from __future__ import annotations

import re
from dataclasses import replace

from bot.core import casecode, words
from bot.core.catalog import region_ref
from bot.core.conversation import Event
from bot.core.effects import AnswerQuestion, JoinStaff, LeaveStaff, StaffAction
from bot.core.flows.report import ReportFlow
from bot.core.model import Inbound, InboundKind, Reply
from bot.core.state import Flow
from bot.core.words import meaningful

_JOIN = re.compile(r"^/(?:join|start)(?:@\w+)?\s+([A-Za-z0-9-]{6,40})$", re.IGNORECASE)

_COMMANDS = {
    "/tips": "list",
    "/tip": "detail",
    "/status": "set",
    "/ask": "ask",
    "/reassign": "reassign",
    "/desk": "desk",
    # with a case code only: "/link" alone is a volunteer linking two chats (flows/menu.py)
    "/link": "link",
    "/unlink": "unlink",
}


#: status words staff may type after `/status CODE` (dots and spaces ignored), as the desk's codes;
#: a bare "close" has no outcome yet, so it opens the closing choices instead
_STATUS_WORDS: tuple[tuple[str, str], ...] = (
    ("รับเรื่องแล้ว", "acknowledged"),
    ("รับเรื่อง", "acknowledged"),
    ("กำลังตรวจสอบ", "in_review"),
    ("ตรวจสอบ", "in_review"),
    ("ส่งต่อปปช", "forwarded.nacc"),
    ("ส่งปปช", "forwarded.nacc"),
    ("ส่งต่อตำรวจ", "forwarded.police"),
    ("ส่งตำรวจ", "forwarded.police"),
    ("ส่งต่อหน่วยงานอื่น", "forwarded.other_agency"),
    ("ปิดเรื่องมีมูล", "closed.substantiated"),
    ("ปิดมีมูล", "closed.substantiated"),
    ("ปิดเรื่องไม่มีมูล", "closed.unsubstantiated"),
    ("ปิดไม่มีมูล", "closed.unsubstantiated"),
    ("ปิดเรื่องไม่อยู่ในอำนาจ", "closed.out_of_scope"),
    ("ปิดไม่อยู่ในอำนาจ", "closed.out_of_scope"),
    ("ปิดเรื่องนอกอำนาจ", "closed.out_of_scope"),
    ("ปิดเรื่องซ้ำ", "closed.duplicate"),
    ("ปิดซ้ำ", "closed.duplicate"),
    ("ปิดเรื่อง", "closed"),
)
_SQUEEZE = re.compile(r"[\s.:]+")


def status_words(rest: str) -> tuple[str, str]:
    """`ส่งต่อ ปปช. note` → (`forwarded.nacc`, `note`); codes (`in_review note`) pass through.

    The longest Thai phrase at the start wins; the words after it are the note.
    """
    rest = rest.strip()
    squeezed = _SQUEEZE.sub("", rest)
    for phrase, code in sorted(_STATUS_WORDS, key=lambda p: -len(p[0])):
        if squeezed.startswith(phrase):
            # find where the phrase ends in the original text (its letters in order)
            i, n = 0, 0
            while i < len(rest) and n < len(phrase):
                if not _SQUEEZE.fullmatch(rest[i]):
                    n += 1
                i += 1
            while i < len(rest) and _SQUEEZE.fullmatch(rest[i]):
                i += 1
            return code, rest[i:].strip()
    head, _, note = rest.partition(" ")
    return head, note.strip()


def asks_staff_help(ev: Event) -> bool:
    """`/help` or ช่วยเหลือ typed in a chat registered as a staff chat."""
    if ev.ctx.staff is None or not ev.ctx.staff.active or ev.inbound.kind != InboundKind.TEXT:
        return False
    return words.word(ev.text) == "help" or ev.text.casefold().split("@")[0] == "/help"


def staff_help(ev: Event) -> None:
    staff = ev.ctx.staff
    assert staff is not None
    ev.turn.replies.append(Reply("staff.help", {"region": region_ref(staff.region)}))
    ev.turn.save = False


def join_code(text: str) -> str | None:
    m = _JOIN.match(text.strip())
    if not m:
        return None
    code = m.group(1)
    if text.strip().casefold().startswith("/start") and not code.upper().startswith("JOIN"):
        return None
    return code


def staff_action(inbound: Inbound) -> StaffAction | None:
    """A staff command typed (`/status CODE STATUS note`) or a staff button (`s:ack:CODE`)."""
    if inbound.kind == InboundKind.BUTTON and inbound.button and inbound.button.startswith("s:"):
        parts = inbound.button.split(":", 3)
        if len(parts) < 3:
            return None
        return StaffAction(parts[1], casecode.find(parts[2]) or parts[2], parts[3] if len(parts) > 3 else "")
    if inbound.kind != InboundKind.TEXT:
        return None
    typed = inbound.text.strip().split(None, 3)
    if not typed:
        return None
    command = _COMMANDS.get(typed[0].casefold().split("@")[0])
    if command is None:
        return None
    code = casecode.find(typed[1]) if len(typed) > 1 else None
    rest = typed[2:] if len(typed) > 2 else []
    if command == "desk":
        return StaffAction("desk", code or "")
    if command != "list" and code is None:
        return None  # "/status" alone is a volunteer asking about their own tips
    if command == "list":
        return StaffAction("list")
    if command == "detail":
        return StaffAction("detail", code or "")
    if command in ("link", "unlink"):
        return StaffAction(command, code or "", " ".join(rest))
    if command == "set":
        if not rest:
            return StaffAction("set", code or "")
        status, note = status_words(" ".join(rest))
        if status == "closed":
            return StaffAction("menu", code or "", "closed", note)
        return StaffAction("set", code or "", status, note)
    if command == "reassign":
        return StaffAction(command, code or "", rest[0] if rest else "", rest[1] if len(rest) > 1 else "")
    return StaffAction("ask", code or "", "", " ".join(rest))


def group(ev: Event) -> None:
    inbound, turn, ctx = ev.inbound, ev.turn, ev.ctx
    if inbound.kind == InboundKind.JOINED_GROUP:
        turn.replies.append(Reply("staff.group_hint"))
    elif inbound.kind == InboundKind.LEFT_GROUP:
        turn.effects.append(LeaveStaff())
    elif (action := staff_action(inbound)) is not None:
        turn.effects.append(action)
    elif inbound.kind == InboundKind.TEXT:
        text = inbound.text.strip()
        if (code := join_code(text)) is not None:
            turn.effects.append(JoinStaff(code))
        elif text.casefold().split("@")[0] == "/leave":
            turn.effects.append(LeaveStaff())
        elif ctx.staff is not None and (
            text.casefold().split("@")[0] in ("/help", "/start") or words.word(text) == "help"
        ):
            turn.replies.append(Reply("staff.help", {"region": region_ref(ctx.staff.region)}))
    turn.save = False


def join(ev: Event) -> None:
    code = join_code(ev.text)
    assert code is not None
    ev.turn.effects.append(JoinStaff(code))


def act(ev: Event) -> None:
    action = staff_action(ev.inbound)
    assert action is not None
    ev.turn.effects.append(action)


def answers_question(ev: Event) -> bool:
    """The next thing the volunteer writes after a staff question is the answer."""
    return (
        ev.st.question is not None
        and ev.inbound.kind == InboundKind.TEXT
        and meaningful(ev.text)
        and words.word(ev.text) is None
        and not ev.text.startswith("/")
    )


def answer_question(ev: Event, report: ReportFlow) -> None:
    question = ev.st.question
    assert question is not None
    ev.turn.state = replace(ev.st, question=None)
    ev.turn.effects.append(AnswerQuestion(question.code, question.staff, ev.text))
    if ev.flow == Flow.REPORT:
        ev.turn.replies.append(report.question(ev.st, ev.ctx))
