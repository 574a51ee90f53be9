"""On PostgreSQL a commit to the inbox wakes the dispatchers of other processes (LISTEN/NOTIFY),
so webhook-only servers (`TIPBOT_WORKERS=false`) and `tipbot worker` processes need no polling."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import open_store
from bot.core.model import InboxEvent
from storage.database import listen
from storage.repositories import INBOX_CHANNEL
from tests.conftest import make_settings


async def test_an_inbox_commit_in_one_process_wakes_a_listener_in_another(
    db_url: str, tmp_path: Path
) -> None:
    if "sqlite" in db_url:
        pytest.skip("NOTIFY is PostgreSQL's; on SQLite one process wakes itself")
    settings = make_settings(db_url, tmp_path)
    webhook_side = await open_store(settings, migrate=True)
    worker_side = await open_store(settings)  # its own engine and connections, as another process
    woken = asyncio.Event()
    stop = asyncio.Event()
    listener = asyncio.create_task(listen(worker_side.engine, INBOX_CHANNEL, woken.set, stop))
    try:
        await asyncio.wait_for(woken.wait(), 10)  # set once on connecting
        woken.clear()
        event = InboxEvent("line", "evt-1", "U" + "0" * 32, datetime.now(UTC), {"type": "message"})
        assert await webhook_side.ingest([event], datetime.now(UTC)) == 1
        await asyncio.wait_for(woken.wait(), 10)
        woken.clear()
        assert await webhook_side.ingest([event], datetime.now(UTC)) == 0  # a duplicate: no wake-up
        await asyncio.sleep(0.5)
        assert not woken.is_set()
    finally:
        stop.set()
        await listener
        await webhook_side.engine.dispose()
        await worker_side.engine.dispose()


async def test_listening_on_sqlite_returns_at_once(tmp_path: Path) -> None:
    store = await open_store(make_settings(f"sqlite+aiosqlite:///{tmp_path}/t.db", tmp_path), migrate=True)
    try:
        await asyncio.wait_for(listen(store.engine, INBOX_CHANNEL, lambda: None, asyncio.Event()), 5)
    finally:
        await store.engine.dispose()
