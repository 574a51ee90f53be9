"""Text a database can store: applied to every event where it enters (`bot.app.StoreIngest`).

Pure functions, no I/O. Two kinds of code point cannot be stored: lone UTF-16 surrogates
(U+D800–U+DFFF; UTF-8 cannot encode them, JSON's `"\\ud800"` yields one) and NUL (PostgreSQL's
text and JSONB refuse U+0000). Everything else, controls included, is kept as the volunteer wrote it:
escaping for display is the renderer's job.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from bot.core.model import InboxEvent

_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(text: str) -> str:
    """Lone surrogates become U+FFFD; an adjacent high+low pair becomes the character it encodes."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def clean_text(text: str) -> str:
    """`text` without NUL and with lone surrogates replaced: always encodable and storable."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    return without_surrogates(text)


def clean_payload(value: Any) -> Any:
    """A JSON-like document with every string (keys too) cleaned; tuples become lists.

    Iterative rather than recursive: a document nested as deep as the JSON parser allows must
    not raise RecursionError here.
    """
    if isinstance(value, str):
        return clean_text(value)
    if not isinstance(value, dict | list | tuple):
        return value
    root: dict[Any, Any] | list[Any] = {} if isinstance(value, dict) else []
    stack: list[tuple[Any, dict[Any, Any] | list[Any]]] = [(value, root)]
    while stack:
        source, target = stack.pop()
        pairs = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in pairs:
            child: Any
            if isinstance(item, dict | list | tuple):
                child = {} if isinstance(item, dict) else []
                stack.append((item, child))
            elif isinstance(item, str):
                child = clean_text(item)
            else:
                child = item
            if isinstance(target, dict):
                target[clean_text(key) if isinstance(key, str) else key] = child
            else:
                target.append(child)
    return root


def clean_event(event: InboxEvent) -> InboxEvent:
    """An inbox event whose ids and payload can be stored by any database."""
    return replace(
        event,
        event_id=clean_text(event.event_id),
        chat_id=clean_text(event.chat_id),
        payload=clean_payload(event.payload),
    )
