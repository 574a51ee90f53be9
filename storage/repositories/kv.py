"""Small durable values the adapters keep (e.g. the Telegram polling offset)."""

from __future__ import annotations

from storage import tables as t
from storage.repositories.base import Repository


class SqlKeyValues(Repository):
    async def get(self, key: str) -> str | None:
        row = await self.session.get(t.KeyValue, key)
        return row.value if row else None

    async def set(self, key: str, value: str) -> None:
        row = await self.session.get(t.KeyValue, key)
        if row is None:
            self.session.add(t.KeyValue(key=key, value=value))
        else:
            row.value = value
