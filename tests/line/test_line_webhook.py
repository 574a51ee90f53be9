"""POST /webhooks/line: signature, size limit, batches, odd events, storage failures."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from linebot.v3 import WebhookParser
from linebot.v3.models.events import UnknownEvent

from bot.core.ports import StorageUnavailable
from tests.fakes.line import FakeLine, new_ulid, sign


def common(event_type: str, user_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": event_type,
        "mode": "active",
        "timestamp": 1_700_000_000_000,
        "source": {"type": "user", "userId": user_id},
        "webhookEventId": new_ulid(),
        "deliveryContext": {"isRedelivery": False},
        **fields,
    }


async def test_connection_check_gets_200_and_stores_nothing(line: FakeLine, bot_url: str, ingest) -> None:
    status, _ = await line.post_raw(bot_url, line.webhook_body([]))
    assert status == 200
    assert ingest.calls == []


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda body, secret: (body, sign(body, "another-secret")), id="wrong-secret"),
        pytest.param(
            lambda body, secret: (body.replace(b"hello", b"hellO"), sign(body, secret)), id="body-changed"
        ),
        pytest.param(lambda body, secret: (body[:-1], sign(body, secret)), id="truncated"),
        pytest.param(lambda body, secret: (body, None), id="missing-header"),
        pytest.param(lambda body, secret: (body, "not base64 at all"), id="garbage"),
        pytest.param(lambda body, secret: (body, "ลายเซ็น"), id="non-ascii"),
    ],
)
async def test_bad_signature_is_401_and_nothing_is_stored(
    line: FakeLine, bot_url: str, ingest, forge
) -> None:
    body = line.webhook_body([line.user().text("hello")])
    sent, signature = forge(body, line.channel_secret)
    status, _ = await line.post_raw(bot_url, sent, signature=signature)
    assert status == 401
    assert ingest.calls == []


async def test_signature_over_reserialised_json_is_rejected(line: FakeLine, bot_url: str, ingest) -> None:
    body = line.webhook_body([line.user().text("สวัสดี ครับ")])
    reserialised = json.dumps(json.loads(body)).encode()  # ASCII escapes, other spacing
    status, _ = await line.post_raw(bot_url, body, signature=sign(reserialised, line.channel_secret))
    assert status == 401
    assert ingest.calls == []


async def test_batch_of_five_events_from_three_users_is_one_ingest(
    line: FakeLine, bot_url: str, ingest
) -> None:
    a, b, c = line.user(), line.user(), line.user()
    events = [
        a.text("มีการเรียกรับเงินที่สำนักงานเขต"),
        b.image(b"\xff\xd8\xff fake jpeg"),
        c.postback("category:bribery"),
        a.location(13.7563, 100.5018, title="ศาลากลาง", address="กรุงเทพมหานคร"),
        b.follow(),
    ]
    assert await line.deliver(bot_url, *events) == 200

    assert len(ingest.calls) == 1
    stored = ingest.calls[0]
    assert [e.event_id for e in stored] == [e["webhookEventId"] for e in events]
    assert [e.chat_id for e in stored] == [a.user_id, b.user_id, c.user_id, a.user_id, b.user_id]
    assert all(e.channel == "line" for e in stored)
    assert [e.payload for e in stored] == events  # the raw dicts, untouched
    assert all(e.occurred_at.tzinfo is not None for e in stored)
    assert stored[0].occurred_at == datetime.fromtimestamp(events[0]["timestamp"] / 1000, UTC)


async def test_fake_events_are_complete_for_the_sdk(line: FakeLine) -> None:
    """Every event FakeLineUser builds types as a real SDK event, never UnknownEvent."""
    user = line.user()
    group = user.in_group()
    events = [
        user.text("x"),
        user.sticker(),
        user.location(1.0, 2.0),
        user.image(b"i"),
        user.media("video", b"v"),
        user.media("audio", b"a"),
        user.file(b"f", "a.pdf"),
        user.postback("p", {"date": "2024-05-01"}),
        user.follow(unblocked=True),
        user.unfollow(),
        group.join(),
        group.leave(),
        group.text("y"),
        group.member_joined(),
        user.unsend("123"),
    ]
    body = line.webhook_body(events).decode()
    parsed = WebhookParser(line.channel_secret).parse(body, sign(body.encode(), line.channel_secret))
    assert [type(e).__name__ for e in parsed if isinstance(e, UnknownEvent)] == []
    assert len(parsed) == len(events)


async def test_unknown_event_types_are_stored_with_the_batch(
    line: FakeLine, bot_url: str, ingest, channel
) -> None:
    user = line.user()
    future = common("futureEvent", user.user_id, future={"x": 1})
    hologram = user.text("placeholder")
    hologram["message"] = {"id": "1", "type": "hologram", "quoteToken": "q"}
    drifted = user.text("a text without its quoteToken")
    del drifted["message"]["quoteToken"]  # the SDK turns this into UnknownEvent
    events = [user.text("ก่อน"), future, hologram, drifted, user.postback("after")]

    assert await line.deliver(bot_url, *events) == 200
    stored = ingest.events
    assert [e.event_id for e in stored] == [e["webhookEventId"] for e in events]
    assert channel.to_inbound(stored[1].event_id, stored[1].payload) is None
    assert channel.to_inbound(stored[2].event_id, stored[2].payload) is None
    # Schema drift in an optional-to-us field does not lose the reporter's words.
    assert channel.to_inbound(stored[3].event_id, stored[3].payload).text == "a text without its quoteToken"


async def test_events_missing_required_fields_do_not_fail_the_batch(
    line: FakeLine, bot_url: str, ingest, channel
) -> None:
    user = line.user()
    no_id = user.text("no id")
    del no_id["webhookEventId"]
    no_context = user.text("no delivery context")
    del no_context["deliveryContext"]
    no_type = user.text("no type")
    del no_type["type"]
    good = user.text("good")
    body_events = [no_id, no_context, 42, no_type, good]

    assert await line.deliver(bot_url, *body_events) == 200
    stored = ingest.events
    assert len(stored) == 5
    assert stored[0].event_id.startswith("invalid:")
    assert stored[1].event_id == no_context["webhookEventId"]  # the id is there: keep it
    assert stored[2].event_id.startswith("invalid:")
    assert stored[2].payload == {"invalid": 42}
    assert stored[4].event_id == good["webhookEventId"]
    assert len({e.event_id for e in stored}) == 5
    assert channel.to_inbound(stored[0].event_id, stored[0].payload) is None  # stored, then ignored

    # A redelivered copy of the broken event gets the same synthetic id, so the inbox dedupes it.
    assert await line.deliver(bot_url, no_id, redelivery=True) == 200
    assert ingest.calls[-1][0].event_id == stored[0].event_id


async def test_redelivered_event_passes_through_with_the_same_id(
    line: FakeLine, bot_url: str, ingest
) -> None:
    event = line.user().text("ส่งซ้ำ")
    assert await line.deliver(bot_url, event) == 200
    assert await line.deliver(bot_url, event, redelivery=True) == 200
    first, second = ingest.calls
    assert first[0].event_id == second[0].event_id == event["webhookEventId"]
    assert second[0].payload["deliveryContext"] == {"isRedelivery": True}
    assert len(ingest.seen) == 1


async def test_body_over_one_mib_is_413_before_anything_else(line: FakeLine, bot_url: str, ingest) -> None:
    user = line.user()
    big = line.webhook_body([user.text("x" * (1024 * 1024))])
    assert len(big) > 1024 * 1024
    status, _ = await line.post_raw(bot_url, big)  # correctly signed, still too big
    assert status == 413
    status, _ = await line.post_raw(bot_url, big, signature=None)
    assert status == 413
    assert ingest.calls == []


async def test_chunked_body_without_length_is_cut_at_the_limit(line: FakeLine, bot_factory, ingest) -> None:
    url = await bot_factory(max_body_bytes=4096)
    body = line.webhook_body([line.user().text("y" * 5000)])

    async def chunks():
        for i in range(0, len(body), 1000):
            yield body[i : i + 1000]

    headers = {"X-Line-Signature": sign(body, line.channel_secret), "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=chunks(), headers=headers) as response,
    ):
        assert response.status == 413
    assert ingest.calls == []


async def test_body_exactly_at_the_limit_is_accepted(line: FakeLine, bot_factory, ingest) -> None:
    url = await bot_factory(max_body_bytes=4096)
    body = line.webhook_body([line.user().text("z")])
    padded = body + b" " * (4096 - len(body))  # JSON allows trailing whitespace
    assert (await line.post_raw(url, padded))[0] == 200
    assert (await line.post_raw(url, padded + b" "))[0] == 413
    assert len(ingest.calls) == 1


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="invalid-json"),
        pytest.param(b'{"destination":"x","events":[{"n":NaN}]}', id="nan"),
        pytest.param(b'{"destination":"x"}', id="no-events"),
        pytest.param(b'{"events":{"a":1}}', id="events-not-a-list"),
        pytest.param(b"[]", id="not-an-object"),
        pytest.param(b"\xff\xfe{}", id="invalid-utf8"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep-nesting"),
    ],
)
async def test_malformed_body_after_a_valid_signature_is_400(
    line: FakeLine, bot_url: str, ingest, body
) -> None:
    status, _ = await line.post_raw(bot_url, body)
    assert status == 400
    assert ingest.calls == []


async def test_storage_unavailable_is_503_then_redelivery_is_stored(
    line: FakeLine, bot_url: str, ingest
) -> None:
    event = line.user().text("ฐานข้อมูลล่ม")
    ingest.fail = StorageUnavailable("locked")
    assert await line.deliver(bot_url, event) == 503
    ingest.fail = None
    assert await line.deliver(bot_url, event, redelivery=True) == 200
    assert [e.event_id for e in ingest.events] == [event["webhookEventId"]]


async def test_thai_body_keeps_its_bytes_and_signature(line: FakeLine, bot_url: str, ingest) -> None:
    text = "ปลัดอำเภอเรียกเงิน ๕,๐๐๐ บาท 🙏 ที่นี่\u200b"
    await line.user().say(bot_url, text)
    assert ingest.events[0].payload["message"]["text"] == text


async def test_group_events_use_the_group_as_chat(line: FakeLine, bot_url: str, ingest) -> None:
    staff = line.user().in_group()
    room = line.user().in_room()
    assert await line.deliver(bot_url, staff.join(), staff.text("/join ABC"), room.text("hi")) == 200
    assert [e.chat_id for e in ingest.events] == [staff.group_id, staff.group_id, room.room_id]
