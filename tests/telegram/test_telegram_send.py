"""Outbound → Bot API calls against the fake: splitting, keyboards, and error classes → SendResult."""

from __future__ import annotations

import hashlib
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.model import LOCATION_PAYLOAD, Address, Outbound, RenderedButton, SendResult, SendStatus
from handlers.telegram import MAX_TEXT_UNITS, TelegramChannel, split_text
from handlers.telegram_setup import set_commands
from tests.fakes.telegram import FakeTelegram
from tests.telegram.support import make_channel

CHAT = "5550002"


async def send(
    channel: TelegramChannel, *messages: Outbound, chat: str = CHAT, **kwargs: object
) -> SendResult:
    return await channel.send(
        Address("telegram", chat),
        messages,
        reply_token=None,
        retry_key="outbox-1",
        **kwargs,  # type: ignore[arg-type]
    )


def buttons(*pairs: tuple[str, str]) -> tuple[RenderedButton, ...]:
    return tuple(RenderedButton(label, payload) for label, payload in pairs)


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# -- text ------------------------------------------------------------------------------------------


async def test_plain_text_without_markup_or_previews(fake: FakeTelegram, channel: TelegramChannel) -> None:
    text = "<b>ขอบคุณ</b> _ดู_ [นี่](http://evil.example) *x"

    result = await send(channel, Outbound(text=text))

    assert result == SendResult(SendStatus.SENT)
    [delivery] = fake.sent_to(CHAT)
    assert (delivery.text, delivery.parse_mode, delivery.link_preview_disabled) == (text, None, True)


