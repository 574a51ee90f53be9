"""LineChannel.send against the fake platform: rendering, reply/push, retry keys, error classes."""

from __future__ import annotations

import asyncio
import socket
import unicodedata
import uuid

from bot.core.model import LOCATION_PAYLOAD, Address, Outbound, RenderedButton, SendResult, SendStatus
from handlers.line import LineChannel
from handlers.text import graphemes, utf16_len
from tests.fakes.line import FakeLine, count_graphemes


def key() -> str:
    return str(uuid.uuid4())


async def push(channel: LineChannel, chat_id: str, *texts: str, retry_key: str | None = None) -> SendResult:
    return await channel.send(
        Address("line", chat_id), [Outbound(t) for t in texts], reply_token=None, retry_key=retry_key or key()
    )


async def test_reply_token_is_used_first(line: FakeLine, channel: LineChannel) -> None:
    user = line.user()
    token = user.text("สวัสดี")["replyToken"]
    result = await channel.send(
        Address("line", user.user_id), [Outbound("รับเรื่องแล้ว")], reply_token=token, retry_key=key()
    )
    assert result == SendResult(SendStatus.SENT)
    assert line.texts(user.user_id) == ["รับเรื่องแล้ว"]
    [reply] = line.calls_to("reply")
    assert "X-Line-Retry-Key" not in reply.headers  # LINE answers 400 to a retry key on reply
    assert line.calls_to("push") == []


async def test_used_reply_token_falls_back_to_push(line: FakeLine, channel: LineChannel) -> None:
    user = line.user()
    token = user.text("x")["replyToken"]
    address = Address("line", user.user_id)
    assert (
        await channel.send(address, [Outbound("หนึ่ง")], reply_token=token, retry_key=key())
    ).status == "sent"
    second_key = key()
    result = await channel.send(address, [Outbound("สอง")], reply_token=token, retry_key=second_key)
    assert result.status is SendStatus.SENT
    assert line.texts(user.user_id) == ["หนึ่ง", "สอง"]
    assert [c.status for c in line.calls_to("reply")] == [200, 400]
    [pushed] = line.calls_to("push")
    assert pushed.headers["X-Line-Retry-Key"] == second_key


async def test_expired_reply_token_falls_back_to_push(line: FakeLine, channel: LineChannel) -> None:
    user = line.user()
    token = user.text("x")["replyToken"]
    line.expire_reply_token(token)
    result = await channel.send(
        Address("line", user.user_id), [Outbound("ช้าไป")], reply_token=token, retry_key=key()
    )
    assert result.status is SendStatus.SENT
    assert line.texts(user.user_id) == ["ช้าไป"]
    assert line.calls_to("reply")[0].status == 400


async def test_long_text_is_split_by_utf16_units_on_grapheme_boundaries(
    line: FakeLine, channel: LineChannel
) -> None:
    user = line.user()
    text = "ผู้ใหญ่บ้านเรียกเงิน🍎👨‍👩‍👧 " * 700  # 23 code points, 31 UTF-16 units per repetition
    assert utf16_len(text) > 3 * 5000
    assert (await push(channel, user.user_id, text)).status is SendStatus.SENT
    parts = line.texts(user.user_id)
    assert len(parts) == 5
    assert "".join(parts) == text
    assert all(utf16_len(p) <= 5000 for p in parts)
    cluster_ends = set()
    offset = 0
    for cluster in graphemes(text):
        offset += len(cluster)
        cluster_ends.add(offset)
    offset = 0
    for part in parts[:-1]:
        offset += len(part)
        assert offset in cluster_ends
        assert unicodedata.category(text[offset]) not in ("Mn", "Mc")


