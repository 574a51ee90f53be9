"""Effects: what a turn of the conversation asks the dispatcher (and the desks behind it) to do.

Plain frozen values, one module for all of them, so a reader sees every side effect the pure core
can ask for in one place. Knows no storage, no platform and no desk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.core.model import Button, TipRecord

# ---- the volunteer and their contact -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Consent:
    accepted: bool


@dataclass(frozen=True, slots=True)
class UpdateContact:
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ForgetMe:
    """Delete the contact, its conversation and the payloads of its inbox rows."""


@dataclass(frozen=True, slots=True)
class MarkUnreachable:
    pass


@dataclass(frozen=True, slots=True)
class ShowMyData:
    """`/mydata`: what is stored about this chat, in plain words."""


@dataclass(frozen=True, slots=True)
class EraseMe:
    """`/forget`, confirmed: withdraw unacknowledged tips, cut the chat from the others, and
    erase the contact, its drafts, links, notice settings and the chat's lookup."""


# ---- tips ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubmitTip:
    tip: TipRecord
    draft_id: str


@dataclass(frozen=True, slots=True)
class ForgetAttachment:
    message_ref: str


#: tip fields a volunteer's unsent message can be taken back from
REDACTABLE = ("story", "agency", "official", "contact_how")


@dataclass(frozen=True, slots=True)
class RedactTip:
    """The volunteer unsent the message that gave this field of a submitted tip."""

    case_code: str
    field: str


@dataclass(frozen=True, slots=True)
class WakeLater:
    """Come back to this chat `after` this long with a WAKE event carrying `token` (stored
    durably with the chat's events, so it survives a restart and keeps their order)."""

    after: timedelta
    token: str


# ---- staff chats ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JoinStaff:
    code: str


@dataclass(frozen=True, slots=True)
class LeaveStaff:
    pass


@dataclass(frozen=True, slots=True)
class StaffAction:
    """A staff command or button: list, detail, ack, menu, set, ask, reassign, link, unlink."""

    action: str
    code: str = ""
    arg: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class AnswerQuestion:
    """A reporter's answer to a question staff asked through the bot."""

    code: str
    staff_chat_id: int
    text: str


# ---- broadcasts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BroadcastCommand:
    """`/broadcast list`, `/broadcast report ID`, `/broadcast cancel ID`."""

    action: str
    bc_id: int | None = None


@dataclass(frozen=True, slots=True)
class PreviewBroadcast:
    """Show the notice as volunteers will see it, who would get it, and ask to confirm."""

    draft: dict[str, Any]
    buttons: tuple[Button, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class CreateBroadcast:
    draft: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rsvp:
    bc_id: int
    answer: str  # yes | no | ask


@dataclass(frozen=True, slots=True)
class AskOrganizer:
    """A volunteer's question about a notice (after tapping สอบถาม)."""

    bc_id: int
    text: str


@dataclass(frozen=True, slots=True)
class ShowNotices:
    """The notices panel: recent notices this volunteer received, and the opt-out setting."""


# ---- linking one person's chats ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkStart:
    """A volunteer asked for a code to link this chat with their chat on the other platform."""

    code: str


@dataclass(frozen=True, slots=True)
class LinkWith:
    """A volunteer sent a link code they got in their other chat."""

    code: str


@dataclass(frozen=True, slots=True)
class Unlink:
    pass


BroadcastEffect = BroadcastCommand | PreviewBroadcast | CreateBroadcast | Rsvp | AskOrganizer | ShowNotices
LinkEffect = LinkStart | LinkWith | Unlink

Effect = (
    Consent
    | UpdateContact
    | ForgetMe
    | MarkUnreachable
    | ShowMyData
    | EraseMe
    | SubmitTip
    | JoinStaff
    | LeaveStaff
    | ForgetAttachment
    | RedactTip
    | WakeLater
    | StaffAction
    | AnswerQuestion
    | BroadcastEffect
    | LinkEffect
)