async def test_long_text_is_split_at_4096_with_the_keyboard_on_the_last_part(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    text = "\n".join(f"บรรทัดที่ {n} เจ้าหน้าที่เรียกรับเงินใต้โต๊ะ 👨‍👩‍👧‍👦" for n in range(400))

    result = await send(channel, Outbound(text=text, buttons=buttons(("ยืนยัน", "confirm"))))

    assert result.status == SendStatus.SENT
    parts = fake.sent_to(CHAT)
    assert len(parts) == len(split_text(text)) >= -(-units(text) // MAX_TEXT_UNITS)
    assert all(units(part.text or "") <= MAX_TEXT_UNITS for part in parts)
    assert "".join(part.text or "" for part in parts) == text
    assert [part.reply_markup is not None for part in parts] == [False] * (len(parts) - 1) + [True]


async def test_a_message_without_buttons_takes_down_the_location_keyboard(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    ask = Outbound(text="เกิดที่ไหน?", buttons=buttons(("ส่งโลเคชัน", LOCATION_PAYLOAD), ("ยกเลิก", "c")))
    await send(channel, ask)
    await send(
        channel, Outbound(text="รับทราบ: จ.สุรินทร์"), Outbound(text="เมื่อไร?", buttons=buttons(("ข้าม", "s")))
    )

    markups = [d.reply_markup for d in fake.sent_to(CHAT)]
    assert "keyboard" in (markups[0] or {})
    assert markups[1] == {"remove_keyboard": True}
    assert markups[2] == {"inline_keyboard": [[{"text": "ข้าม", "callback_data": "s"}]]}


async def test_several_outbounds_go_out_in_order(fake: FakeTelegram, channel: TelegramChannel) -> None:
    result = await send(channel, Outbound(text="หนึ่ง"), Outbound(text="สอง"))

    assert result.status == SendStatus.SENT
    assert fake.texts_to(CHAT) == ["หนึ่ง", "สอง"]


async def test_empty_text_sends_nothing(fake: FakeTelegram, channel: TelegramChannel) -> None:
    assert (await send(channel, Outbound(text="  \n"))).status == SendStatus.SENT
    assert fake.sent_to(CHAT) == []


async def test_lone_surrogate_is_replaced_not_a_crash(fake: FakeTelegram, channel: TelegramChannel) -> None:
    result = await send(channel, Outbound(text="ก\ud800ข"))

    assert result.status == SendStatus.SENT
    assert fake.texts_to(CHAT) == ["ก\ufffdข"]


def test_thai_marks_and_emoji_sequences_never_split() -> None:
    thai = "กี่" * 3000  # consonant + vowel mark + tone mark
    flags = "🇹🇭" * 3000
    family = "👨‍👩‍👧" * 1000

    for text in (thai, flags, family, "a" + thai):
        parts = split_text(text)
        assert "".join(parts) == text
        assert all(units(part) <= MAX_TEXT_UNITS for part in parts)
        assert all(not unicodedata.combining(part[0]) and part[0] != "\u200d" for part in parts)
    assert all(len(part) % 2 == 0 for part in split_text(flags))  # whole flags only


def test_split_prefers_line_breaks() -> None:
    paragraph = "ข" * 3000 + "\n"

    assert split_text(paragraph * 3) == [paragraph, paragraph, paragraph]


_text = st.text(
    alphabet=st.sampled_from(
        ["ก", "\u0e35", "\u0e48", "\u0e33", " ", "\n", "a", "😀", "\u200d", "🇹", "🇭", "\r"]
    ),
    max_size=9000,
)


@settings(max_examples=60, deadline=None)
@given(text=_text, limit=st.integers(min_value=4, max_value=300))
def test_split_loses_only_blank_parts_and_keeps_the_limit(text: str, limit: int) -> None:
    parts = split_text(text, limit)

    assert all(part.strip() and units(part) <= limit for part in parts)
    assert _visible("".join(parts)) == _visible(text)


def _visible(text: str) -> list[str]:
    return [char for char in text if not char.isspace()]


# -- keyboards -------------------------------------------------------------------------------------


async def test_inline_keyboard_pairs_short_labels(fake: FakeTelegram, channel: TelegramChannel) -> None:
    keys = buttons(
        ("ใช่", "yes"),
        ("ไม่ใช่", "no"),
        ("ส่งเรื่องร้องเรียนอื่นเพิ่มเติมภายหลัง", "later"),
        ("ยกเลิก", "cancel"),
    )

    assert (await send(channel, Outbound(text="ยืนยัน?", buttons=keys))).status == SendStatus.SENT

    markup = fake.sent_to(CHAT)[0].reply_markup
    assert markup == {
        "inline_keyboard": [
            [{"text": "ใช่", "callback_data": "yes"}, {"text": "ไม่ใช่", "callback_data": "no"}],
            [{"text": "ส่งเรื่องร้องเรียนอื่นเพิ่มเติมภายหลัง", "callback_data": "later"}],
            [{"text": "ยกเลิก", "callback_data": "cancel"}],
        ]
    }


async def test_button_over_64_bytes_is_dropped_and_the_rest_sent(
    fake: FakeTelegram, channel: TelegramChannel, caplog: pytest.LogCaptureFixture
) -> None:
    keys = buttons(("ok", "x" * 64), ("too long", "x" * 65), ("thai", "ก" * 22), ("empty", ""))

    result = await send(channel, Outbound(text="เลือก", buttons=keys))

    assert result.status == SendStatus.SENT
    markup = fake.sent_to(CHAT)[0].reply_markup
    assert markup == {"inline_keyboard": [[{"text": "ok", "callback_data": "x" * 64}]]}
    assert "callback_data is 65 bytes" in caplog.text


async def test_fake_rejects_what_telegram_rejects(fake: FakeTelegram, channel: TelegramChannel) -> None:
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup
    from telegram.error import BadRequest

    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await channel.bot.send_message(CHAT, "x", reply_markup=too_long)
    with pytest.raises(BadRequest, match="too long"):
        await channel.bot.send_message(CHAT, "x" * 4097)
    with pytest.raises(BadRequest, match="empty"):
        await channel.bot.send_message(CHAT, " ")


async def test_location_request_uses_a_reply_keyboard(fake: FakeTelegram, channel: TelegramChannel) -> None:
    keys = buttons(("📍 ส่งตำแหน่ง", LOCATION_PAYLOAD), ("ข้าม", "skip"), ("พิมพ์เอง", "type"))

    result = await send(channel, Outbound(text="เกิดที่ไหน?", buttons=keys, request_location=True))

    assert result.status == SendStatus.SENT
    assert fake.sent_to(CHAT)[0].reply_markup == {
        "keyboard": [
            [{"text": "📍 ส่งตำแหน่ง", "request_location": True}],
            [{"text": "ข้าม"}, {"text": "พิมพ์เอง"}],
        ],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }


# -- attachments -----------------------------------------------------------------------------------


async def test_attachments_go_as_photo_or_document(fake: FakeTelegram, channel: TelegramChannel) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + b"j" * 2000
    pdf = b"%PDF-1.7 " + b"d" * 2000

    result = await send(
        channel,
        Outbound(text="หลักฐาน 1", attachment_id=1),
        Outbound(text="", attachment_id=2),
        attachments={1: jpeg, 2: pdf},
    )

    assert result.status == SendStatus.SENT
    sent = fake.sent_to(CHAT)
    assert [d.method for d in sent] == ["sendPhoto", "sendMessage", "sendDocument"]
    assert hashlib.sha256(sent[0].file or b"").digest() == hashlib.sha256(jpeg).digest()
    assert sent[2].file == pdf


async def test_missing_attachment_bytes_is_permanent(fake: FakeTelegram, channel: TelegramChannel) -> None:
    result = await send(channel, Outbound(text="x", attachment_id=9), attachments={})

    assert result.status == SendStatus.PERMANENT
    assert fake.attempts[CHAT] == 0


# -- errors ----------------------------------------------------------------------------------------


async def test_429_is_retry_after_the_servers_delay(fake: FakeTelegram, channel: TelegramChannel) -> None:
    fake.fail_next_sends(retry_after=7)

    result = await send(channel, Outbound(text="x"))

    assert (result.status, result.retry_after, result.possible_duplicate) == (SendStatus.RETRY, 7.0, False)
    assert fake.sent_to(CHAT) == []


async def test_per_chat_flood_limit_answers_429(fake: FakeTelegram, channel: TelegramChannel) -> None:
    fake.chat_rate_limit = 1.0

    first = await send(channel, Outbound(text="1"))
    second = await send(channel, Outbound(text="2"))
    other_chat = await send(channel, Outbound(text="3"), chat="5550003")

    assert [first.status, second.status, other_chat.status] == [
        SendStatus.SENT,
        SendStatus.RETRY,
        SendStatus.SENT,
    ]
    assert second.retry_after == 1.0


async def test_blocked_is_unreachable(fake: FakeTelegram, channel: TelegramChannel) -> None:
    fake.fail_next_sends(blocked=True)
    scripted = await send(channel, Outbound(text="x"))
    user = fake.user()
    user.blocks_bot()
    real = await send(channel, Outbound(text="x"), chat=str(user.chat_id))

    assert scripted.status == real.status == SendStatus.UNREACHABLE
    assert "blocked" in real.error


async def test_migrated_group_reports_the_new_chat_id(fake: FakeTelegram, channel: TelegramChannel) -> None:
    fake.fail_next_sends(migrate_to=-1009876543210)

    result = await send(channel, Outbound(text="แจ้งเตือน"), chat="-4242")

    assert (result.status, result.new_chat_id) == (SendStatus.MIGRATED, "-1009876543210")


async def test_server_error_is_retry(fake: FakeTelegram, channel: TelegramChannel) -> None:
    fake.fail_next_sends(server_error=True)

    result = await send(channel, Outbound(text="x"))

    assert (result.status, result.retry_after, result.possible_duplicate) == (SendStatus.RETRY, None, False)


async def test_bad_request_is_permanent_not_a_network_retry(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    fake.fail_next_sends(bad_request="chat not found")

    result = await send(channel, Outbound(text="x"))

    assert result.status == SendStatus.PERMANENT
    assert "chat not found" in result.error.lower()


async def test_timeout_is_retry_with_a_possible_duplicate(fake: FakeTelegram) -> None:
    channel = make_channel(fake, request_timeout=0.3)
    await channel.start()
    fake.fail_next_sends(delay=0.8)
    try:
        result = await send(channel, Outbound(text="x"))
    finally:
        await channel.close()

    assert (result.status, result.possible_duplicate) == (SendStatus.RETRY, True)


async def test_revoked_token_pauses_the_channel(fake: FakeTelegram, channel: TelegramChannel) -> None:
    fake.token = "7012345678:revoked"

    result = await send(channel, Outbound(text="x"))

    assert result.status == SendStatus.PAUSED
    assert "AAHfake" not in result.error


async def test_failure_midway_reports_parts_already_sent(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    fake.fail_next_sends(retry_after=3, after=1)

    result = await send(channel, Outbound(text="ก" * 5000))

    assert (result.status, result.retry_after, result.possible_duplicate) == (SendStatus.RETRY, 3.0, True)
    assert len(fake.sent_to(CHAT)) == 1


# -- callbacks and commands ------------------------------------------------------------------------


async def test_button_tap_is_acknowledged(fake: FakeTelegram, channel: TelegramChannel) -> None:
    user = fake.user()
    await send(
        channel, Outbound(text="หมวด?", buttons=buttons(("สินบน", "cat:bribe"))), chat=str(user.chat_id)
    )
    update = user.taps("cat:bribe")
    inbound = channel.to_inbound(channel.inbox_event(update).event_id, update)
    assert inbound is not None

    await channel.acknowledge(inbound)
    await channel.acknowledge(inbound)  # a second answer fails at Telegram and is swallowed

    assert fake.answered_callbacks == [{"id": update["callback_query"]["id"], "text": None}]


async def test_set_commands_per_language(fake: FakeTelegram, channel: TelegramChannel) -> None:
    await set_commands(
        channel,
        {
            "default": [("start", "Start"), ("help", "Help")],
            "th": [("start", "เริ่ม"), ("status", "สถานะ")],
            "en": [("start", "Start"), ("status", "Status")],
        },
    )

    assert fake.commands == {
        None: [("start", "Start"), ("help", "Help")],
        "th": [("start", "เริ่ม"), ("status", "สถานะ")],
        "en": [("start", "Start"), ("status", "Status")],
    }


async def test_staff_groups_get_their_own_command_menu(fake: FakeTelegram, channel: TelegramChannel) -> None:
    await set_commands(channel, {"default": [("start", "เริ่ม")]})
    await set_commands(
        channel, {"default": [("join", "ลงทะเบียนกลุ่ม")], "en": [("join", "Register")]}, groups=True
    )

    assert fake.commands == {None: [("start", "เริ่ม")]}
    assert fake.group_commands == {None: [("join", "ลงทะเบียนกลุ่ม")], "en": [("join", "Register")]}
