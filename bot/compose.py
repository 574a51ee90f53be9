"""Broadcasts as the conversation sees them: the organizer's step-by-step notice form, the
volunteer's RSVP buttons, and the effects both ask the dispatcher for.

Pure like the engine: state and text in, replies and effects out; no I/O and no clock.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any, Protocol

from bot import words
from bot.catalog import ref, region_ref, thai_date
from bot.effects import BroadcastCommand, BroadcastEffect, CreateBroadcast, PreviewBroadcast, Rsvp
from bot.model import Audience, AudienceMember, BroadcastRecord, Button, Inbound, InboundKind, Reply
from bot.routing import CENTRAL, RegionTable

#: roles that may compose, list and cancel broadcasts
ORGANIZER_ROLES = frozenset({"organizer", "admin"})
#: Thailand has one time zone and no daylight saving
BANGKOK = timezone(timedelta(hours=7))
STEPS = ("title", "when", "place", "body", "audience", "rsvp", "send")
OPTIONAL = frozenset({"when", "place"})
RSVP_ANSWERS = ("yes", "no", "ask")
MAX_TITLE = 200
MAX_PLACE = 200
MAX_BODY = 2000
RSVP_PREFIX = "b"  # volunteer buttons: b:<broadcast id>:<answer>
STEP = "bc"  # organizer buttons: <stamp>:bc:<value>


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


# ---- the organizer's form ------------------------------------------------------------------------


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


def wants_staff(state: Mapping[str, Any], inbound: Inbound) -> bool:
    """Whether a private-chat event needs the chat's staff record (organizer commands)."""
    if state.get("flow") == "broadcast":
        return True
    return inbound.kind == InboundKind.TEXT and inbound.text.lstrip().casefold().startswith(
        words.BROADCAST_COMMANDS
    )


def _btn(stamp: str, label: str, value: str) -> Button:
    return Button(label, f"{stamp}:{STEP}:{value}")


@dataclass(slots=True)
class Step:
    """What one answer produced."""

    replies: list[Reply] = field(default_factory=list)
    effects: list[BroadcastEffect] = field(default_factory=list)
    done: bool = False  # the organizer left the form (sent, cancelled)


