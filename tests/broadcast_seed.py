"""Invented volunteers written straight into the database, for broadcast tests and benchmarks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from storage import tables as t
from storage.repositories import SqlStore, chat_hash


@dataclass(frozen=True)
class Volunteer:
    channel: str
    chat_id: str
    province: str | None
    consented: bool = True
    opted_out: bool = False
    reachable: bool = True
    link_key: str | None = None
    locale: str = "th"
    seen_minutes_ago: int = 60


def line_id(n: int, salt: str = "") -> str:
    return "U" + hashlib.sha256(f"line-{salt}{n}".encode()).hexdigest()[:32]


def telegram_id(n: int) -> str:
    return str(7_000_000_000 + n)


async def seed(store: SqlStore, volunteers: Iterable[Volunteer], chunk: int = 2000) -> int:
    """Insert contacts in bulk (chat ids encrypted and hashed as the app does)."""
    now = datetime.now(UTC)
    table: Any = t.Contact.__table__  # type: ignore[attr-defined]
    rows = [
        {
            "channel": v.channel,
            "chat_hash": chat_hash(v.channel, v.chat_id),
            "chat_id_enc": v.chat_id,
            "locale": v.locale,
            "consented_at": now - timedelta(days=1) if v.consented else None,
            "consent_version": "1" if v.consented else None,
            "home_province": v.province,
            "opted_out": v.opted_out,
            "reachable": v.reachable,
            "link_key": v.link_key,
            "created_at": now,
            "last_seen_at": now - timedelta(minutes=v.seen_minutes_ago),
        }
        for v in volunteers
    ]
    for start in range(0, len(rows), chunk):
        async with store.transaction() as uow:
            await uow.session.execute(table.insert(), rows[start : start + chunk])
    return len(rows)
