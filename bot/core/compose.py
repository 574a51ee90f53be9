"""Broadcasts as the conversation sees them: the organizer's commands, audiences, the notice and
reminder as volunteers get them, RSVP buttons. The notice form itself is `bot/core/forms/notice.py`.

Pure like the engine: no I/O and no clock.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Protocol

from bot.core import words
from bot.core.catalog import ref, region_ref, thai_date
from bot.core.effects import BroadcastCommand, Rsvp
from bot.core.model import Audience, AudienceMember, BroadcastRecord, Button, Inbound, InboundKind, Reply
from bot.core.routing import CENTRAL, RegionTable
from bot.core.state import Flow, State

#: roles that may compose, list and cancel broadcasts
ORGANIZER_ROLES = frozenset({"organizer", "admin"})
#: Thailand has one time zone and no daylight saving
BANGKOK = timezone(timedelta(hours=7))
RSVP_ANSWERS = ("yes", "no", "ask")
MAX_TITLE = 200
MAX_PLACE = 200
MAX_BODY = 2000
RSVP_PREFIX = "b"  # volunteer buttons: b:<broadcast id>:<answer>


class WhenParser(Protocol):
    def parse_when(self, answer: str, today: date) -> tuple[date | None, tuple[int, int] | None]: ...

    def parse_province(self, answer: str) -> tuple[str, str | None] | None: ...


# ---- what volunteers see -------------------------------------------------------------------------


def when_ref(moment: datetime) -> dict[str, Any]:
    local = moment.astimezone(BANGKOK)
    return ref("common.date_time", date=thai_date(local.date()), time=f"{local:%H:%M}")


def rsvp_buttons(bc_id: int) -> tuple[Button, ...]:
    return tuple(Button(f"broadcast.rsvp.{a}", f"{RSVP_PREFIX}:{bc_id}:{a}") for a in RSVP_ANSWERS)


def notice_reply(bc: BroadcastRecord) -> Reply:
    """The notice exactly as volunteers get it (the preview uses broadcast id 0)."""
    details: list[Any] = []
    if bc.event_at is not None:
        details.append(ref("broadcast.line_when", when=when_ref(bc.event_at)))
    if bc.place:
        details.append(ref("broadcast.line_place", place=bc.place))
    params = {"title": bc.title, "details": details, "body": bc.body}
    if bc.rsvp:
        return Reply("broadcast.notice_rsvp", params, buttons=rsvp_buttons(bc.id or 0))
    return Reply("broadcast.notice", params)


def reminder_reply(bc: BroadcastRecord) -> Reply:
    assert bc.event_at is not None
    place = [ref("broadcast.line_place", place=bc.place)] if bc.place else []
    return Reply("broadcast.reminder", {"title": bc.title, "when": when_ref(bc.event_at), "place": place})


def parse_rsvp(payload: str) -> Rsvp | None:
    parts = payload.split(":")
    if len(parts) == 3 and parts[0] == RSVP_PREFIX and parts[1].isdigit() and parts[2] in RSVP_ANSWERS:
        return Rsvp(int(parts[1]), parts[2])
    return None


# ---- audience --------------------------------------------------------------------------------------

_REGION = re.compile(r"(?:เขต|region|ภาค)\s*([1-9])|(ส่วนกลาง|กลาง|central)", re.IGNORECASE)
_SPLIT = re.compile(r"\s*(?:,|、|และ|\band\b|\s)\s*")
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")


def parse_audience(
    text: str, understanding: WhenParser, *, regions: RegionTable
) -> tuple[Audience | None, list[str]]:
    """`เขต 3`, `สุรินทร์, บุรีรัมย์`, `เขต 3 และ โคราช` → Audience; also the words not understood."""
    plain = text.translate(_THAI_DIGITS).strip()
    if words.word(plain) == "everyone":
        return Audience(), []
    found_regions: list[str] = []
    for m in _REGION.finditer(plain):
        region = m.group(1) or CENTRAL
        if region not in found_regions:
            found_regions.append(region)
    rest = _REGION.sub(" ", plain)
    provinces: list[str] = []
    unknown: list[str] = []
    for word in (w for w in _SPLIT.split(rest) if w and w not in ("จ.", "จังหวัด")):
        word = word.removeprefix("จ.").removeprefix("จังหวัด")
        hit = understanding.parse_province(word)
        if hit is None or regions.get(hit[0]) is None:
            unknown.append(word)
        elif hit[0] not in provinces:
            provinces.append(hit[0])
    if not found_regions and not provinces:
        return None, unknown
    return Audience(tuple(found_regions), tuple(provinces)), unknown


def provinces_for(audience: Audience, regions: RegionTable) -> set[str] | None:
    """The home provinces an audience covers; None for everyone."""
    if audience.everyone:
        return None
    out = set(audience.provinces)
    for region in audience.regions:
        out.update(regions.provinces_of(region))
    return out


def audience_ref(audience: Audience) -> dict[str, Any]:
    if audience.everyone:
        return ref("broadcast.audience_everyone")
    parts: list[Any] = [region_ref(r) for r in audience.regions]
    parts += [ref("broadcast.audience_province", province=p) for p in audience.provinces]
    return ref("broadcast.audience_list", items=parts)


def choose(members: Iterable[AudienceMember], avoid: Collection[str] = ()) -> list[AudienceMember]:
    """One chat per volunteer: of the chats one person linked, the most recently used one,
    unless its channel is to be avoided (LINE when its monthly quota is short)."""
    best: dict[str, AudienceMember] = {}
    floor = datetime.min.replace(tzinfo=UTC)
    for m in members:
        held = best.get(m.person)
        if held is None:
            best[m.person] = m
            continue
        rank_new = (m.channel not in avoid, m.last_seen_at or floor)
        rank_held = (held.channel not in avoid, held.last_seen_at or floor)
        if rank_new > rank_held:
            best[m.person] = m
    return sorted(best.values(), key=lambda m: m.contact_id)


# ---- the organizer's commands ----------------------------------------------------------------------


def parse_command(text: str) -> BroadcastCommand | None:
    """`/broadcast` (compose), `/broadcast list`, `/broadcast report 12`, `/broadcast cancel 12`."""
    parts = text.strip().split()
    if not parts or parts[0].casefold().split("@")[0] not in words.BROADCAST_COMMANDS:
        return None
    if len(parts) == 1:
        return BroadcastCommand("compose")
    action = words.BROADCAST_ACTIONS.get(parts[1], parts[1].casefold())
    number = parts[2].lstrip("#") if len(parts) > 2 else ""
    if action == "list":
        return BroadcastCommand("list")
    if action in ("report", "cancel") and number.isdigit():
        return BroadcastCommand(action, int(number))
    return BroadcastCommand("help")


def wants_staff(state: State, inbound: Inbound) -> bool:
    """Whether a private-chat event needs the chat's staff record (organizer commands, help)."""
    if state.flow == Flow.NOTICE:
        return True
    if inbound.kind != InboundKind.TEXT:
        return False
    text = inbound.text.strip().casefold()
    # help in a staff chat lists the staff commands, so the chat's record is needed for it too
    return text.startswith(words.BROADCAST_COMMANDS) or text == "/help" or words.word(text) == "help"


def draft_record(draft: Mapping[str, Any], *, staff_chat_id: int | None, created_by: str) -> BroadcastRecord:
    """The confirmed form as a broadcast to store."""

    def moment(key: str) -> datetime | None:
        value = draft.get(key)
        return datetime.fromisoformat(value) if value else None

    return BroadcastRecord(
        title=str(draft.get("title") or ""),
        body=str(draft.get("body") or ""),
        audience=Audience.from_data(draft.get("audience")),
        place=draft.get("place") or None,
        event_at=moment("when"),
        rsvp=bool(draft.get("rsvp")),
        send_at=moment("send_at"),
        created_by=created_by,
        staff_chat_id=staff_chat_id,
    )
