"""Message catalog: turns message keys and parameters into text in the reader's language.

Owns the loading of `locales/*.toml` and rendering; knows nothing of platforms.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from bot.core.model import Outbound, RenderedButton, Reply

LOCALES = ("th", "en")


def _flatten(prefix: str, table: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for k, v in table.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, Mapping):
            yield from _flatten(key, v)
        else:
            yield key, str(v)


class Catalog:
    def __init__(self, messages: Mapping[str, Mapping[str, str]], default_locale: str = "th") -> None:
        self.messages = {loc: dict(m) for loc, m in messages.items()}
        self.default_locale = default_locale

    @classmethod
    def load(cls, directory: Path | None = None, default_locale: str = "th") -> Catalog:
        messages: dict[str, dict[str, str]] = {}
        for loc in LOCALES:
            if directory is None:
                raw = resources.files("locales").joinpath(f"{loc}.toml").read_text("utf-8")
            else:
                raw = (directory / f"{loc}.toml").read_text("utf-8")
            messages[loc] = dict(_flatten("", tomllib.loads(raw)))
        return cls(messages, default_locale)

    def text(self, key: str, locale: str | None = None, params: Mapping[str, Any] | None = None) -> str:
        loc = locale if locale in self.messages else self.default_locale
        template = self.messages[loc].get(key) or self.messages[self.default_locale].get(key)
        if template is None:
            # A missing key is a bug caught by tests; never show a stack trace to a volunteer.
            return key
        values = {k: self._value(v, loc) for k, v in (params or {}).items()}
        try:
            return template.format_map(values)
        except (KeyError, IndexError, ValueError):
            return template

    def _value(self, value: Any, locale: str) -> Any:
        if isinstance(value, Mapping) and "$key" in value:
            return self.text(str(value["$key"]), locale, value.get("params") or {})
        if isinstance(value, list):
            return "\n".join(str(self._value(v, locale)) for v in value)
        if value is None:
            return self.text("common.unknown", locale)
        return value

    def render(self, reply: Reply, locale: str | None = None) -> Outbound:
        return Outbound(
            text=self.text(reply.key, locale, reply.params),
            buttons=tuple(
                RenderedButton(label=self.text(b.label, locale, b.params), payload=b.payload)
                for b in reply.buttons
            ),
            request_location=reply.request_location,
            attachment_id=reply.attachment_id,
            card=CARDS.get(reply.key, ""),
        )


#: messages that stand on their own (kept, read again, tapped later): message key → card kind
CARDS = {
    "report.summary": "summary",
    "report.submitted": "receipt",
    "alert.new_tip": "alert",
    "alert.new_tip_minimal": "alert",
    "status.changed": "status",
    "broadcast.notice": "notice",
    "broadcast.notice_rsvp": "notice",
}


def ref(key: str, **params: Any) -> dict[str, Any]:
    """A parameter whose value is itself a message (rendered in the reader's language)."""
    return {"$key": key, "params": params}


def region_ref(region: str) -> dict[str, Any]:
    return ref("region.central") if region == "central" else ref("region.numbered", n=region)


def thai_date(d: date) -> dict[str, Any]:
    """A date as a message, so each locale writes it its own way (BE years in Thai)."""
    return ref("common.date", day=d.day, month=ref(f"month.{d.month}"), year_be=d.year + 543, year=d.year)
