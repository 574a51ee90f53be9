"""Test doubles of the core's ports, shared by the adapter tests."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.model import InboxEvent


class RecordingIngest:
    """The inbox port as a list: keeps every call, dedupes by event id like the UNIQUE key."""

    def __init__(self) -> None:
        self.calls: list[list[InboxEvent]] = []
        self.seen: set[str] = set()
        self.fail: Exception | None = None

    async def __call__(self, events: Sequence[InboxEvent]) -> int:
        if self.fail is not None:
            raise self.fail
        self.calls.append(list(events))
        new = {e.event_id for e in events} - self.seen
        self.seen |= new
        return len(new)

    @property
    def events(self) -> list[InboxEvent]:
        return [e for call in self.calls for e in call]
