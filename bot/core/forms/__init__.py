"""Declarative forms: a field says everything about itself (question, label, how its answer is read,
what it may take from the volunteer's first message, how the summary shows it, its follow-up), and a
form maps its answers to its record. `bot.core.forms.walker` runs any form; no field id lives there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from bot.core.routing import RegionTable


class Kind(StrEnum):
    CHOICE = "choice"  # one of the options (buttons, or a typed label)
    TEXT = "text"  # free text
    PLACE = "place"  # province (and district) typed, or a shared location
    DATE = "date"  # a Thai date, Buddhist-era years, "เมื่อวาน"; vague periods kept as text
    MONEY = "money"  # an amount in baht, digits or words
    EVIDENCE = "evidence"  # photos, files, locations; several, then "done"
    CONTACT = "contact"  # may we contact you, and how


class Understanding(Protocol):
    """The Thai parsers a form reads answers with (see bot.thai, bot.core.understanding)."""

    def extract(self, text: str, today: date) -> Mapping[str, Any]: ...

    def parse_province(self, answer: str) -> tuple[str, str | None] | None: ...

    def locate(self, lat: float, lon: float) -> tuple[str, str | None] | None: ...

    def parse_date(self, answer: str, today: date) -> tuple[date | None, str | None] | None: ...

    def parse_amount(self, answer: str) -> int | None: ...

    def parse_when(self, answer: str, today: date) -> tuple[date | None, tuple[int, int] | None]: ...

    def classify(self, text: str) -> str | None: ...


class Reading(Protocol):
    """What reading an answer or making a record may use (the engine's Context is one)."""

    @property
    def now(self) -> datetime: ...

    @property
    def today(self) -> date: ...

    @property
    def regions(self) -> RegionTable: ...

    @property
    def understanding(self) -> Understanding: ...

    @property
    def story_pause(self) -> timedelta: ...

    def token(self, n: int) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why an answer could not be taken: a message key and its parameters."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)


#: how an answer is read: the stored value, or None / `Invalid` when the text is not an answer
Parse = Callable[["Field", str, Reading], Any]
#: what a field takes from what the understanding extracted of a free text (None: nothing)
Prefill = Callable[[Mapping[str, Any]], Any]
#: how the summary shows a value, given the whole draft (None: the kind's own way)
Show = Callable[[Any, Mapping[str, Any], Reading], Any]


@dataclass(frozen=True, slots=True)
class Option:
    id: str
    label: str  # message key


@dataclass(frozen=True, slots=True)
class Field:
    id: str  # stable, short: it travels in button payloads (Telegram allows 64 bytes)
    kind: Kind
    ask: str  # message key of the question
    label: str = ""  # message key of the field's name in the summary
    optional: bool = False
    #: a choice's options; on other kinds, buttons offered beside typing (their id is the answer)
    options: tuple[Option, ...] = ()
    #: how skipping looks for an optional field: its button and the word (or tapped value) meaning it
    skip_label: str = "button.skip"
    skip_as: str = "skip"
    min_length: int = 0
    max_length: int = 4000
    parse: Parse | None = None  # None: the kind's own reading (bot.core.forms.walker.read)
    prefill: Prefill | None = None  # may be filled from the volunteer's free text, then only confirmed
    show: Show | None = None
    #: asked right after this field when its answer is `when` (e.g. "how to contact you" after "yes")
    follow_up: Field | None = None
    when: str | None = None
    #: message keys: the answer could not be read; the field cannot be skipped (and why)
    invalid: str | None = None
    required: str = "report.required"
    #: the volunteer's own account of what happened: a long first message lands here
    narrative: bool = False
    #: its free text may already say what later fields ask (where, when, how much)
    rereads: bool = False
    #: the volunteer may take the answer back (unsend) after the tip is sent
    redactable: bool = False
    #: something to tell the volunteer about an answer (a referral), as (message key, params)
    note: Callable[[Any], tuple[str, dict[str, Any]] | None] | None = None


@dataclass(frozen=True, slots=True)
class Form:
    id: str
    fields: tuple[Field, ...] = field(default_factory=tuple)
    #: the confirmed answers as the record to store
    to_record: Callable[[Mapping[str, Any], Reading], Any] | None = None
    #: how the form is shown: a summary to confirm at the end (else the flow shows its own preview),
    #: questions numbered "n of total", a back button, and one button step name for every field
    summary: bool = True
    numbered: bool = False
    back_button: bool = True
    button_step: str | None = None
    #: cancelling asks first ("the draft will be lost"), since ยกเลิก sits next to ย้อนกลับ
    confirm_cancel: bool = False

    def get(self, field_id: str) -> Field | None:
        return next((f for f in self.fields if f.id == field_id), None)

    def index(self, field_id: str) -> int:
        return next(i for i, f in enumerate(self.fields) if f.id == field_id)

    def follow_up(self, field_id: str) -> tuple[Field, Field] | None:
        """(parent, follow-up) when `field_id` is a follow-up question of this form."""
        return next(
            ((f, f.follow_up) for f in self.fields if f.follow_up and f.follow_up.id == field_id), None
        )

    @property
    def narrative(self) -> Field | None:
        return next((f for f in self.fields if f.narrative), None)

    @property
    def redactable(self) -> frozenset[str]:
        ids = {f.id for f in self.fields if f.redactable}
        ids |= {f.follow_up.id for f in self.fields if f.follow_up and f.follow_up.redactable}
        return frozenset(ids)
