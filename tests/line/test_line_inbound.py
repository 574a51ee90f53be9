"""LineChannel.to_inbound: every LINE event kind, and malformed payloads that must map to None."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.model import Inbound, InboundKind, Location, MediaRef
from handlers.line import LineChannel
from tests.fakes.line import FakeLine, FakeLineUser

CHANNEL = LineChannel(channel_secret="s", access_token="t")  # mapping needs no clients


@pytest.fixture
def platform() -> FakeLine:
    return FakeLine()  # only the builders and the content store: the server is not started


@pytest.fixture
def user(platform: FakeLine) -> FakeLineUser:
    return platform.user()


def inbound(event: dict[str, Any]) -> Inbound:
    result = CHANNEL.to_inbound(event["webhookEventId"], event)
    assert result is not None
    return result


def test_text(user: FakeLineUser) -> None:
    event = user.text("ขอแจ้งเรื่องทุจริต")
    got = inbound(event)
    occurred = datetime.fromtimestamp(event["timestamp"] / 1000, UTC)
    assert got == Inbound(
        channel="line",
        chat_id=user.user_id,
        kind=InboundKind.TEXT,
        event_id=event["webhookEventId"],
        occurred_at=occurred,
        text="ขอแจ้งเรื่องทุจริต",
        message_id=event["message"]["id"],
        reply_token=event["replyToken"],
        reply_token_expires=occurred + timedelta(seconds=50),
    )


@pytest.mark.parametrize("kind", ["image", "video", "audio"])
def test_media_from_line(user: FakeLineUser, kind: str) -> None:
    event = user.media(kind, b"bytes")
    got = inbound(event)
    assert got.kind is InboundKind.MEDIA
    assert got.media == MediaRef(kind=kind, platform_ref=event["message"]["id"])  # type: ignore[arg-type]


def test_file_carries_name_and_size(user: FakeLineUser) -> None:
    event = user.file(b"%PDF-1.7 ...", "ใบเสร็จ.pdf")
    got = inbound(event)
    assert got.media == MediaRef(
        kind="file", platform_ref=event["message"]["id"], file_name="ใบเสร็จ.pdf", claimed_size=12
    )


def test_media_from_an_external_provider_is_not_downloaded(user: FakeLineUser) -> None:
    event = user.image(b"x")
    event["message"]["contentProvider"] = {
        "type": "external",
        "originalContentUrl": "https://example.com/a.jpg",
        "previewImageUrl": "https://example.com/p.jpg",
    }
    got = inbound(event)
    assert got.kind is InboundKind.IGNORED
    assert got.media is None


def test_location(user: FakeLineUser) -> None:
    got = inbound(user.location(18.7883, 98.9853, title="ที่ว่าการอำเภอ", address="เชียงใหม่"))
    assert got.kind is InboundKind.LOCATION
    assert got.location == Location(18.7883, 98.9853, "ที่ว่าการอำเภอ", "เชียงใหม่")


def test_sticker(user: FakeLineUser) -> None:
    event = user.sticker()
    got = inbound(event)
    assert got.kind is InboundKind.STICKER
    assert got.message_id == event["message"]["id"]


def test_postback(user: FakeLineUser) -> None:
    got = inbound(user.postback("category:bribery"))
    assert (got.kind, got.button, got.text) == (InboundKind.BUTTON, "category:bribery", "")


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"date": "2024-05-01"}, "2024-05-01"),
        ({"time": "10:30"}, "10:30"),
        ({"datetime": "2024-05-01T10:30"}, "2024-05-01T10:30"),
        ({"newRichMenuAliasId": "a", "status": "SUCCESS"}, ""),
    ],
)
def test_postback_picker_params_become_text(user: FakeLineUser, params: dict[str, str], text: str) -> None:
    got = inbound(user.postback("when", params))
    assert (got.button, got.text) == ("when", text)


@pytest.mark.parametrize("unblocked", [False, True])
def test_follow(user: FakeLineUser, unblocked: bool) -> None:
    got = inbound(user.follow(unblocked=unblocked))
    assert got.kind is InboundKind.FOLLOW
    assert got.reply_token is not None


def test_unfollow_has_no_reply_token(user: FakeLineUser) -> None:
    got = inbound(user.unfollow())
    assert got.kind is InboundKind.UNFOLLOW
    assert (got.reply_token, got.reply_token_expires) == (None, None)


def test_join_and_leave_are_group_events(user: FakeLineUser) -> None:
    group = user.in_group()
    joined, left = inbound(group.join()), inbound(group.leave())
    assert (joined.kind, joined.chat_id, joined.chat_kind) == (
        InboundKind.JOINED_GROUP,
        group.group_id,
        "group",
    )
    assert (left.kind, left.chat_id, left.chat_kind) == (InboundKind.LEFT_GROUP, group.group_id, "group")


def test_group_and_room_messages_belong_to_the_chat(user: FakeLineUser) -> None:
    in_group, in_room = user.in_group(), user.in_room()
    assert inbound(in_group.text("x")).chat_id == in_group.group_id
    assert inbound(in_room.text("x")).chat_id == in_room.room_id
    assert inbound(in_room.text("x")).chat_kind == "group"


def test_unsend_refers_to_the_message(user: FakeLineUser) -> None:
    got = inbound(user.unsend("5551234"))
    assert (got.kind, got.ref_message_id) == (InboundKind.UNSEND, "5551234")


def test_edited_message(user: FakeLineUser) -> None:
    event = user.in_group().text("แก้ไขแล้ว")
    event["type"] = "messageEdited"
    got = inbound(event)
    assert (got.kind, got.text, got.ref_message_id) == (InboundKind.EDIT, "แก้ไขแล้ว", event["message"]["id"])


def test_standby_is_recorded_without_a_reply_token(user: FakeLineUser) -> None:
    got = inbound(user.text("ข้อความ", standby=True))
    assert got.standby is True
    assert got.reply_token is None


@pytest.mark.parametrize("event_type", ["memberJoined", "memberLeft", "beacon", "accountLink", "futureEvent"])
def test_events_the_engine_does_not_use_map_to_none(user: FakeLineUser, event_type: str) -> None:
    event = user.in_group().member_joined()
    event["type"] = event_type
    assert CHANNEL.to_inbound(event["webhookEventId"], event) is None


def _broken(user: FakeLineUser, change: str) -> dict[str, Any]:
    event = user.text("x")
    match change:
        case "no-source":
            del event["source"]
        case "source-not-a-dict":
            event["source"] = "U1"
        case "timestamp-text":
            event["timestamp"] = "yesterday"
        case "timestamp-huge":
            event["timestamp"] = 10**30
        case "no-type":
            del event["type"]
        case "text-not-a-string":
            event["message"]["text"] = ["a"]
        case "no-message":
            del event["message"]
        case "message-type-unknown":
            event["message"]["type"] = "hologram"
        case "no-message-id":
            del event["message"]["id"]
        case "location-text-coordinates":
            event["message"] = {"id": "1", "type": "location", "latitude": "13.7", "longitude": 100}
        case "location-bool-coordinates":
            event["message"] = {"id": "1", "type": "location", "latitude": True, "longitude": 100}
        case "postback-without-data":
            event.update(type="postback", postback={"params": {"date": "2024-01-01"}})
        case "unsend-without-id":
            event.update(type="unsend", unsend={})
    return event


@pytest.mark.parametrize(
    "change",
    [
        "no-source",
        "source-not-a-dict",
        "timestamp-text",
        "timestamp-huge",
        "no-type",
        "text-not-a-string",
        "no-message",
        "message-type-unknown",
        "no-message-id",
        "location-text-coordinates",
        "location-bool-coordinates",
        "postback-without-data",
        "unsend-without-id",
    ],
)
def test_malformed_payloads_map_to_none(user: FakeLineUser, change: str) -> None:
    assert CHANNEL.to_inbound("01HXYZ", _broken(user, change)) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
event_keys = st.sampled_from(
    ["type", "message", "source", "timestamp", "mode", "replyToken", "postback", "unsend", "webhookEventId"]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(event_keys, json_values, max_size=8), st.data())
def test_no_payload_makes_to_inbound_raise(payload: dict[str, Any], data: st.DataObject) -> None:
    if data.draw(st.booleans()):
        payload["source"] = {"type": "user", "userId": "U" + "0" * 32}
        payload["timestamp"] = 1_700_000_000_000
        payload["type"] = data.draw(st.sampled_from(["message", "postback", "unsend", "follow", "join"]))
    result = CHANNEL.to_inbound("01HXYZ", payload)
    assert result is None or isinstance(result, Inbound)
