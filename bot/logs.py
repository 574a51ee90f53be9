"""Log set-up: plain text for a terminal, one JSON object per line for a log collector.

Log calls carry event ids, case codes, regions and channel names, never message text or user
ids; the JSON form adds nothing beyond the record's own fields. Tracebacks keep their frames and
exception type names but never an exception's text, whoever logs them (ours, aiohttp, asyncio):
a database error quotes the failing row, a decode error the bytes it could not read.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

#: loggers that would write what must stay out of the log, kept at WARNING whatever the level:
#: aiohttp's access log (volunteers' addresses, web chat session ids in query strings),
#: SQLAlchemy's statement echo and aiosqlite's DEBUG lines (every statement with its parameters),
#: Pillow's DEBUG lines (they quote an image's EXIF values: a camera owner's name, a GPS position)
_QUIET = ("aiohttp.access", "sqlalchemy", "aiosqlite", "alembic", "PIL")


def _name(kind: type[BaseException]) -> str:
    module = kind.__module__
    return kind.__qualname__ if module in ("builtins", "__main__") else f"{module}.{kind.__qualname__}"


_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def private_traceback(exc: BaseException) -> str:
    """A traceback with frames and exception type names, never exception messages or notes."""
    parts: list[str] = []  # newest first; reversed at the end, as Python prints a chain
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        block: list[str] = []
        if current.__traceback__ is not None:
            block.append("Traceback (most recent call last):\n")
            block.extend(traceback.format_list(traceback.extract_tb(current.__traceback__)))
        block.append(f"{_name(type(current))} (message withheld)\n")
        if isinstance(current, BaseExceptionGroup):
            block.extend(f"  + {_name(type(sub))}\n" for sub in current.exceptions)
        parts.append("".join(block))
        if current.__cause__ is not None:
            parts.append(_CAUSE)
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            parts.append(_CONTEXT)
            current = current.__context__
        else:
            current = None
    return "".join(reversed(parts)).rstrip("\n")


class PrivateFormatter(logging.Formatter):
    """Plain text lines whose tracebacks carry no exception text."""

    def formatException(self, ei: Any) -> str:
        return private_traceback(ei[1]) if ei and ei[1] is not None else ""

    def format(self, record: logging.LogRecord) -> str:
        # Another handler may already have cached its own (full) traceback text on the record.
        cached, record.exc_text = record.exc_text, None
        try:
            return super().format(record)
        finally:
            record.exc_text = cached


class JsonFormatter(PrivateFormatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process or os.getpid(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = (
                    value if isinstance(value, str | int | float | bool) or value is None else str(value)
                )
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(PrivateFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
