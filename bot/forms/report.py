"""The tip report form, in the order a volunteer is asked (DESIGN "Conversations")."""

from __future__ import annotations

from bot.forms import Field, Form, Kind, Option
from bot.thai.category import CATEGORIES, OUT_OF_SCOPE

__all__ = ["CATEGORIES", "REFERRALS", "REPORT"]

#: the category codes and out-of-scope referrals are the Thai-understanding module's, so the
#: buttons and the classifier can never disagree
REFERRALS = OUT_OF_SCOPE

REPORT = Form(
    id="report",
    fields=(
        Field(
            id="cat",
            kind=Kind.CHOICE,
            ask="report.cat.ask",
            label="report.cat.label",
            options=tuple(Option(c, f"category.{c}") for c in CATEGORIES),
            prefill=True,
        ),
        Field(id="story", kind=Kind.TEXT, ask="report.story.ask", label="report.story.label", min_length=10),
        Field(
            id="agency",
            kind=Kind.TEXT,
            ask="report.agency.ask",
            label="report.agency.label",
            optional=True,
            min_length=2,
            max_length=300,
            prefill=True,
        ),
        Field(
            id="official",
            kind=Kind.TEXT,
            ask="report.official.ask",
            label="report.official.label",
            optional=True,
            min_length=2,
            max_length=300,
            prefill=True,
        ),
        Field(id="place", kind=Kind.PLACE, ask="report.place.ask", label="report.place.label", prefill=True),
        Field(
            id="when",
            kind=Kind.DATE,
            ask="report.when.ask",
            label="report.when.label",
            optional=True,
            prefill=True,
        ),
        Field(
            id="money",
            kind=Kind.MONEY,
            ask="report.money.ask",
            label="report.money.label",
            optional=True,
            prefill=True,
        ),
        Field(id="evid", kind=Kind.EVIDENCE, ask="report.evid.ask", label="report.evid.label", optional=True),
        Field(
            id="contact",
            kind=Kind.CONTACT,
            ask="report.contact.ask",
            label="report.contact.label",
            options=(Option("yes", "report.contact.yes"), Option("no", "report.contact.no")),
        ),
    ),
)
