"""LineChannel.multicast against the fake platform: one call, retry keys, error classes, pacing."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

from aiolimiter import AsyncLimiter

from bot.core.model import Outbound, RenderedButton, SendResult, SendStatus
from handlers.line import LineChannel
from tests.fakes.line import FakeLine, new_member_id
from tests.line.conftest import make_channel

NOTICE = [Outbound("ข่าวกิจกรรม: อบรมอาสาสมัครวันเสาร์นี้")]


def key() -> str:
    return str(uuid.uuid4())


def users(count: int) -> list[str]:
    return [new_member_id("U") for _ in range(count)]


class FrozenClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_one_call_delivers_once_to_each_user(line: FakeLine, channel: LineChannel) -> None:
    ids = users(channel.max_multicast)
    retry_key = key()
    result = await channel.multicast(ids, NOTICE, retry_key=retry_key)
    assert result == SendResult(SendStatus.SENT)
    [call] = line.calls_to("multicast")
    assert call.status == 200
    assert call.headers["X-Line-Retry-Key"] == retry_key
    assert call.body["to"] == ids
    assert line.delivery_counts("multicast") == Counter(dict.fromkeys(ids, 1))
    assert all(line.texts(u) == [NOTICE[0].text] for u in ids)
    assert line.quota_used == len(ids)  # LINE counts a multicast per recipient


async def test_several_messages_and_buttons_go_in_the_same_call(line: FakeLine, channel: LineChannel) -> None:
    ids = users(3)
    messages = [
        Outbound("หนึ่ง"),
        Outbound("สอง", buttons=(RenderedButton(label="หยุดรับข่าว", payload="notices:off"),)),
    ]
    assert (await channel.multicast(ids, messages, retry_key=key())).status is SendStatus.SENT
    [call] = line.calls_to("multicast")
    assert [m["text"] for m in call.body["messages"]] == ["หนึ่ง", "สอง"]
    [item] = call.body["messages"][-1]["quickReply"]["items"]
    assert item["action"]["data"] == "notices:off"
    assert line.delivery_counts() == Counter(dict.fromkeys(ids, 2))


async def test_repeated_ids_are_sent_once(line: FakeLine, channel: LineChannel) -> None:
    a, b = users(2)
    assert (await channel.multicast([a, b, a], NOTICE, retry_key=key())).status is SendStatus.SENT
    assert line.calls_to("multicast")[0].body["to"] == [a, b]
    assert line.delivery_counts() == Counter({a: 1, b: 1})


async def test_resend_with_the_same_key_is_sent_without_a_second_delivery(
    line: FakeLine, channel: LineChannel
) -> None:
    ids = users(5)
    retry_key = key()
    assert (await channel.multicast(ids, NOTICE, retry_key=retry_key)).status is SendStatus.SENT
    assert (await channel.multicast(ids, NOTICE, retry_key=retry_key)).status is SendStatus.SENT
    assert [c.status for c in line.calls_to("multicast")] == [200, 409]
    assert line.delivery_counts() == Counter(dict.fromkeys(ids, 1))


async def test_non_uuid_retry_key_maps_to_the_same_uuid_every_time(
    line: FakeLine, channel: LineChannel
) -> None:
    ids = users(4)
    for _ in range(2):
        result = await channel.multicast(ids, NOTICE, retry_key="broadcast:7:batch:0")
        assert result.status is SendStatus.SENT
    first, second = line.calls_to("multicast")
    assert (first.status, second.status) == (200, 409)
    assert first.headers["X-Line-Retry-Key"] == second.headers["X-Line-Retry-Key"]
    uuid.UUID(first.headers["X-Line-Retry-Key"])  # LINE accepts only UUIDs
    # another batch of the same broadcast gets another key, so it is not taken for a repeat
    others = users(4)
    assert (
        await channel.multicast(others, NOTICE, retry_key="broadcast:7:batch:1")
    ).status is SendStatus.SENT
    assert line.calls_to("multicast")[2].headers["X-Line-Retry-Key"] != first.headers["X-Line-Retry-Key"]
    assert line.delivery_counts() == Counter(dict.fromkeys(ids + others, 1))


async def test_rate_limit_is_retry_with_retry_after_then_delivers_once(
    line: FakeLine, channel: LineChannel
) -> None:
    ids = users(3)
    retry_key = key()
    line.rate_limit_next("multicast", retry_after=4)
    result = await channel.multicast(ids, NOTICE, retry_key=retry_key)
    assert (result.status, result.retry_after) == (SendStatus.RETRY, 4.0)
    assert "rate limit" in result.error
    assert line.delivery_counts() == Counter()
    assert (await channel.multicast(ids, NOTICE, retry_key=retry_key)).status is SendStatus.SENT
    assert line.delivery_counts() == Counter(dict.fromkeys(ids, 1))


async def test_monthly_limit_pauses(line: FakeLine, channel: LineChannel) -> None:
    line.monthly_limit_next("multicast")
    result = await channel.multicast(users(2), NOTICE, retry_key=key())
    assert result.status is SendStatus.PAUSED
    assert "monthly limit" in result.error
    assert line.delivery_counts() == Counter()


async def test_server_error_is_retry_and_the_retry_delivers_once(
    line: FakeLine, channel: LineChannel
) -> None:
    ids = users(3)
    retry_key = key()
    line.fail_next("multicast", status=500)
    result = await channel.multicast(ids, NOTICE, retry_key=retry_key)
    assert (result.status, result.retry_after) == (SendStatus.RETRY, None)
    assert (await channel.multicast(ids, NOTICE, retry_key=retry_key)).status is SendStatus.SENT
    assert line.delivery_counts() == Counter(dict.fromkeys(ids, 1))


async def test_timeout_is_retry_and_the_retry_is_not_delivered_again() -> None:
    # The fake does the work, then answers after the latency: the client gives up on a
    # request that went through, and only the retry key keeps the retry from repeating it.
    async with (
        FakeLine(latency={"multicast": 0.8}) as slow,
        make_channel(slow, request_timeout=0.3) as impatient,
    ):
        ids = users(3)
        retry_key = key()
        assert await impatient.multicast(ids, NOTICE, retry_key=retry_key) == SendResult(
            SendStatus.RETRY, error="timeout"
        )
        assert slow.delivery_counts() == Counter(dict.fromkeys(ids, 1))
        slow.latency.clear()
        assert (await impatient.multicast(ids, NOTICE, retry_key=retry_key)).status is SendStatus.SENT
        assert slow.delivery_counts() == Counter(dict.fromkeys(ids, 1))
        _first, retry = slow.calls_to("multicast")  # the first one's answer is still on its way
        assert retry.status == 409


async def test_the_platform_rate_limiter_answers_retry() -> None:
    clock = FrozenClock()
    async with (
        FakeLine(rate_limits={"multicast": 1.0}, rate_tolerance=0, clock=clock) as strict,
        make_channel(strict) as channel,
    ):
        first, second = users(1), users(1)
        assert (await channel.multicast(first, NOTICE, retry_key=key())).status is SendStatus.SENT
        retry_key = key()
        refused = await channel.multicast(second, NOTICE, retry_key=retry_key)
        assert (refused.status, refused.retry_after) == (SendStatus.RETRY, None)
        assert [c.rate_limited for c in strict.calls_to("multicast")] == [False, True]
        clock.now += 1.0
        assert (await channel.multicast(second, NOTICE, retry_key=retry_key)).status is SendStatus.SENT
        assert strict.delivery_counts() == Counter(dict.fromkeys(first + second, 1))


async def test_client_errors_are_permanent(line: FakeLine, channel: LineChannel) -> None:
    group = new_member_id("C")  # multicast takes user ids only
    result = await channel.multicast([group], NOTICE, retry_key=key())
    assert result.status is SendStatus.PERMANENT
    assert result.error.startswith("LINE 400")
    assert group[1:] not in result.error
    assert line.delivery_counts() == Counter()


async def test_what_cannot_be_one_call_is_permanent_without_calling(
    line: FakeLine, channel: LineChannel
) -> None:
    too_many_messages = [Outbound(f"ส่วนที่ {i}") for i in range(6)]
    cases: list[tuple[list[str], list[Outbound]]] = [
        ([], NOTICE),
        (users(channel.max_multicast + 1), NOTICE),
        (users(2), too_many_messages),
        (users(2), []),
    ]
    for ids, messages in cases:
        result = await channel.multicast(ids, messages, retry_key=key())
        assert result.status is SendStatus.PERMANENT, (len(ids), len(messages))
        assert result.error
    assert line.calls_to("multicast") == []
    # a long text that LINE needs six messages for is refused too, not cut
    long_text = "ก" * (5 * 5000 + 1)
    result = await channel.multicast(users(1), [Outbound(long_text)], retry_key=key())
    assert result.status is SendStatus.PERMANENT
    assert line.calls_to("multicast") == []


async def test_five_messages_still_fit(line: FakeLine, channel: LineChannel) -> None:
    ids = users(2)
    messages = [Outbound(f"ส่วนที่ {i}") for i in range(5)]
    assert (await channel.multicast(ids, messages, retry_key=key())).status is SendStatus.SENT
    assert line.delivery_counts("multicast") == Counter(dict.fromkeys(ids, 5))


async def _fan_out(
    channel: LineChannel,
    batches: list[list[str]],
    *,
    pace: Callable[[], Awaitable[None]] | None = None,
    workers: int | None = None,
) -> list[SendResult]:
    """Multicast every batch (one call each) from ``workers`` concurrent senders (None: all at once)."""
    results: list[SendResult] = []
    pending = list(batches)

    async def sender() -> None:
        while pending:
            ids = pending.pop(0)
            if pace is not None:
                await pace()
            results.append(await channel.multicast(ids, NOTICE, retry_key=key()))

    await asyncio.gather(*(sender() for _ in range(workers or len(batches))))
    return results


async def test_paced_at_the_documented_rate_nothing_is_refused(line: FakeLine, channel: LineChannel) -> None:
    # Twice the per-second limit: a burst of one second's worth, then one call every 5 ms.
    limiter = AsyncLimiter(channel.multicast_per_second, 1.0)
    batches = [users(2) for _ in range(int(2 * channel.multicast_per_second))]
    results = await _fan_out(channel, batches, pace=limiter.acquire, workers=16)
    assert Counter(r.status for r in results) == Counter({SendStatus.SENT: len(batches)})
    assert line.rate_limited_calls() == []
    assert line.delivery_counts() == Counter({u: 1 for ids in batches for u in ids})


async def test_unpaced_a_burst_over_one_seconds_worth_is_refused_in_part() -> None:
    # The fake's clock stands still, so exactly one second's worth of calls gets through.
    async with (
        FakeLine(rate_tolerance=0, clock=FrozenClock()) as line,
        make_channel(line) as channel,
    ):
        batches = [users(1) for _ in range(int(2 * channel.multicast_per_second))]
        results = await _fan_out(channel, batches)
        refused = [r for r in results if r.status is SendStatus.RETRY]
        assert len(refused) == len(batches) - int(channel.multicast_per_second)
        assert len(line.rate_limited_calls("multicast")) == len(refused)
        assert all("rate limit" in r.error for r in refused)
        assert sum(line.delivery_counts().values()) == int(channel.multicast_per_second)
