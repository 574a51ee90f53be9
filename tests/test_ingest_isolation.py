"""One request's bad input is its own: poisoned text, refused rows, deep JSON, shared event ids.

Real HTTP against the app with the web chat, LINE and Telegram on (fake platforms on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import SERVICES, Services, build_services, create_app
from bot.settings import Settings
from handlers.telegram import SECRET_HEADER, WEBHOOK_PATH
from storage import tables as t
from storage.database import sqlite_path
from tests.drivers import session_of
from tests.drivers_line import line_settings
from tests.drivers_telegram import WEBHOOK_SECRET, telegram_settings
from tests.fakes.line import FakeLine, sign
from tests.fakes.telegram import FakeTelegram

SEND = "/chat/api/send"


@asynccontextmanager
async def full_app(settings: Settings) -> AsyncIterator[tuple[FakeLine, FakeTelegram, TestClient[Any, Any]]]:
    async with FakeLine() as line, FakeTelegram() as tg:
        both = telegram_settings(line_settings(settings, line), tg)
        factory = partial(build_services, migrate=True, autostart=False)
        async with TestClient(TestServer(create_app(both, services_factory=factory))) as client:
            yield line, tg, client


def services_of(client: TestClient[Any, Any]) -> Services:
    return client.server.app[SERVICES]


def ascii_json(document: Any) -> bytes:
    """JSON with \\u escapes, as a browser or a platform sends a lone surrogate."""
    return json.dumps(document, ensure_ascii=True).encode()


async def post_json(client: TestClient[Any, Any], path: str, body: bytes, **headers: str) -> int:
    r = await client.post(path, data=body, headers={"Content-Type": "application/json", **headers})
    await r.read()
    return r.status


async def signed_line(line: FakeLine, client: TestClient[Any, Any], events: list[dict[str, Any]]) -> int:
    body = ascii_json({"destination": line.bot_user_id, "events": events})
    return await post_json(
        client, "/webhooks/line", body, **{"X-Line-Signature": sign(body, line.channel_secret)}
    )


async def inbox(services: Services) -> list[t.InboxRow]:
    async with services.store.transaction() as uow:
        return list((await uow.session.execute(select(t.InboxRow))).scalars().all())


def text_of(row: t.InboxRow) -> str:
    payload = row.payload or {}
    if row.channel == "line":
        return str(payload.get("message", {}).get("text"))
    if row.channel == "telegram":
        return str(payload.get("message", {}).get("text"))
    return str(payload.get("text"))


async def refuse_rows(
    services: Services, table: str, column: str, marker: str, errcode: str = "raise_exception"
) -> None:
    """A trigger that makes the database itself refuse rows whose `column` contains `marker`
    (on PostgreSQL with the SQLSTATE named `errcode`)."""
    async with services.store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.exec_driver_sql(
                "CREATE FUNCTION refuse_marked() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.{column}::text LIKE '%{marker}%' THEN "
                f"RAISE EXCEPTION 'refused' USING ERRCODE = '{errcode}'; END IF; "
                "RETURN NEW; END $$"
            )
            await conn.exec_driver_sql(
                f"CREATE TRIGGER refuse_marked BEFORE INSERT ON {table} FOR EACH ROW "
                "EXECUTE FUNCTION refuse_marked()"
            )
        else:
            await conn.exec_driver_sql(
                f"CREATE TRIGGER refuse_marked BEFORE INSERT ON {table} WHEN NEW.{column} LIKE '%{marker}%' "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )


@asynccontextmanager
async def writes_held(settings: Settings) -> AsyncIterator[None]:
    """Another session holds the inbox's write lock: the app's requests queue up behind it and
    share the next group commit (as under load), whatever this machine's speed."""
    path = sqlite_path(settings.database_url)
    if path is not None:
        blocker = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            blocker.execute("COMMIT")
            blocker.close()
        return
    conn = await asyncpg.connect(settings.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE inbox IN EXCLUSIVE MODE")
            yield
    finally:
        await conn.close()


async def test_poisoned_web_chat_posts_never_fail_the_good_ones(settings: Settings) -> None:
    async with full_app(settings) as (line, _tg, client):
        services = services_of(client)
        good_web = [(session_of(f"web{i}"), f"ขอแจ้งเรื่อง {i}") for i in range(150)]
        line_users = [line.user() for _ in range(100)]
        poison = [f"พิษ{n} \ud800 ค้าง \udfff" if n % 2 else f"พิษ{n} \u0000 nul" for n in range(6)]

        async def web(session: str, text: str) -> int:
            body = ascii_json({"session": session, "type": "text", "text": text})
            return await post_json(client, SEND, body)

        async with writes_held(settings):
            tasks = [
                *(asyncio.create_task(web(s, x)) for s, x in good_web[:75]),
                *(asyncio.create_task(web(session_of(f"bad{n}"), x)) for n, x in enumerate(poison)),
                *(asyncio.create_task(web(s, x)) for s, x in good_web[75:]),
                *(
                    asyncio.create_task(signed_line(line, client, [u.text(f"LINE ดี {i}")]))
                    for i, u in enumerate(line_users)
                ),
            ]
            await asyncio.sleep(1.0)
        statuses = await asyncio.gather(*tasks)
        poison_statuses = statuses[75 : 75 + len(poison)]
        good_statuses = statuses[:75] + statuses[75 + len(poison) :]

        assert good_statuses == [200] * len(good_statuses), Counter(good_statuses)
        assert set(poison_statuses) <= {200, 400, 422}, Counter(poison_statuses)
        stored = Counter(text_of(r) for r in await inbox(services))
        for _, text in good_web:
            assert stored[text] == 1, text
        for i in range(len(line_users)):
            assert stored[f"LINE ดี {i}"] == 1
        poisoned = [x for x in stored if x.startswith("พิษ")]
        assert len(poisoned) == poison_statuses.count(200)
        for text in poisoned:
            assert "\x00" not in text
            assert "\ufffd" in text or text.endswith(" nul")


async def test_line_and_telegram_text_with_a_lone_surrogate_or_nul_is_answered_and_processed(
    settings: Settings,
) -> None:
    async with full_app(settings) as (line, tg, client):
        services = services_of(client)
        alice, bob = line.user(), line.user()
        assert await signed_line(line, client, [alice.text("สวัสดี \ud83d ครับ")]) == 200
        assert await signed_line(line, client, [bob.text("hi\u0000there")]) == 200
        for n, text in enumerate(("สวัสดี \udc00", "nul\u0000here")):
            update = tg.user(user_id=5150 + n).says(text)
            status = await post_json(
                client, WEBHOOK_PATH, ascii_json(update), **{SECRET_HEADER: WEBHOOK_SECRET}
            )
            assert status == 200
        await services.settle(timeout=30)
        rows = await inbox(services)
        assert sorted(r.status for r in rows) == ["done"] * 4
        assert sorted(text_of(r) for r in rows) == sorted(
            ["สวัสดี \ufffd ครับ", "hithere", "สวัสดี \ufffd", "nulhere"]
        )
        assert line.texts(alice.user_id) and line.texts(bob.user_id)  # the consent question
        assert tg.texts_to(5150) and tg.texts_to(5151)


async def test_a_request_the_database_refuses_fails_alone(settings: Settings) -> None:
    async with full_app(settings) as (line, _tg, client):
        services = services_of(client)
        await refuse_rows(services, "inbox", "event_id", "evil-")

        async def web(n: int, *, evil: bool) -> int:
            event_id = f"{'evil' if evil else 'fine'}-{n:06d}"
            body = {"session": session_of(f"r{n}"), "type": "text", "text": f"ข้อความ {n}", "id": event_id}
            return await post_json(client, SEND, json.dumps(body).encode())

        user = line.user()
        mixed = [user.text("ก่อน"), user.text("ร้าย"), user.text("หลัง")]
        mixed[1]["webhookEventId"] = "evil-line-event-0001"
        results = await asyncio.gather(
            *(web(n, evil=n % 10 == 3) for n in range(60)),
            signed_line(line, client, mixed),
        )
        web_statuses, line_status = results[:-1], results[-1]
        for n, status in enumerate(web_statuses):
            assert status == (422 if n % 10 == 3 else 200), (n, status)
        assert line_status == 422  # its good events are stored, the refused one reported
        stored = Counter(text_of(r) for r in await inbox(services))
        for n in range(60):
            assert stored[f"ข้อความ {n}"] == (0 if n % 10 == 3 else 1)
        assert stored["ก่อน"] == 1 and stored["หลัง"] == 1 and stored["ร้าย"] == 0


async def test_json_nested_ten_thousand_deep_is_a_400_everywhere(settings: Settings) -> None:
    deep = "[" * 10_000 + "]" * 10_000
    async with full_app(settings) as (line, _tg, client):
        web = f'{{"session": "{session_of("deep")}", "type": "text", "text": {deep}}}'.encode()
        assert await post_json(client, SEND, web) == 400
        body = f'{{"destination": "{line.bot_user_id}", "events": [{deep}]}}'.encode()
        signature = sign(body, line.channel_secret)
        assert await post_json(client, "/webhooks/line", body, **{"X-Line-Signature": signature}) == 400
        update = f'{{"update_id": 1, "message": {deep}}}'.encode()
        assert await post_json(client, WEBHOOK_PATH, update, **{SECRET_HEADER: WEBHOOK_SECRET}) == 400
        assert await inbox(services_of(client)) == []


async def test_two_sessions_sending_the_same_event_id_both_get_an_answer(settings: Settings) -> None:
    async with full_app(settings) as (_line, _tg, client):
        services = services_of(client)
        first, second = session_of("browser-one"), session_of("browser-two")
        for session in (first, second, first):  # the last one: the page retrying its own message
            body = {"session": session, "type": "text", "text": "สวัสดี", "id": "evt-shared-0001"}
            r = await client.post(SEND, json=body)
            assert r.status == 200
            assert (await r.json())["id"] == "evt-shared-0001"
        await services.settle()
        assert len(await inbox(services)) == 2
        assert services.webchat is not None
        for session in (first, second):
            texts = [
                m["text"] for m in await services.webchat.messages_after(session, 0) if m["role"] == "bot"
            ]
            assert sum("คุณยินยอม" in x for x in texts) == 1, texts
