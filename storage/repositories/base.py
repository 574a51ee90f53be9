"""What every repository shares: the transaction's session, its dialect, and row conversions.

Knows no area; each area's queries live in its own module.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import keyring


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything in the core is aware UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def chat_hash(channel: str, chat_id: str) -> str:
    return keyring().lookup_hash(f"{channel}:{chat_id}")


class Repository:
    """One area's queries, run on the session of the unit of work that holds it."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
