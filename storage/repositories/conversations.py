"""Conversation state per contact, saved with an optimistic version check.

The state is an opaque dict here; the core decides what it holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.core.ports import ConcurrentUpdate
from storage import tables as t
from storage.repositories.base import Repository


class SqlConversations(Repository):
    async def load(self, contact_id: int) -> tuple[dict[str, Any], int]:
        c = t.Conversation
        q = select(c.state, c.version).where(c.contact_id == contact_id)
        if self._dialect == "postgresql":
            q = q.with_for_update()
        row = (await self.session.execute(q)).first()
        if row is None:
            return {}, 0
        return dict(row.state or {}), row.version

    async def save(self, contact_id: int, state: dict[str, Any], version: int, now: datetime) -> None:
        if version == 0:
            try:
                row = {"contact_id": contact_id, "state": state, "version": 1, "updated_at": now}
                await self.session.execute(insert(t.Conversation).values(**row))
            except IntegrityError as exc:
                raise ConcurrentUpdate(str(contact_id)) from exc
            return
        res = await self.session.execute(
            update(t.Conversation)
            .where(t.Conversation.contact_id == contact_id, t.Conversation.version == version)  # type: ignore[arg-type]
            .values(state=state, version=version + 1, updated_at=now)
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrentUpdate(str(contact_id))
