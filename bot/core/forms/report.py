"""The tip report form, in the order a volunteer is asked (DESIGN "Conversations"): every field's
question, how its answer is read, what the first message may already say, and the tip it becomes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from bot.core import casecode
from bot.core.catalog import ref, thai_date
from bot.core.forms import Field, Form, Invalid, Kind, Option, Reading
from bot.core.forms.walker import read
from bot.core.model import Location, TipRecord
from bot.core.routing import CENTRAL
from bot.core.words import meaningful
from bot.thai.category import CATEGORIES, OUT_OF_SCOPE

__all__ = ["CATEGORIES", "REFERRALS", "REPORT"]

#: the category codes and out-of-scope referrals are the Thai-understanding module's, so the
#: buttons and the classifier can never disagree
REFERRALS = OUT_OF_SCOPE


def _category(f: Field, answer: str, reading: Reading) -> Any:
    """A number, a category code, or a short typed phrase the classifier knows."""
    chosen = read(f, answer, reading)
    if chosen is None and meaningful(answer) and len(answer) < 15:
        return reading.understanding.classify(answer)
    return chosen


def _when_answer(f: Field, answer: str, reading: Reading) -> Any:
    """A past date (or a vague period); a date in the future is named back as such, not "unreadable"."""
    value = read(f, answer, reading)
    if value is not None:
        return value
    future, _ = reading.understanding.parse_when(answer, reading.today)
    if future is not None and future > reading.today:
        return Invalid("report.when.future", {"date": thai_date(future)})
    return None


def _referral(category: Any) -> tuple[str, dict[str, Any]] | None:
    if category in REFERRALS:
        return "report.out_of_scope", {"referral": ref(f"referral.{REFERRALS[category]}")}
    return None


def _place(found: Mapping[str, Any]) -> dict[str, Any] | None:
    if not found.get("province"):
        return None
    return {"province": found["province"], "district": found.get("district")}


def _when(found: Mapping[str, Any]) -> dict[str, Any] | None:
    d = found.get("incident_date")
    if not d and not found.get("incident_date_text"):
        return None
    return {"date": d.isoformat() if isinstance(d, date) else None, "text": found.get("incident_date_text")}


def _contact(value: Any, draft: Mapping[str, Any], reading: Reading) -> Any:
    """Both rules in so many words: questions through this chat, and a phone call (with the number)."""
    if value == "yes" and draft.get("contact_how"):
        return ref("report.contact.yes_how", how=draft["contact_how"])
    if value == "yes":
        return ref("report.contact.chat_only")
    return None


def tip_record(draft: Mapping[str, Any], reading: Reading) -> TipRecord:
    place = draft.get("place") or {}
    when = draft.get("when") or {}
    loc = draft.get("location")
    province = place.get("province")
    evid = draft.get("evid") or []
    # every location shared, at the place step or as evidence, reaches staff (none is dropped)
    shared = [Location(loc["lat"], loc["lon"], loc.get("title", ""), loc.get("address", ""))] if loc else []
    shared += [Location(e["lat"], e["lon"]) for e in evid if e.get("kind") == "location"]
    return TipRecord(
        case_code=casecode.generate(reading.token(8)),
        category=str(draft.get("cat") or "other"),
        narrative=str(draft.get("story") or ""),
        agency=draft.get("agency"),
        official=draft.get("official"),
        province=province,
        district=place.get("district"),
        region=reading.regions.region_of(province) or CENTRAL,
        incident_date=date.fromisoformat(when["date"]) if when.get("date") else None,
        incident_date_text=when.get("text"),
        amount_thb=draft.get("money"),
        contact_ok=draft.get("contact") == "yes",
        contact_how=draft.get("contact_how") if draft.get("contact") == "yes" else None,
        location=shared[0] if shared else None,
        more_locations=tuple(shared[1:]),
        attachment_ids=tuple(int(e["id"]) for e in evid if e.get("id") is not None),
    )


REPORT = Form(
    id="report",
    fields=(
        Field(
            id="cat",
            kind=Kind.CHOICE,
            ask="report.cat.ask",
            label="report.cat.label",
            options=tuple(Option(c, f"category.{c}") for c in CATEGORIES),
            parse=_category,
            prefill=lambda found: found.get("category") or None,
            invalid="report.cat.invalid",
            note=_referral,
        ),
        Field(
            id="story",
            kind=Kind.TEXT,
            ask="report.story.ask",
            label="report.story.label",
            min_length=10,
            # the whole story, over several messages; one message is at most TIPBOT_MAX_TEXT_CHARS
            max_length=8000,
            narrative=True,
            rereads=True,
            redactable=True,
        ),
        Field(
            id="agency",
            kind=Kind.TEXT,
            ask="report.agency.ask",
            label="report.agency.label",
            optional=True,
            min_length=2,
            max_length=300,
            prefill=lambda found: found.get("agency") or None,
            rereads=True,
            redactable=True,
        ),
        Field(
            id="official",
            kind=Kind.TEXT,
            ask="report.official.ask",
            label="report.official.label",
            optional=True,
            min_length=2,
            max_length=300,
            prefill=lambda found: found.get("official") or None,
            rereads=True,
            redactable=True,
        ),
        Field(
            id="place",
            kind=Kind.PLACE,
            ask="report.place.ask",
            label="report.place.label",
            prefill=_place,
            invalid="report.place.invalid",
            # the province routes the tip to its regional office: it cannot be skipped (README)
            required="report.place.required",
        ),
        Field(
            id="when",
            kind=Kind.DATE,
            ask="report.when.ask",
            label="report.when.label",
            optional=True,
            parse=_when_answer,
            prefill=_when,
            invalid="report.when.invalid",
        ),
        Field(
            id="money",
            kind=Kind.MONEY,
            ask="report.money.ask",
            label="report.money.label",
            optional=True,
            prefill=lambda found: int(found["amount_thb"]) if found.get("amount_thb") else None,
            invalid="report.money.invalid",
        ),
        Field(id="evid", kind=Kind.EVIDENCE, ask="report.evid.ask", label="report.evid.label", optional=True),
        Field(
            id="contact",
            kind=Kind.CONTACT,
            ask="report.contact.ask",
            label="report.contact.label",
            options=(Option("yes", "report.contact.yes"), Option("no", "report.contact.no")),
            show=_contact,
            invalid="report.contact.invalid",
            when="yes",
            # "yes" lets staff ask questions through this chat (/ask); the follow-up asks whether
            # they may also phone, and how (skipping it means: questions through the chat only)
            follow_up=Field(
                id="contact_how",
                kind=Kind.TEXT,
                ask="report.contact.how",
                optional=True,
                skip_label="report.contact.no_phone",
                min_length=3,
                max_length=300,
                invalid="report.contact.how_invalid",
                redactable=True,
            ),
        ),
    ),
    to_record=tip_record,
    confirm_cancel=True,
)
