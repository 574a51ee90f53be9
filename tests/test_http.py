"""HTTP surface: health, the web chat page and its bad-input answers."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import SERVICES, build_services, create_app
from bot.settings import Settings
from storage import tables as t
from tests.conftest import make_settings
from tests.drivers import session_of


def app_for(settings: Settings, **kw: object) -> TestServer:
    factory = partial(build_services, migrate=kw.pop("migrate", True), autostart=False)
    return TestServer(create_app(settings, services_factory=factory))


async def test_healthz_reports_the_database(settings: Settings) -> None:
    async with TestClient(app_for(settings)) as client:
        r = await client.get("/healthz")
        assert r.status == 200
        body = await r.json()
        assert body["database"] is True and "webchat" in body["channels"]


async def test_healthz_is_503_when_the_database_is_down(tmp_path: Path) -> None:
    down = make_settings("postgresql+asyncpg://postgres@127.0.0.1:9/none", tmp_path)
    async with TestClient(app_for(down, migrate=False)) as client:
        r = await client.get("/healthz")
        assert r.status == 503
        assert (await r.json())["database"] is False
        send = await client.post(
            "/chat/api/send", json={"session": session_of("x"), "type": "text", "text": "hi"}
        )
        assert send.status == 503  # the browser keeps the message and retries; nothing is lost


async def test_chat_page_is_served_with_a_strict_policy(settings: Settings) -> None:
    async with TestClient(app_for(settings)) as client:
        r = await client.get("/chat")
        assert r.status == 200
        assert "/chat/static/chat.js" in await r.text()
        assert "unsafe-inline" not in r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "/chat/api/send" in await (await client.get("/chat/static/chat.js")).text()
        labels = await (await client.get("/chat/api/strings?lang=th")).json()
        assert labels["webchat.placeholder"]


async def test_web_chat_bad_input_gets_clear_answers(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, tmp_path, max_text_chars=100, max_body_bytes=4096)
    session = session_of("someone")
    async with TestClient(app_for(settings)) as client:
        assert (await client.post("/chat/api/send", data=b"{not json")).status == 400
        assert (await client.post("/chat/api/send", json=["a"])).status == 400
        assert (await client.post("/chat/api/send", json={"session": "../etc", "text": "x"})).status == 400
        too_long = await client.post(
            "/chat/api/send", json={"session": session, "type": "text", "text": "ก" * 101}
        )
        assert too_long.status == 413
        huge = await client.post(
            "/chat/api/send", data=b"x" * 5000, headers={"Content-Type": "application/json"}
        )
        assert huge.status == 413
        assert (await client.get("/chat/api/messages?session=nothex")).status == 400
        odd = await client.post(
            "/chat/api/send", json={"session": session, "type": "hologram", "id": "evt-odd-0001"}
        )
        assert odd.status == 200
        services = client.server.app[SERVICES]
        await services.settle()
        async with services.store.transaction() as uow:
            rows = (await uow.session.execute(select(t.InboxRow.event_id, t.InboxRow.status))).all()
        assert [(e.split(":")[-1], st) for e, st in rows] == [("evt-odd-0001", "ignored")]  # per session


async def test_a_double_submitted_message_is_processed_once(settings: Settings) -> None:
    session = session_of("dup")
    async with TestClient(app_for(settings)) as client:
        for _ in range(3):
            r = await client.post(
                "/chat/api/send",
                json={"session": session, "type": "text", "text": "สวัสดี", "id": "evt-same-0001"},
            )
            assert r.status == 200
        services = client.server.app[SERVICES]
        await services.settle()
        assert services.webchat is not None
        texts = [m["text"] for m in await services.webchat.messages_after(session, 0) if m["role"] == "bot"]
        assert sum("คุณยินยอม" in x for x in texts) == 1


async def test_a_briefly_locked_database_delays_but_loses_nothing(tmp_path: Path, sqlite_url: str) -> None:
    import asyncio
    import sqlite3

    settings = make_settings(sqlite_url, tmp_path)
    async with TestClient(app_for(settings)) as client:
        services = client.server.app[SERVICES]
        # Another process (an operator's export, say) holds the write lock for a while.
        blocker = sqlite3.connect(str(tmp_path / "tipbot.db"), isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN EXCLUSIVE")
        sends = [
            asyncio.create_task(
                client.post(
                    "/chat/api/send",
                    json={
                        "session": session_of(f"v{i}"),
                        "type": "text",
                        "text": "สวัสดี",
                        "id": f"evt-lock-{i:04d}",
                    },
                )
            )
            for i in range(5)
        ]
        await asyncio.sleep(1.5)
        assert not any(s.done() for s in sends)  # waiting, not failing
        blocker.execute("COMMIT")
        blocker.close()
        statuses = [(await s).status for s in sends]
        assert statuses == [200] * 5
        await services.settle()
        async with services.store.transaction() as uow:
            done = (await uow.session.execute(select(t.InboxRow.status))).scalars().all()
        assert sorted(done) == ["done"] * 5
