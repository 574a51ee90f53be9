"""The Telegram webhook: secret first, durable before 200, bad bodies refused without a 500."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientSession, web

from bot.core.model import Address, InboundKind, Outbound
from bot.core.ports import StorageUnavailable
from handlers.telegram import SECRET_HEADER, WEBHOOK_PATH, TelegramChannel, webhook_routes
from handlers.telegram_setup import set_webhook
from tests.fakes.telegram import FakeTelegram
from tests.ports import RecordingIngest
from tests.telegram.support import SECRET, make_channel, serve


@pytest.fixture
async def http() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session


async def post(
    http: ClientSession, base: str, body: bytes | str, *, secret: str | None = SECRET, **headers: str
) -> int:
    if secret is not None:
        headers[SECRET_HEADER] = secret
    data = body.encode() if isinstance(body, str) else body
    async with http.post(base + WEBHOOK_PATH, data=data, headers=headers) as response:
        await response.read()
        return response.status


async def raw_post(base: str, head: bytes, body: bytes) -> int:
    """Send bytes aiohttp's client would refuse to put in a header."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST " + WEBHOOK_PATH.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n"
        + head
        + b"\r\n"
    )
    writer.write(body)
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return int(status_line.split()[1])


def update_body(fake: FakeTelegram, text: str = "สวัสดี") -> tuple[dict[str, Any], str]:
    update = fake.user(user_id=424242).says(text)
    return update, json.dumps(update, ensure_ascii=False)


async def test_update_is_stored_with_its_event_id_before_200(
    fake: FakeTelegram,
    channel: TelegramChannel,
    ingest: RecordingIngest,
    webhook_url: str,
    http: ClientSession,
) -> None:
    update, body = update_body(fake)

    status = await post(http, webhook_url, body)

    assert status == 200
    [event] = ingest.events
    assert event.channel == "telegram"
    assert event.event_id == f"{fake.bot_id}:{update['update_id']}"
    assert event.chat_id == "424242"
    assert event.occurred_at.tzinfo is not None
    assert event.payload["message"]["text"] == "สวัสดี"


@pytest.mark.parametrize(
    "secret", [None, "", "wrong-secret", SECRET + "x", SECRET[:-1], SECRET.upper()], ids=repr
)
async def test_missing_or_wrong_secret_is_refused_and_nothing_stored(
    fake: FakeTelegram, ingest: RecordingIngest, webhook_url: str, http: ClientSession, secret: str | None
) -> None:
    _, body = update_body(fake)

    assert await post(http, webhook_url, body, secret=secret) == 403
    assert ingest.calls == []


@pytest.mark.parametrize("header", ["é".encode(), "sécret".encode("latin-1"), b"\xff\xfe", "ไทย".encode()])
async def test_non_ascii_secret_is_403_not_500(
    fake: FakeTelegram, ingest: RecordingIngest, webhook_url: str, header: bytes
) -> None:
    _, body = update_body(fake)

    status = await raw_post(webhook_url, SECRET_HEADER.encode() + b": " + header + b"\r\n", body.encode())

    assert status == 403
    assert ingest.calls == []


@pytest.mark.parametrize("configured", [None, ""])
async def test_no_secret_configured_refuses_everything(
    fake: FakeTelegram, ingest: RecordingIngest, http: ClientSession, configured: str | None
) -> None:
    unprotected = make_channel(fake, webhook_secret=configured)
    app = web.Application()
    app.add_routes(webhook_routes(unprotected, ingest))
    runner, url = await serve(app)
    try:
        _, body = update_body(fake)
        for header in (None, "", SECRET):
            assert await post(http, url, body, secret=header) == 403
    finally:
        await runner.cleanup()
    assert ingest.calls == []


def test_a_secret_telegram_would_refuse_fails_at_startup() -> None:
    with pytest.raises(ValueError, match="secret"):
        TelegramChannel(token="1:x", webhook_secret="has space")


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"[]",
        b'"update"',
        b"null",
        b"{}",
        b'{"update_id": "12"}',
        b'{"update_id": true}',
        b'{"update_id": 1.5}',
        b'{"update_id": -1}',
        b'{"update_id": NaN}',
        b'{"update_id": 1, "x": Infinity}',
        b'{"update_id": 1, "message": "\xff\xfe"}',
        b'{"update_id": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
    ids=lambda b: b[:24].decode("utf-8", "replace"),
)
async def test_malformed_bodies_are_400_and_nothing_stored(
    ingest: RecordingIngest, webhook_url: str, http: ClientSession, body: bytes
) -> None:
    assert await post(http, webhook_url, body) == 400
    assert ingest.calls == []


async def test_redelivered_update_passes_through_with_the_same_event_id(
    fake: FakeTelegram, ingest: RecordingIngest, webhook_url: str, http: ClientSession
) -> None:
    _, body = update_body(fake)

    assert await post(http, webhook_url, body) == 200
    assert await post(http, webhook_url, body) == 200

    first, second = ingest.events
    assert first.event_id == second.event_id
    assert len(ingest.seen) == 1


