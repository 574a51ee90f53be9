"""The web chat with its mailboxes and history in the database: two app instances on one
PostgreSQL database (two `tipbot serve` processes behind a proxy) serve one browser session,
whichever takes its posts and polls; a long poll waiting in one is woken by NOTIFY when the other
writes. On SQLite (one process) the in-process wake-up does the same."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.app import SERVICES, Services, build_services, create_app
from bot.settings import Settings
from storage import tables as t
from tests.conftest import make_settings
from tests.drivers import session_of
from tests.harness import evidence_jpeg


@contextlib.asynccontextmanager
async def instance(settings: Settings, name: str) -> AsyncIterator[tuple[TestClient[Any, Any], Services]]:
    factory = partial(build_services, migrate=True, autostart=True)
    app = create_app(settings.model_copy(update={"instance": name}), services_factory=factory)
    async with TestClient(TestServer(app)) as client:
        yield client, app[SERVICES]


async def post(client: TestClient[Any, Any], session: str, n: int, **body: Any) -> None:
    r = await client.post("/chat/api/send", json={"session": session, "id": f"evt-{n:08d}", **body})
    assert r.status == 200, await r.text()


async def poll(client: TestClient[Any, Any], session: str, after: int, wait: float) -> list[dict[str, Any]]:
    for _ in range(3):  # as the page does: a 503 (the database busy past its timeouts) is retried
        r = await client.get("/chat/api/messages", params={"session": session, "after": after, "wait": wait})
        if r.status != 503:
            break
        await asyncio.sleep(1)
    assert r.status == 200
    messages: list[dict[str, Any]] = (await r.json())["messages"]
    return messages


async def test_two_instances_on_one_postgres_serve_one_session(pg_url: str, tmp_path: Path) -> None:
    settings = make_settings(pg_url, tmp_path)
    session = session_of("two-processes")
    async with instance(settings, "a") as (a, _), instance(settings, "b") as (b, services_b):
        # the page's long poll is held by B while A takes the post: B's wait ends by NOTIFY
        waiting = asyncio.create_task(poll(b, session, 0, 20))
        await asyncio.sleep(0.3)
        started, wall = time.monotonic(), time.time()
        await post(a, session, 1, type="follow")
        first = await waiting
        woke = time.monotonic() - started
        assert first and first[0]["role"] == "bot" and "แจ้งเบาะแส" in first[0]["text"]
        written = datetime.fromisoformat(first[0]["at"]).timestamp() - wall
        assert woke - written < 3, f"B's long poll woke {woke - written:.1f} s after the answer was written"

        # posts to either instance, polls from the other: one history, in order
        last = max(m["seq"] for m in first)
        await post(b, session, 2, type="button", button=first[-1]["buttons"][0]["payload"], text="ยินยอม")
        got: list[dict[str, Any]] = []
        for _ in range(20):
            got += await poll(a, session, last, 5)
            last = max([last, *(m["seq"] for m in got)])
            if any(m["role"] == "bot" for m in got):
                break
        assert got[0]["role"] == "me" and got[0]["text"] == "ยินยอม" and got[0]["id"] == "evt-00000002"
        assert any(m["role"] == "bot" for m in got)
        history = await poll(b, session, 0, 0)
        seqs = [m["seq"] for m in history]
        assert seqs == sorted(seqs) == list(range(1, len(seqs) + 1))
        roles = [m["role"] for m in history]
        assert roles.index("me") == len(first)  # the answer to the follow, then the tap

        # a file uploaded to A is held where B's dispatcher can take it (no shared memory)
        r = await b.post(
            "/chat/api/upload",
            params={"session": session, "id": "evt-00000003", "name": "photo.jpg", "kind": "image"},
            data=evidence_jpeg("two"),
            headers={"Content-Type": "image/jpeg"},
        )
        assert r.status == 200
        after_upload = await poll(a, session, 0, 0)
        assert any(m.get("file") == "photo.jpg" for m in after_upload)
        assert services_b.webchat is not None
        # erasure by session and retention by age both reach every instance's rows
        async with services_b.store.transaction() as uow:
            assert await uow.webchat.erase_session(session) == len(after_upload)
        assert await poll(a, session, 0, 0) == []


async def test_one_process_wakes_its_own_long_poll(sqlite_url: str, tmp_path: Path) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    session = session_of("one-process")
    async with instance(settings, "solo") as (client, services):
        waiting = asyncio.create_task(poll(client, session, 0, 20))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        await post(client, session, 1, type="text", text="สวัสดีครับ")
        got = await waiting
        assert got and time.monotonic() - started < 10
        assert got[0]["role"] == "me" and got[0]["text"] == "สวัสดีครับ"
        # retention: everything older than a cut-off goes, the rest stays
        await services.settle()
        async with services.store.transaction() as uow:
            assert await uow.webchat.erase_older_than(services.dispatcher.clock() - timedelta(days=1)) == 0
            assert await uow.webchat.erase_older_than(services.dispatcher.clock() + timedelta(seconds=1)) > 0
        assert await poll(client, session, 0, 0) == []


async def test_uploads_before_consent_or_over_the_limit_leave_nothing(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = make_settings(sqlite_url, tmp_path, max_media_bytes=64 * 1024)
    session = session_of("uploader")
    async with instance(settings, "solo") as (client, services):

        async def upload(n: int, data: bytes) -> int:
            r = await client.post(
                "/chat/api/upload",
                params={"session": session, "id": f"evt-{n:08d}", "name": "x.jpg", "kind": "image"},
                data=data,
                headers={"Content-Type": "image/jpeg"},
            )
            return r.status

        async def held() -> tuple[int, int]:
            async with services.store.transaction() as uow:
                counted = [
                    (await uow.session.execute(select(func.count()).select_from(table))).scalar_one()
                    for table in (t.WebChatUpload, t.Attachment)
                ]
            return int(counted[0]), int(counted[1])

        assert await upload(1, b"\xff" * (64 * 1024 + 1)) == 413  # over the limit: refused, nothing held
        assert await held() == (0, 0)
        assert await upload(2, evidence_jpeg("early")) == 200  # before consent
        await services.settle()
        answers = [m["text"] for m in await poll(client, session, 0, 0) if m["role"] == "bot"]
        assert any("ยังไม่ได้รับความยินยอม" in a for a in answers), answers
        assert await held() == (0, 0)  # answered, and nothing of it kept