async def test_more_than_five_messages_take_several_calls_with_stable_keys(
    line: FakeLine, channel: LineChannel
) -> None:
    user = line.user()
    texts = [f"ข้อความที่ {i}" for i in range(7)]
    retry_key = key()
    assert (await push(channel, user.user_id, *texts, retry_key=retry_key)).status is SendStatus.SENT
    first, second = line.calls_to("push")
    assert len(first.body["messages"]) == 5
    assert len(second.body["messages"]) == 2
    assert first.headers["X-Line-Retry-Key"] == retry_key
    assert uuid.UUID(second.headers["X-Line-Retry-Key"]) != uuid.UUID(retry_key)

    # The same send again (a relay retry) is recognised call by call: nothing is delivered twice.
    assert (await push(channel, user.user_id, *texts, retry_key=retry_key)).status is SendStatus.SENT
    assert [c.status for c in line.calls_to("push")] == [200, 200, 409, 409]
    assert line.texts(user.user_id) == texts


async def test_quick_replies_are_capped_truncated_and_on_the_last_message(
    line: FakeLine, channel: LineChannel
) -> None:
    user = line.user()
    buttons = tuple(RenderedButton(f"ตัวเลือกที่ {i} สำหรับการแจ้งเบาะแส", f"choice:{i}") for i in range(15))
    messages = [Outbound("เลือกหมวดหมู่", buttons=buttons), Outbound("หรือพิมพ์เอง")]
    result = await channel.send(Address("line", user.user_id), messages, reply_token=None, retry_key=key())
    assert result.status is SendStatus.SENT

    first, last = line.deliveries[user.user_id]
    assert "quickReply" not in first
    items = last["quickReply"]["items"]
    assert len(items) == 13
    for i, item in enumerate(items):
        action = item["action"]
        assert action["type"] == "postback"
        assert action["data"] == f"choice:{i}"
        assert count_graphemes(action["label"]) <= 20
        assert len(graphemes(action["label"])) == 20
        assert action["label"].endswith("…")
        assert action["displayText"] == buttons[i].label


async def test_short_labels_are_kept_whole(line: FakeLine, channel: LineChannel) -> None:
    user = line.user()
    buttons = (RenderedButton("ใช่", "yes"), RenderedButton("ไม่ใช่", "no"))
    await channel.send(
        Address("line", user.user_id), [Outbound("ยืนยัน?", buttons=buttons)], reply_token=None, retry_key=key()
    )
    items = line.deliveries[user.user_id][0]["quickReply"]["items"]
    assert [(i["action"]["label"], i["action"]["data"]) for i in items] == [("ใช่", "yes"), ("ไม่ใช่", "no")]


async def test_location_button_becomes_a_location_action(line: FakeLine, channel: LineChannel) -> None:
    user = line.user()
    buttons = (RenderedButton("ส่งตำแหน่งที่ตั้ง", LOCATION_PAYLOAD), RenderedButton("ข้าม", "skip"))
    await channel.send(
        Address("line", user.user_id), [Outbound("ที่ไหน?", buttons=buttons)], reply_token=None, retry_key=key()
    )
    items = line.deliveries[user.user_id][0]["quickReply"]["items"]
    assert items[0]["action"] == {"type": "location", "label": "ส่งตำแหน่งที่ตั้ง"}
    assert items[1]["action"]["type"] == "postback"


async def test_request_location_without_a_button_still_offers_one(
    line: FakeLine, channel: LineChannel
) -> None:
    user = line.user()
    outbound = Outbound("ที่ไหน?", request_location=True)
    await channel.send(Address("line", user.user_id), [outbound], reply_token=None, retry_key=key())
    [item] = line.deliveries[user.user_id][0]["quickReply"]["items"]
    assert item["action"]["type"] == "location"


async def test_repeated_retry_key_is_409_and_counts_as_sent(line: FakeLine, channel: LineChannel) -> None:
    user = line.user()
    retry_key = key()
    assert (await push(channel, user.user_id, "ครั้งเดียว", retry_key=retry_key)).status is SendStatus.SENT
    assert (await push(channel, user.user_id, "ครั้งเดียว", retry_key=retry_key)).status is SendStatus.SENT
    assert [c.status for c in line.calls_to("push")] == [200, 409]
    assert line.texts(user.user_id) == ["ครั้งเดียว"]


