"""Every button label, in every locale, is also recognised when typed (a volunteer who types
what the button says gets what the button does)."""

from __future__ import annotations

import pytest

from bot.core.catalog import Catalog
from bot.core.words import WORDS, word

CATALOG = Catalog.load()

#: button label key → the word it must be recognised as
BUTTONS = {
    "button.accept": "accept",
    "button.decline": "decline",
    "button.forget_confirm": "forget_confirm",
    "button.forget_keep": "forget_keep",
    "button.skip": "skip",
    "button.report": "report",
    "button.my_tips": "status",
    "button.help": "help",
    "button.yes": "yes",
    "button.change": "edit",
    "button.share_location": "location",
    "button.back": "back",
    "button.cancel": "cancel",
    "button.done": "done",
    "button.no_evidence": "done",
    "button.story_told": "done",
    "button.confirm": "confirm",
    "button.edit": "edit",
    "button.continue": "continue",
    "button.cancel_yes": "cancel",
    "button.keep_going": "continue",
    "button.restart": "restart",
    "button.notices_off": "optout",
    "button.notices_on": "optin",
    "broadcast.button.everyone": "everyone",
    "broadcast.button.rsvp_on": "rsvp_on",
    "broadcast.button.rsvp_off": "no",
    "broadcast.button.now": "now",
    "broadcast.button.confirm": "confirm",
    "report.contact.yes": "yes",
    "report.contact.no": "no",
}
LOCALES = ("th", "en")


def test_every_button_label_is_listed_here() -> None:
    # RSVP buttons answer one notice (its id is in the button); typed, there is no notice to answer.
    labels = {
        k
        for k in CATALOG.messages["th"]
        if k.startswith(("button.", "broadcast.button."))
        or (k.startswith("report.contact.") and k.rsplit(".", 1)[1] in ("yes", "no"))
    }
    assert labels == set(BUTTONS)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("key", sorted(BUTTONS))
def test_a_typed_button_label_is_recognised(locale: str, key: str) -> None:
    label = CATALOG.messages[locale][key]
    assert word(label) == BUTTONS[key], (locale, key, label)
    assert word(label + "ครับ") == BUTTONS[key]


def test_no_word_means_two_things() -> None:
    seen: dict[str, str] = {}
    for meaning, typed in WORDS.items():
        for w in typed:
            if w.casefold() in seen and {seen[w.casefold()], meaning} != {"yes", "accept"}:
                pytest.fail(f"{w!r} means {seen[w.casefold()]} and {meaning}")
            seen[w.casefold()] = meaning
