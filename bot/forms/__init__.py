"""Declarative forms: fields, kinds, options and what the summary shows. The engine walks any form."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    CHOICE = "choice"  # one of the options (buttons, or a typed label)
    TEXT = "text"  # free text
    PLACE = "place"  # province (and district) typed, or a shared location
    DATE = "date"  # a Thai date, Buddhist-era years, "เมื่อวาน"; vague periods kept as text
    MONEY = "money"  # an amount in baht, digits or words
    EVIDENCE = "evidence"  # photos, files, locations; several, then "done"
    CONTACT = "contact"  # may we contact you, and how


@dataclass(frozen=True, slots=True)
class Option:
    id: str
    label: str  # message key


@dataclass(frozen=True, slots=True)
class Field:
    id: str  # stable, short: it travels in button payloads (Telegram allows 64 bytes)
    kind: Kind
    ask: str  # message key of the question
    label: str  # message key of the field's name in the summary
    optional: bool = False
    options: tuple[Option, ...] = ()
    min_length: int = 0
    max_length: int = 4000
    prefill: bool = False  # may be filled from the volunteer's free text, then only confirmed


@dataclass(frozen=True, slots=True)
class Form:
    id: str
    fields: tuple[Field, ...] = field(default_factory=tuple)

    def get(self, field_id: str) -> Field | None:
        return next((f for f in self.fields if f.id == field_id), None)

    def index(self, field_id: str) -> int:
        return next(i for i, f in enumerate(self.fields) if f.id == field_id)