async def test_unknown_update_kind_is_stored_then_ignored(
    fake: FakeTelegram,
    channel: TelegramChannel,
    ingest: RecordingIngest,
    webhook_url: str,
    http: ClientSession,
) -> None:
    update = {
        "update_id": fake.next_update_id(),
        "message_reaction": {
            "chat": {"id": 77, "type": "private", "first_name": "x"},
            "message_id": 5,
            "date": 1_700_000_000,
            "old_reaction": [],
            "new_reaction": [{"type": "emoji", "emoji": "👍"}],
        },
        "future_kind_from_bot_api_99": {"anything": [1, 2, 3]},
    }

    assert await post(http, webhook_url, json.dumps(update)) == 200

    [event] = ingest.events
    assert event.payload["future_kind_from_bot_api_99"] == {"anything": [1, 2, 3]}
    assert channel.to_inbound(event.event_id, event.payload) is None


async def test_200_kb_text_is_accepted_within_the_default_limit(
    fake: FakeTelegram, ingest: RecordingIngest, webhook_url: str, http: ClientSession
) -> None:
    _, body = update_body(fake, "ก" * 70_000)  # 3 bytes each in UTF-8: about 210 KB

    assert await post(http, webhook_url, body) == 200
    assert len(ingest.events[0].payload["message"]["text"]) == 70_000


@pytest.mark.parametrize("chunked", [False, True])
async def test_body_over_the_limit_is_413(
    fake: FakeTelegram, channel: TelegramChannel, ingest: RecordingIngest, http: ClientSession, chunked: bool
) -> None:
    app = web.Application()
    app.add_routes(webhook_routes(channel, ingest, max_body_bytes=10_000))
    runner, url = await serve(app)
    _, body = update_body(fake, "ก" * 20_000)

    async def stream() -> AsyncIterator[bytes]:
        data = body.encode()
        for start in range(0, len(data), 4096):
            yield data[start : start + 4096]

    try:
        payload: Any = stream() if chunked else body.encode()
        async with http.post(url + WEBHOOK_PATH, data=payload, headers={SECRET_HEADER: SECRET}) as response:
            status = response.status
    finally:
        await runner.cleanup()
    assert status == 413
    assert ingest.calls == []


async def test_storage_down_is_503_so_telegram_redelivers(
    fake: FakeTelegram, ingest: RecordingIngest, webhook_url: str, http: ClientSession
) -> None:
    ingest.fail = StorageUnavailable("database is locked")
    _, body = update_body(fake)

    assert await post(http, webhook_url, body) == 503


async def test_only_post_is_served(webhook_url: str, http: ClientSession) -> None:
    async with http.get(webhook_url + WEBHOOK_PATH) as response:
        assert response.status == 405


async def test_stored_payload_keeps_no_names_and_still_parses(
    fake: FakeTelegram,
    channel: TelegramChannel,
    ingest: RecordingIngest,
    webhook_url: str,
    http: ClientSession,
) -> None:
    user = fake.user(first_name="Somchai", last_name="Jaidee", username="somchai_j", language_code="th-TH")
    update = user.sends_contact("+66812345678", first_name="Somying")

    assert await post(http, webhook_url, json.dumps(update)) == 200

    stored = json.dumps(ingest.events[0].payload)
    for secret_bit in ("Somchai", "Jaidee", "somchai_j", "Somying", "812345678", "th-TH"):
        assert secret_bit not in stored
    assert ingest.events[0].payload["message"]["from"]["language_code"] == "th"
    text_update = user.says("hello")
    assert await post(http, webhook_url, json.dumps(text_update)) == 200
    inbound = channel.to_inbound(ingest.events[1].event_id, ingest.events[1].payload)
    assert inbound is not None
    assert (inbound.kind, inbound.text, inbound.locale_hint) == (InboundKind.TEXT, "hello", "th")


async def test_logs_carry_no_text_user_id_or_token(
    fake: FakeTelegram, ingest: RecordingIngest, http: ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    channel = make_channel(fake)
    await channel.start()
    app = web.Application()
    app.add_routes(webhook_routes(channel, ingest))
    runner, url = await serve(app)
    try:
        user = fake.user(user_id=987654321)
        canary = "CANARY-ลับมาก"
        await set_webhook(channel, url + WEBHOOK_PATH, SECRET)
        assert await fake.deliver(user.says(canary)) == 200
        assert await post(http, url, b"{broken " + canary.encode()) == 400
        event = ingest.events[0]
        inbound = channel.to_inbound(event.event_id, event.payload)
        assert inbound is not None
        address = Address("telegram", inbound.chat_id)
        assert (
            await channel.send(address, [Outbound(text=canary)], reply_token=None, retry_key="k")
        ).status == "sent"
    finally:
        await runner.cleanup()
        await channel.close()

    logged = caplog.text
    assert "sendMessage" in logged  # the HTTP client did log its requests, redacted
    assert canary not in logged
    assert "987654321" not in logged
    assert fake.token.split(":")[1] not in logged


async def test_fake_telegram_delivers_to_the_webhook_set_through_the_channel(
    fake: FakeTelegram, channel: TelegramChannel, ingest: RecordingIngest, webhook_url: str
) -> None:
    assert await set_webhook(channel, webhook_url + WEBHOOK_PATH, SECRET)
    assert fake.webhook is not None
    assert fake.webhook.secret_token == SECRET
    assert fake.webhook.allowed_updates == ["message", "edited_message", "callback_query", "my_chat_member"]
    user = fake.user()

    statuses = [await fake.deliver(user.says(f"ข้อความ {n}")) for n in range(3)]

    assert statuses == [200, 200, 200]
    assert [channel.to_inbound(e.event_id, e.payload).text for e in ingest.events] == [  # type: ignore[union-attr]
        "ข้อความ 0",
        "ข้อความ 1",
        "ข้อความ 2",
    ]
