"""The orphan sweep on the database: rows and files of evidence that no tip and no draft holds go
after the grace period, once, whichever processes sweep at the same time; a tip's and a live
draft's evidence stay. (The conversation-level story is tests/transcripts/orphan_sweep.chat.)
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.core.engine import Engine, draft_attachment_ids
from bot.core.state import State
from bot.runtime.scheduler import Scheduler
from bot.runtime.staff import StaffDesk
from storage import tables as t
from storage.media import FileMediaStore
from storage.repositories import SqlStore
from tests.test_concurrency import NOW, _stores
from tests.test_storage import tip


@pytest.fixture
async def stores(db_url: str) -> AsyncIterator[list[SqlStore]]:
    made = await _stores(db_url, 3)
    yield made
    for s in made:
        await s.engine.dispose()


async def evidence(store: SqlStore, media: FileMediaStore, contact_id: int | None, n: int) -> tuple[int, str]:
    name = media.put(os.urandom(100))
    async with store.transaction() as uow:
        att = await uow.attachments.add(
            contact_id=contact_id,
            message_ref=f"m{n}",
            kind="image",
            mime="image/jpeg",
            size=100,
            sha256="0" * 64,
            storage_name=name,
            file_name=None,
            now=NOW - timedelta(hours=3),
        )
    return att, name


async def test_concurrent_sweeps_remove_each_orphan_once_and_keep_what_is_held(
    stores: list[SqlStore], tmp_path: Path
) -> None:
    media = FileMediaStore(tmp_path / "media")
    store = stores[0]
    async with store.transaction() as uow:
        drafting = await uow.contacts.create("webchat", "d" * 32, "th", NOW)
        cancelled = await uow.contacts.create("webchat", "c" * 32, "th", NOW)
        reporter = await uow.contacts.create("webchat", "r" * 32, "th", NOW)
    held, held_name = await evidence(store, media, drafting.id, 1)
    dropped = [await evidence(store, media, cancelled.id, n) for n in range(2, 6)]
    await evidence(store, media, None, 6)  # its chat was deleted (consent withdrawn)
    linked, linked_name = await evidence(store, media, reporter.id, 7)
    fresh = await evidence(store, media, cancelled.id, 8)
    async with store.transaction() as uow:
        await uow.conversations.save(
            drafting.id, {"flow": "report", "draft": {"evid": [{"kind": "image", "id": held}]}}, 0, NOW
        )
        await uow.conversations.save(cancelled.id, {"flow": "menu"}, 0, NOW)
        tip_id = await uow.tips.add(tip(), contact_id=reporter.id, channel="webchat", draft_id="x", now=NOW)
        await uow.attachments.link([linked], tip_id)
        # arrived just now: inside the grace period even though no draft holds it
        await uow.session.execute(
            t.Attachment.__table__.update().where(t.Attachment.id == fresh[0]).values(created_at=NOW)  # type: ignore[attr-defined]
        )

    schedulers = [
        Scheduler(
            store=s,
            desk=StaffDesk(entropy=os.urandom),
            clock=lambda: NOW,
            ack_reminder=timedelta(hours=48),
            digest_hour=-1,
            media=FileMediaStore(tmp_path / "media"),
            orphan_grace=timedelta(hours=1),
        )
        for s in stores
    ]
    removed = await asyncio.gather(*(s.sweep_orphans() for s in schedulers))
    removed += await asyncio.gather(*(s.sweep_orphans() for s in schedulers))
    assert sum(removed) == len(dropped) + 1

    async with store.transaction() as uow:
        left = set((await uow.session.execute(select(t.Attachment.id))).scalars().all())
        count = (await uow.session.execute(select(func.count()).select_from(t.Attachment))).scalar_one()
    assert left == {held, linked, fresh[0]} and count == 3
    files = {p.name for p in (tmp_path / "media").rglob("*") if p.is_file()}
    assert files == {held_name, linked_name, fresh[1]}


def test_which_states_take_a_file() -> None:
    engine = Engine()
    ttl = timedelta(hours=24)
    touched = (NOW - timedelta(hours=1)).isoformat()
    draft = {"flow": "report", "step": "story", "touched": touched, "draft": {}}

    def takes(state: dict[str, object], consented: bool = True) -> bool:
        return engine.takes_media(State.from_dict(state), consented=consented, now=NOW, draft_ttl=ttl)

    assert takes(draft)
    assert takes({**draft, "step": "evid"})
    assert not takes(draft, consented=False)
    assert not takes({})
    assert not takes({"flow": "menu"})
    assert not takes({"flow": "consent"})
    assert not takes({"flow": "resume", "draft": {}})
    assert not takes({**draft, "step": "sum"})
    assert not takes({**draft, "touched": (NOW - timedelta(hours=25)).isoformat()})
    assert draft_attachment_ids(
        State.from_dict({"draft": {"evid": [{"id": 4}, {"kind": "location"}, {"id": "9"}]}})
    ) == {4, 9}
