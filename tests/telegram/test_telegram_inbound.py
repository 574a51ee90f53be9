"""Update → Inbound for every kind the engine knows, read from realistic complete updates."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import pytest
from telegram import Update

from bot.core.model import LOCATION_PAYLOAD, Inbound, InboundKind, Location
from handlers.telegram import TelegramChannel, minimise
from tests.fakes.telegram import FakeTelegram, FakeTelegramUser

TAP_TIME = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def offline(fake: FakeTelegram) -> TelegramChannel:
    """to_inbound needs no network: a channel that was never started."""
    return TelegramChannel(token=fake.token, webhook_secret="s", clock=lambda: TAP_TIME)


@pytest.fixture
def user(fake: FakeTelegram) -> FakeTelegramUser:
    return fake.user(user_id=5550001, language_code="en")


def mapped(channel: TelegramChannel, update: dict[str, Any]) -> Inbound | None:
    # what the dispatcher will see: the payload as the inbox stored it
    event = channel.inbox_event(update)
    assert event.payload == minimise(update)
    return channel.to_inbound(event.event_id, event.payload)


def test_text(offline: TelegramChannel, user: FakeTelegramUser, fake: FakeTelegram) -> None:
    update = user.says("มีการเรียกรับเงินที่สำนักงานเขต")

    inbound = mapped(offline, update)

    assert inbound == Inbound(
        channel="telegram",
        chat_id="5550001",
        kind=InboundKind.TEXT,
        event_id=f"{fake.bot_id}:{update['update_id']}",
        occurred_at=datetime.fromtimestamp(update["message"]["date"], UTC),
        chat_kind="private",
        text="มีการเรียกรับเงินที่สำนักงานเขต",
        message_id=str(update["message"]["message_id"]),
        locale_hint="en",
    )


@pytest.mark.parametrize("text", ["/start", "/start   ", "/start@tipbot_test_bot"])
def test_start_alone_is_follow(offline: TelegramChannel, user: FakeTelegramUser, text: str) -> None:
    inbound = mapped(offline, user.says(text))

    assert inbound is not None
    assert (inbound.kind, inbound.text) == (InboundKind.FOLLOW, "")


def test_start_with_payload_keeps_the_payload_for_the_core(
    offline: TelegramChannel, user: FakeTelegramUser
) -> None:
    inbound = mapped(offline, user.starts("JOIN-7QK4MX"))

    assert inbound is not None
    assert (inbound.kind, inbound.text) == (InboundKind.TEXT, "/start JOIN-7QK4MX")


@pytest.mark.parametrize("text", ["/start", "/start@tipbot_test_bot", "  /start@tipbot_test_bot  "])
def test_start_in_a_group_is_a_command_for_the_core(
    offline: TelegramChannel, user: FakeTelegramUser, text: str
) -> None:
    # staff type /start in their group to see what the chat is for; it is no new follower
    inbound = mapped(offline, user.says_in_group(-1001234567890, "ปปท. เขต 3", text))

    assert inbound is not None
    assert (inbound.kind, inbound.chat_kind, inbound.text.strip()) == (InboundKind.TEXT, "group", "/start")


async def test_commands_for_this_bot_lose_the_mention_and_others_are_ignored(
    channel: TelegramChannel, fake: FakeTelegram
) -> None:
    member = fake.user().in_group(-1001234567890, "ปปท. เขต 3")

    ours = mapped(channel, member.says(f"/join@{fake.username.upper()} JOIN-7QK4MX"))
    multiline = mapped(channel, member.says(f"/ask@{fake.username}\nTB-ACDE-FGHJ มีรูปไหม"))
    theirs = mapped(channel, member.says("/join@some_other_bot JOIN-7QK4MX"))
    email = mapped(channel, member.says("/x@y.z is not a command for anyone"))

    assert ours is not None and ours.text == "/join JOIN-7QK4MX"
    assert multiline is not None and multiline.text == "/ask\nTB-ACDE-FGHJ มีรูปไหม"
    assert theirs is None
    assert email is not None and email.text == "/x@y.z is not a command for anyone"


def test_other_commands_are_plain_text(offline: TelegramChannel, user: FakeTelegramUser) -> None:
    inbound = mapped(offline, user.says("/join ABC123"))

    assert inbound is not None
    assert (inbound.kind, inbound.text) == (InboundKind.TEXT, "/join ABC123")


def test_photo_refers_to_the_largest_size(offline: TelegramChannel, user: FakeTelegramUser) -> None:
    update = user.sends_photo(b"\xff\xd8\xff" + b"p" * 5000, caption="ใบเสร็จ")
    largest = update["message"]["photo"][-1]

    inbound = mapped(offline, update)

    assert inbound is not None
    assert inbound.kind == InboundKind.MEDIA
    assert inbound.text == "ใบเสร็จ"
    assert inbound.media is not None
    assert (inbound.media.kind, inbound.media.platform_ref) == ("image", largest["file_id"])
    assert (inbound.media.claimed_mime, inbound.media.claimed_size) == ("image/jpeg", 5003)


def test_document(offline: TelegramChannel, user: FakeTelegramUser) -> None:
    inbound = mapped(offline, user.sends_document(b"%PDF-1.7", file_name="สัญญา.pdf"))

    assert inbound is not None
    assert inbound.media is not None
    media = inbound.media
    assert (media.kind, media.file_name, media.claimed_mime, media.claimed_size) == (
        "file",
        "สัญญา.pdf",
        "application/pdf",
        8,
    )


def test_voice_and_video(offline: TelegramChannel, user: FakeTelegramUser) -> None:
    voice = mapped(offline, user.sends_voice(b"OggS...."))
    video = mapped(offline, user.sends_video(b"\x00\x00\x00\x18ftypmp42"))

    assert voice is not None
    assert voice.media is not None
    assert video is not None
    assert video.media is not None
    assert (voice.media.kind, voice.media.claimed_mime) == ("audio", "audio/ogg")
    assert (video.media.kind, video.media.claimed_mime) == ("video", "video/mp4")


def test_location_and_venue(offline: TelegramChannel, user: FakeTelegramUser) -> None:
    plain = mapped(offline, user.shares_location(13.7563, 100.5018))
    venue = mapped(offline, user.sends_venue(18.7883, 98.9853, "ศาลากลาง", "ถนนโชตนา"))

    assert plain is not None
    assert venue is not None
    assert plain.kind == InboundKind.LOCATION
    assert plain.location == Location(latitude=13.7563, longitude=100.5018)
    assert venue.location == Location(18.7883, 98.9853, "ศาลากลาง", "ถนนโชตนา")


def test_sticker(offline: TelegramChannel, user: FakeTelegramUser) -> None:
    inbound = mapped(offline, user.sends_sticker())

    assert inbound is not None
    assert inbound.kind == InboundKind.STICKER


def test_contact_card_is_not_picked_up(offline: TelegramChannel, user: FakeTelegramUser) -> None:
    assert mapped(offline, user.sends_contact("+66812345678")) is None


def test_edit(offline: TelegramChannel, user: FakeTelegramUser) -> None:
    update = user.edits(41, "แก้ไข: เมื่อวานนี้")

    inbound = mapped(offline, update)

    assert inbound is not None
    assert (inbound.kind, inbound.text, inbound.ref_message_id) == (InboundKind.EDIT, "แก้ไข: เมื่อวานนี้", "41")
    assert inbound.occurred_at == datetime.fromtimestamp(update["edited_message"]["edit_date"], UTC)


def test_live_location_edit_is_not_a_correction(offline: TelegramChannel, user: FakeTelegramUser) -> None:
    update = user.edits(41, "x")
    message = update["edited_message"]
    del message["text"]
    message["location"] = {"latitude": 13.0, "longitude": 100.0, "live_period": 900}

    assert mapped(offline, update) is None


def test_button_tap(offline: TelegramChannel, user: FakeTelegramUser) -> None:
    update = user.taps("cat:bribery")

    inbound = mapped(offline, update)

    assert inbound is not None
    assert inbound.kind == InboundKind.BUTTON
    assert inbound.button == "cat:bribery"
    assert inbound.ack_ref == update["callback_query"]["id"]
    assert inbound.chat_id == "5550001"
    assert inbound.occurred_at == TAP_TIME  # not the date of the message carrying the keyboard


def test_location_payload_is_an_ordinary_button_value(
    offline: TelegramChannel, user: FakeTelegramUser
) -> None:
    inbound = mapped(offline, user.taps(LOCATION_PAYLOAD))

    assert inbound is not None
    assert inbound.button == LOCATION_PAYLOAD


def test_block_and_unblock(offline: TelegramChannel, user: FakeTelegramUser) -> None:
    blocked = mapped(offline, user.blocks_bot())
    unblocked = mapped(offline, user.unblocks_bot())

    assert blocked is not None
    assert unblocked is not None
    assert (blocked.kind, blocked.chat_id, blocked.chat_kind) == (InboundKind.UNFOLLOW, "5550001", "private")
    assert unblocked.kind == InboundKind.FOLLOW


def test_bot_added_to_and_removed_from_a_group(offline: TelegramChannel, user: FakeTelegramUser) -> None:
    joined = mapped(offline, user.adds_bot_to_group(-1001234567890))
    left = mapped(offline, user.removes_bot_from_group(-1001234567890))

    assert joined is not None
    assert left is not None
    assert (joined.kind, joined.chat_id, joined.chat_kind) == (
        InboundKind.JOINED_GROUP,
        "-1001234567890",
        "group",
    )
    assert (left.kind, left.chat_kind) == (InboundKind.LEFT_GROUP, "group")


def test_promotion_in_a_group_is_not_a_join(offline: TelegramChannel, user: FakeTelegramUser) -> None:
    update = user.adds_bot_to_group(-42)
    change = update["my_chat_member"]
    change["old_chat_member"]["status"] = "member"
    change["new_chat_member"] = {
        "status": "administrator",
        "user": change["new_chat_member"]["user"],
        **dict.fromkeys(
            (
                "can_be_edited",
                "is_anonymous",
                "can_manage_chat",
                "can_delete_messages",
                "can_manage_video_chats",
                "can_restrict_members",
                "can_promote_members",
                "can_change_info",
                "can_invite_users",
                "can_post_stories",
                "can_edit_stories",
                "can_delete_stories",
            ),
            False,
        ),
    }

    assert Update.de_json(update, None).my_chat_member is not None  # parsed, then judged
    assert mapped(offline, update) is None


def test_text_in_a_group(offline: TelegramChannel, user: FakeTelegramUser) -> None:
    inbound = mapped(offline, user.says_in_group(-987, "ปปท. เขต 5", "/status"))

    assert inbound is not None
    assert (inbound.chat_id, inbound.chat_kind, inbound.text) == ("-987", "group", "/status")


def test_unknown_and_broken_updates_map_to_none(offline: TelegramChannel, user: FakeTelegramUser) -> None:
    broken = user.says("x")
    del broken["message"]["from"]["is_bot"]  # PTB raises TypeError on a missing required field

    assert offline.to_inbound("1:1", {"update_id": 1, "poll": {"id": "p"}}) is None
    assert offline.to_inbound("1:2", broken) is None
    assert offline.to_inbound("1:3", {"update_id": 3}) is None


def test_inbound_keeps_no_names(offline: TelegramChannel, fake: FakeTelegram) -> None:
    user = fake.user(first_name="Malee", last_name="Srisuk", username="malee_s", language_code="th")

    inbound = mapped(offline, user.says("hi"))

    assert inbound is not None
    assert not {"Malee", "Srisuk", "malee_s"} & {str(v) for v in vars_of(inbound)}


def vars_of(inbound: Inbound) -> list[object]:
    return [getattr(inbound, f.name) for f in fields(inbound)]


def test_bot_id_comes_from_the_token_without_a_network_call() -> None:
    channel = TelegramChannel(token="123456:ABC-def", webhook_secret=None)

    assert channel.bot_id == "123456"
    assert channel.inbox_event({"update_id": 9}).event_id == "123456:9"


@pytest.mark.parametrize("token", ["", "abc", ":x", "12:", "abc:def"])
def test_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(ValueError, match="token"):
        TelegramChannel(token=token, webhook_secret=None)