async def test_non_uuid_retry_keys_become_stable_uuids(line: FakeLine, channel: LineChannel) -> None:
    user = line.user()
    assert (await push(channel, user.user_id, "a", retry_key="outbox:42")).status is SendStatus.SENT
    assert (await push(channel, user.user_id, "a", retry_key="outbox:42")).status is SendStatus.SENT
    sent_keys = {c.headers["X-Line-Retry-Key"] for c in line.calls_to("push")}
    assert len(sent_keys) == 1
    uuid.UUID(sent_keys.pop())
    assert line.texts(user.user_id) == ["a"]


async def test_timeout_is_retry_and_the_retry_delivers_once(line: FakeLine, channel_factory) -> None:
    impatient = await channel_factory(request_timeout=0.3)
    user = line.user()
    retry_key = key()
    line.delay_next("push", 0.8)
    result = await push(impatient, user.user_id, "ส่งช้า", retry_key=retry_key)
    assert result == SendResult(SendStatus.RETRY, error="timeout")
    await asyncio.sleep(0.7)  # the platform finishes the request the client gave up on
    assert line.texts(user.user_id) == ["ส่งช้า"]
    assert (await push(impatient, user.user_id, "ส่งช้า", retry_key=retry_key)).status is SendStatus.SENT
    assert line.texts(user.user_id) == ["ส่งช้า"]


async def test_rate_limit_is_retry_with_retry_after(line: FakeLine, channel: LineChannel) -> None:
    user = line.user()
    line.rate_limit_next("push", retry_after=7)
    result = await push(channel, user.user_id, "x")
    assert (result.status, result.retry_after) == (SendStatus.RETRY, 7.0)
    assert "rate limit" in result.error
    line.rate_limit_next("push", retry_after=None)
    result = await push(channel, user.user_id, "x")
    assert (result.status, result.retry_after) == (SendStatus.RETRY, None)
    assert line.texts(user.user_id) == []


async def test_monthly_limit_pauses_the_channel(line: FakeLine, channel: LineChannel) -> None:
    line.monthly_limit_next("push")
    result = await push(channel, line.user().user_id, "x")
    assert result.status is SendStatus.PAUSED
    assert result.retry_after is None


async def test_server_error_is_retry_then_sent(line: FakeLine, channel: LineChannel) -> None:
    user = line.user()
    retry_key = key()
    line.fail_next("push", status=500)
    result = await push(channel, user.user_id, "x", retry_key=retry_key)
    assert (result.status, result.retry_after) == (SendStatus.RETRY, None)
    assert (await push(channel, user.user_id, "x", retry_key=retry_key)).status is SendStatus.SENT
    assert line.texts(user.user_id) == ["x"]


async def test_rate_limited_reply_is_retried_not_pushed(line: FakeLine, channel: LineChannel) -> None:
    user = line.user()
    token = user.text("x")["replyToken"]
    line.rate_limit_next("reply", retry_after=2)
    result = await channel.send(
        Address("line", user.user_id), [Outbound("y")], reply_token=token, retry_key=key()
    )
    assert (result.status, result.retry_after) == (SendStatus.RETRY, 2.0)
    assert line.calls_to("push") == []


async def test_reply_then_failed_push_is_resumed_without_repeats(
    line: FakeLine, channel: LineChannel
) -> None:
    user = line.user()
    token = user.text("x")["replyToken"]
    address, retry_key = Address("line", user.user_id), key()
    messages = [Outbound(f"ส่วนที่ {i}") for i in range(7)]
    line.fail_next("push", status=502)
    first = await channel.send(address, messages, reply_token=token, retry_key=retry_key)
    assert first.status is SendStatus.RETRY
    again = await channel.send(address, messages, reply_token=token, retry_key=retry_key)
    assert again.status is SendStatus.SENT
    assert line.texts(user.user_id) == [m.text for m in messages]
    assert len(line.calls_to("reply")) == 1  # the used token is not tried again


