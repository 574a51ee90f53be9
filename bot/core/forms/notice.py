"""The organizer's notice form (`/broadcast`): title, when, place, body, audience, RSVP, send time.

Each field says how its answer is read (Thai dates and times ahead, audiences of regions and
provinces); the form walker runs it like the report form, and the notice flow shows the preview.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time
from typing import Any

from bot.core import words
from bot.core.compose import BANGKOK, MAX_BODY, MAX_PLACE, MAX_TITLE, parse_audience, when_ref
from bot.core.forms import Field, Form, Invalid, Kind, Option, Reading


def _typed(answer: str) -> Invalid | None:
    return None if answer and any(ch.isalnum() for ch in answer) else Invalid("broadcast.need_text")


def _text(limit: int) -> Any:
    def parse(f: Field, answer: str, reading: Reading) -> Any:
        return _typed(answer.strip()) or answer.strip()[:limit]

    return parse


def _body(f: Field, answer: str, reading: Reading) -> Any:
    text = answer.strip()
    if (problem := _typed(text)) is not None:
        return problem
    if len(text) > MAX_BODY:
        return Invalid("broadcast.body_too_long", {"max": MAX_BODY, "length": len(text)})
    return text


def _moment(need_day: bool) -> Any:
    """A day and time still ahead, as an ISO moment (the event needs a day; the send time may be
    a time today)."""

    def parse(f: Field, answer: str, reading: Reading) -> Any:
        text = answer.strip()
        if (problem := _typed(text)) is not None:
            return problem
        now = reading.now
        today = now.astimezone(BANGKOK).date()
        day, clock = reading.understanding.parse_when(text, today)
        if day is None and (need_day or clock is None):
            return Invalid("broadcast.when_unclear")
        if clock is None:
            return Invalid("broadcast.when_no_time")
        moment = datetime.combine(day or today, time(*clock), BANGKOK).astimezone(UTC)
        if moment <= now:
            return Invalid("broadcast.when_past", {"when": when_ref(moment)})
        return moment.isoformat()

    return parse


def _audience(f: Field, answer: str, reading: Reading) -> Any:
    text = answer.strip()
    if (problem := _typed(text)) is not None:
        return problem
    audience, unknown = parse_audience(text, reading.understanding, regions=reading.regions)
    if unknown or audience is None:
        return Invalid("broadcast.audience_unknown", {"words": ", ".join(unknown) or text})
    return audience.to_data()


def _rsvp(f: Field, answer: str, reading: Reading) -> Any:
    said = answer if answer in ("rsvp_on", "rsvp_off") else words.word(answer)
    if said in ("rsvp_on", "yes", "rsvp_off", "no"):
        return said in ("rsvp_on", "yes")
    return Invalid("broadcast.choose_button")


def notice_draft(draft: Mapping[str, Any], reading: Reading) -> dict[str, Any]:
    """Every answer by its field id, None for what was skipped (the broadcast desk's input)."""
    return {f.id: draft.get(f.id) for f in NOTICE.fields}


NOTICE = Form(
    id="broadcast",
    fields=(
        Field(id="title", kind=Kind.TEXT, ask="broadcast.ask.title", parse=_text(MAX_TITLE)),
        Field(
            id="when", kind=Kind.TEXT, ask="broadcast.ask.when", optional=True, parse=_moment(need_day=True)
        ),
        Field(id="place", kind=Kind.TEXT, ask="broadcast.ask.place", optional=True, parse=_text(MAX_PLACE)),
        Field(id="body", kind=Kind.TEXT, ask="broadcast.ask.body", parse=_body),
        Field(
            id="audience",
            kind=Kind.TEXT,
            ask="broadcast.ask.audience",
            options=(Option("everyone", "broadcast.button.everyone"),),
            parse=_audience,
        ),
        Field(
            id="rsvp",
            kind=Kind.TEXT,
            ask="broadcast.ask.rsvp",
            options=(
                Option("rsvp_on", "broadcast.button.rsvp_on"),
                Option("rsvp_off", "broadcast.button.rsvp_off"),
            ),
            parse=_rsvp,
        ),
        # "now" skips the send time: the notice goes out at once
        Field(
            id="send_at",
            kind=Kind.TEXT,
            ask="broadcast.ask.send",
            optional=True,
            skip_label="broadcast.button.now",
            skip_as="now",
            parse=_moment(need_day=False),
        ),
    ),
    to_record=notice_draft,
    summary=False,
    numbered=True,
    back_button=False,
    button_step="bc",
)