class Composer:
    """The `/broadcast` form: title, when, place, body, audience, RSVP, send time, preview."""

    def __init__(self, understanding: WhenParser, regions: RegionTable) -> None:
        self.understanding = understanding
        self.regions = regions

    def start(self, st: dict[str, Any], stamp: str) -> Step:
        st.clear()
        st.update(flow="broadcast", stamp=stamp, bc_step=STEPS[0], bc={})
        return Step([Reply("broadcast.start"), self.question(st)])

    def question(self, st: Mapping[str, Any]) -> Reply:
        step, stamp = str(st["bc_step"]), str(st["stamp"])
        number = {"n": STEPS.index(step) + 1, "total": len(STEPS)}
        cancel = _btn(stamp, "button.cancel", "cancel")
        if step in OPTIONAL:
            return Reply(
                f"broadcast.ask.{step}", number, buttons=(_btn(stamp, "button.skip", "skip"), cancel)
            )
        buttons: tuple[Button, ...]
        if step == "audience":
            buttons = (_btn(stamp, "broadcast.button.everyone", "everyone"), cancel)
            return Reply("broadcast.ask.audience", number, buttons=buttons)
        if step == "rsvp":
            buttons = (
                _btn(stamp, "broadcast.button.rsvp_on", "rsvp_on"),
                _btn(stamp, "broadcast.button.rsvp_off", "rsvp_off"),
                cancel,
            )
            return Reply("broadcast.ask.rsvp", number, buttons=buttons)
        if step == "send":
            return Reply(
                "broadcast.ask.send", number, buttons=(_btn(stamp, "broadcast.button.now", "now"), cancel)
            )
        return Reply(f"broadcast.ask.{step}", number, buttons=(cancel,))

    def confirm_buttons(self, stamp: str) -> tuple[Button, ...]:
        return (_btn(stamp, "broadcast.button.confirm", "confirm"), _btn(stamp, "button.cancel", "cancel"))

    def advance(
        self, st: dict[str, Any], *, text: str, value: str | None, word: str | None, now: datetime
    ) -> Step:
        step = str(st.get("bc_step"))
        draft: dict[str, Any] = st.setdefault("bc", {})
        choice = value or word
        if choice in ("cancel", "menu"):
            return Step([Reply("broadcast.cancelled")], done=True)
        if choice == "help":
            return Step([Reply("broadcast.help"), self._again(st)])
        if choice == "back" and step in STEPS and STEPS.index(step) > 0:
            st["bc_step"] = STEPS[STEPS.index(step) - 1]
            return Step([self.question(st)])
        if step == "confirm":
            if choice in ("confirm", "yes"):
                return Step([], [CreateBroadcast(dict(draft))], done=True)
            return Step([Reply("broadcast.confirm_again", buttons=self.confirm_buttons(str(st["stamp"])))])
        problem = self._take(step, draft, text=text.strip(), choice=choice, now=now)
        if problem is not None:
            return Step([problem, self.question(st)])
        position = STEPS.index(step) + 1
        if position < len(STEPS):
            st["bc_step"] = STEPS[position]
            return Step([self.question(st)])
        st["bc_step"] = "confirm"
        return Step([], [PreviewBroadcast(dict(draft), self.confirm_buttons(str(st["stamp"])))])

    def _again(self, st: Mapping[str, Any]) -> Reply:
        if st.get("bc_step") == "confirm":
            return Reply("broadcast.confirm_again", buttons=self.confirm_buttons(str(st["stamp"])))
        return self.question(st)

    def _take(
        self, step: str, draft: dict[str, Any], *, text: str, choice: str | None, now: datetime
    ) -> Reply | None:
        """Store one answer in the draft; a Reply says what was wrong with it."""
        if step in OPTIONAL and choice == "skip":
            draft[step] = None
            return None
        if step == "rsvp":
            if choice in ("rsvp_on", "yes", "rsvp_off", "no"):
                draft["rsvp"] = choice in ("rsvp_on", "yes")
                return None
            return Reply("broadcast.choose_button")
        if step == "send" and choice == "now":
            draft["send_at"] = None
            return None
        if step == "audience" and choice == "everyone":
            draft["audience"] = Audience().to_data()
            return None
        if not text or not any(ch.isalnum() for ch in text):
            return Reply("broadcast.need_text")
        if step == "title":
            draft["title"] = text[:MAX_TITLE]
        elif step == "place":
            draft["place"] = text[:MAX_PLACE]
        elif step == "body":
            if len(text) > MAX_BODY:
                return Reply("broadcast.body_too_long", {"max": MAX_BODY, "length": len(text)})
            draft["body"] = text
        elif step == "audience":
            audience, unknown = parse_audience(text, self.understanding, regions=self.regions)
            if unknown or audience is None:
                return Reply("broadcast.audience_unknown", {"words": ", ".join(unknown) or text})
            draft["audience"] = audience.to_data()
        elif step in ("when", "send"):
            moment, problem = self._moment(text, now, need_day=step == "when")
            if problem is not None:
                return problem
            assert moment is not None
            draft["when" if step == "when" else "send_at"] = moment.isoformat()
        return None

    def _moment(self, text: str, now: datetime, *, need_day: bool) -> tuple[datetime | None, Reply | None]:
        today = now.astimezone(BANGKOK).date()
        day, clock = self.understanding.parse_when(text, today)
        if day is None and (need_day or clock is None):
            return None, Reply("broadcast.when_unclear")
        if clock is None:
            return None, Reply("broadcast.when_no_time")
        moment = datetime.combine(day or today, time(*clock), BANGKOK).astimezone(UTC)
        if moment <= now:
            return None, Reply("broadcast.when_past", {"when": when_ref(moment)})
        return moment, None


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