async def test_second_push_failing_resumes_from_there(line: FakeLine, channel: LineChannel) -> None:
    user = line.user()
    texts = [f"{i}" for i in range(8)]
    retry_key = key()
    line.fail_next("push", status=503, skip=1)
    assert (await push(channel, user.user_id, *texts, retry_key=retry_key)).status is SendStatus.RETRY
    assert (await push(channel, user.user_id, *texts, retry_key=retry_key)).status is SendStatus.SENT
    assert line.texts(user.user_id) == texts


async def test_client_errors_are_permanent_and_leak_no_ids(line: FakeLine, channel: LineChannel) -> None:
    user = line.user()
    token = line.issue_reply_token(user.user_id)
    line.fail_next(
        "push", status=400, message=f"The property 'to' ({user.user_id}) is invalid; token {token}"
    )
    result = await push(channel, user.user_id, "x")
    assert result.status is SendStatus.PERMANENT
    assert result.error.startswith("LINE 400")
    assert user.user_id not in result.error
    assert token not in result.error


async def test_invalid_recipient_is_permanent(line: FakeLine, channel: LineChannel) -> None:
    result = await push(channel, "not-a-line-id", "x")
    assert result.status is SendStatus.PERMANENT
    assert "'to'" in result.error


async def test_wrong_access_token_is_permanent_without_the_token(line: FakeLine, channel_factory) -> None:
    wrong = await channel_factory(access_token="a-wrong-token-value")
    result = await push(wrong, line.user().user_id, "x")
    assert result.status is SendStatus.PERMANENT
    assert "401" in result.error
    assert "a-wrong-token-value" not in result.error


async def test_connection_refused_is_retry(line: FakeLine, channel_factory) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    dead = await channel_factory(api_base_url=f"http://127.0.0.1:{dead_port}")
    result = await push(dead, line.user().user_id, "x")
    assert result.status is SendStatus.RETRY
    assert result.error.startswith("connection")


async def test_empty_send_is_permanent(line: FakeLine, channel: LineChannel) -> None:
    result = await push(channel, line.user().user_id, "")
    assert result.status is SendStatus.PERMANENT
    assert line.calls == []


async def test_group_push(line: FakeLine, channel: LineChannel) -> None:
    group = line.user().in_group()
    assert (await push(channel, group.group_id or "", "แจ้งเตือนเรื่องใหม่")).status is SendStatus.SENT
    assert line.texts(group.chat_id) == ["แจ้งเตือนเรื่องใหม่"]


async def test_webhook_to_reply_round_trip(
    line: FakeLine, channel: LineChannel, bot_url: str, ingest
) -> None:
    """A user speaks, the event is stored, mapped, and answered on its own reply token."""
    user = line.user()
    await user.say(bot_url, "แจ้งเบาะแส")
    [stored] = ingest.events
    got = channel.to_inbound(stored.event_id, stored.payload)
    assert got is not None
    assert got.reply_token is not None
    result = await channel.send(
        Address("line", got.chat_id), [Outbound("ได้รับแล้ว")], reply_token=got.reply_token, retry_key=key()
    )
    assert result.status is SendStatus.SENT
    assert line.texts(user.user_id) == ["ได้รับแล้ว"]
    assert got.reply_token in line.used_reply_tokens


async def test_a_reply_that_timed_out_is_recorded_as_a_possible_duplicate(
    line: FakeLine, channel_factory
) -> None:
    impatient = await channel_factory(request_timeout=0.3)
    user = line.user()
    token = line.issue_reply_token(user.user_id)
    address, retry_key = Address("line", user.user_id), key()
    line.delay_next("reply", 0.8)
    result = await impatient.send(address, [Outbound("ตอบช้า")], reply_token=token, retry_key=retry_key)
    assert result == SendResult(SendStatus.RETRY, error="timeout", possible_duplicate=True)
    await asyncio.sleep(0.7)
    # the retry finds the token used and pushes: a second copy, which the relay records
    assert (
        await impatient.send(address, [Outbound("ตอบช้า")], reply_token=token, retry_key=retry_key)
    ).status is (SendStatus.SENT)
    assert line.texts(user.user_id) == ["ตอบช้า", "ตอบช้า"]
