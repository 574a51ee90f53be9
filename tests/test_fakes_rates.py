"""The fake platforms enforce LINE's and Telegram's rate limits the way the platforms answer them."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiolimiter import AsyncLimiter

from tests.fakes.line import ERR_RATE, RATE_LIMITS, FakeLine, new_member_id
from tests.fakes.ratelimit import TokenBucket
from tests.fakes.telegram import FakeTelegram


class FrozenClock:
    """The fakes' clock, moved by hand: bucket arithmetic without timing."""

    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def line_push(http: aiohttp.ClientSession, line: FakeLine, to: str, text: str = "x") -> int:
    body = {"to": to, "messages": [{"type": "text", "text": text}]}
    headers = {"Authorization": f"Bearer {line.access_token}"}
    async with http.post(f"{line.url}/v2/bot/message/push", json=body, headers=headers) as response:
        if response.status == 429:
            assert (await response.json()) == {"message": ERR_RATE}
        return response.status


async def line_multicast(http: aiohttp.ClientSession, line: FakeLine, to: list[str], *texts: str) -> int:
    body = {"to": to, "messages": [{"type": "text", "text": t} for t in texts]}
    headers = {"Authorization": f"Bearer {line.access_token}"}
    async with http.post(f"{line.url}/v2/bot/message/multicast", json=body, headers=headers) as response:
        return response.status


async def tg_send(
    http: aiohttp.ClientSession, fake: FakeTelegram, chat_id: int
) -> tuple[int, dict[str, Any]]:
    url = f"{fake.api_base_url}/bot{fake.token}/sendMessage"
    async with http.post(url, data={"chat_id": str(chat_id), "text": "แจ้งเตือน"}) as response:
        return response.status, await response.json()


# -- the bucket -------------------------------------------------------------------------------------


def test_bucket_admits_a_second_worth_then_refills_at_the_rate() -> None:
    clock = FrozenClock()
    bucket = TokenBucket(4.0, tolerance=0, clock=clock)
    assert [bucket.take() for _ in range(6)] == [True] * 4 + [False] * 2
    assert bucket.wait() == pytest.approx(0.25)
    clock.now += 0.5
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    clock.now += 60  # refill stops at the capacity
    assert sum(bucket.take() for _ in range(10)) == 4


def test_bucket_tolerance_adds_that_many_seconds_of_burst() -> None:
    bucket = TokenBucket(10.0, tolerance=0.2, clock=FrozenClock())
    assert sum(bucket.take() for _ in range(20)) == 12


def test_a_slow_rate_still_admits_one_and_states_whole_seconds() -> None:
    clock = FrozenClock()
    bucket = TokenBucket(0.5, tolerance=0, clock=clock)
    assert [bucket.take(), bucket.take()] == [True, False]
    assert bucket.wait_whole_seconds() == 2
    clock.now += 2
    assert bucket.take()


# -- LINE -------------------------------------------------------------------------------------------


def test_line_defaults_are_the_documented_limits() -> None:
    line = FakeLine()
    assert line.rate_limits["multicast"] == 200.0
    assert {line.rate_limits[e] for e in ("reply", "push", "content", "quota")} == {2000.0}
    assert RATE_LIMITS["loading"] == 100.0
    assert FakeLine(rate_limits={"push": 5.0}).rate_limits["multicast"] == 200.0
    with pytest.raises(ValueError, match="unknown endpoint"):
        FakeLine(rate_limits={"pushh": 1.0})
    with pytest.raises(ValueError, match="unknown endpoint"):
        FakeLine(latency={"multicats": 1.0})


async def test_line_burst_above_the_bucket_gets_429_and_nothing_is_delivered(
    http: aiohttp.ClientSession,
) -> None:
    clock = FrozenClock()
    async with FakeLine(rate_limits={"push": 5.0}, rate_tolerance=0, clock=clock) as line:
        users = [new_member_id("U") for _ in range(8)]
        statuses = await asyncio.gather(*(line_push(http, line, u) for u in users))
        assert sorted(statuses) == [200] * 5 + [429] * 3
        refused = line.rate_limited_calls("push")
        assert len(refused) == 3 and all(c.status == 429 for c in refused)
        assert sum(line.delivery_counts().values()) == 5
        assert line.quota_used == 5
        clock.now += 0.4  # two more requests' worth
        assert [await line_push(http, line, users[0]) for _ in range(3)] == [200, 200, 429]


async def test_line_limits_are_per_endpoint(http: aiohttp.ClientSession) -> None:
    clock = FrozenClock()
    async with FakeLine(rate_limits={"push": 1.0, "multicast": 2.0}, rate_tolerance=0, clock=clock) as line:
        user = new_member_id("U")
        assert [await line_push(http, line, user) for _ in range(2)] == [200, 429]
        assert [await line_multicast(http, line, [user], "m") for _ in range(3)] == [200, 200, 429]
        assert [c.endpoint for c in line.rate_limited_calls()] == ["push", "multicast"]


async def test_line_rate_refusal_takes_no_scripted_fault(http: aiohttp.ClientSession) -> None:
    clock = FrozenClock()
    async with FakeLine(rate_limits={"push": 1.0}, rate_tolerance=0, clock=clock) as line:
        user = new_member_id("U")
        assert await line_push(http, line, user) == 200
        line.fail_next("push", status=500)
        assert await line_push(http, line, user) == 429  # the limiter answers first
        clock.now += 1
        assert await line_push(http, line, user) == 500  # the scripted fault is still due
        clock.now += 1
        assert await line_push(http, line, user) == 200


async def test_line_unlimited_and_changed_limits(http: aiohttp.ClientSession) -> None:
    async with FakeLine(rate_limits={"push": None}, rate_tolerance=0, clock=FrozenClock()) as line:
        user = new_member_id("U")
        assert set(await asyncio.gather(*(line_push(http, line, user) for _ in range(60)))) == {200}
        line.set_rate_limit("push", 2.0)
        assert [await line_push(http, line, user) for _ in range(3)] == [200, 200, 429]


async def test_line_delivery_counts_by_endpoint(http: aiohttp.ClientSession) -> None:
    async with FakeLine() as line:
        a, b = new_member_id("U"), new_member_id("U")
        assert await line_push(http, line, a) == 200
        assert await line_multicast(http, line, [a, b], "one", "two") == 200
        assert line.delivery_counts() == Counter({a: 3, b: 2})
        assert line.delivery_counts("multicast") == Counter({a: 2, b: 2})
        assert line.delivery_counts("push") == Counter({a: 1})
        assert line.delivery_counts("reply") == Counter()


async def test_line_client_paced_with_aiolimiter_is_never_refused(http: aiohttp.ClientSession) -> None:
    rate = 100.0
    async with FakeLine(rate_limits={"push": rate}) as line:
        limiter = AsyncLimiter(rate, 1.0)
        user = new_member_id("U")
        pending = list(range(int(2.5 * rate)))
        statuses: list[int] = []

        async def sender() -> None:
            while pending:
                pending.pop()
                await limiter.acquire()
                statuses.append(await line_push(http, line, user))

        await asyncio.gather(*(sender() for _ in range(16)))
        assert statuses == [200] * int(2.5 * rate)
        assert line.rate_limited_calls() == []
        assert line.delivery_counts() == Counter({user: int(2.5 * rate)})


# -- Telegram ---------------------------------------------------------------------------------------


def test_telegram_default_is_30_messages_a_second() -> None:
    assert FakeTelegram().rate_limit == 30.0


async def test_telegram_burst_above_the_bucket_gets_429_with_retry_after(
    http: aiohttp.ClientSession,
) -> None:
    clock = FrozenClock()
    async with FakeTelegram(rate_tolerance=0, clock=clock) as fake:
        chats = [1000 + i for i in range(40)]
        answers = await asyncio.gather(*(tg_send(http, fake, c) for c in chats))
        refused = [body for status, body in answers if status == 429]
        assert len(refused) == 10
        for body in refused:
            assert body == {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 1",
                "parameters": {"retry_after": 1},
            }
        assert sum(fake.delivery_counts().values()) == 30
        assert sum(fake.rate_limited.values()) == 10
        assert sum(fake.attempts.values()) == 40
        clock.now += 0.1  # three messages' worth
        answers = [await tg_send(http, fake, 1) for _ in range(4)]
        assert [status for status, _ in answers] == [200, 200, 200, 429]


async def test_telegram_retry_after_is_the_wait_in_whole_seconds(http: aiohttp.ClientSession) -> None:
    clock = FrozenClock()
    async with FakeTelegram(rate_limit=0.25, rate_tolerance=0, clock=clock) as fake:
        assert (await tg_send(http, fake, 7))[0] == 200
        status, body = await tg_send(http, fake, 7)
        assert (status, body["parameters"]) == (429, {"retry_after": 4})
        clock.now += 4
        assert (await tg_send(http, fake, 7))[0] == 200


async def test_telegram_unlimited_when_asked(http: aiohttp.ClientSession) -> None:
    async with FakeTelegram(rate_limit=None, clock=FrozenClock()) as fake:
        answers = await asyncio.gather(*(tg_send(http, fake, 2000 + i) for i in range(80)))
        assert {status for status, _ in answers} == {200}
        fake.set_rate_limit(1.0)
        assert [(await tg_send(http, fake, 1))[0] for _ in range(2)] == [200, 429]


async def test_telegram_delivery_counts_and_a_scripted_burst_mid_run(http: aiohttp.ClientSession) -> None:
    async with FakeTelegram() as fake:
        fake.fail_next_sends(3, retry_after=5, after=4)
        answers = [await tg_send(http, fake, 300 + i % 2) for i in range(9)]
        assert [status for status, _ in answers] == [200] * 4 + [429] * 3 + [200] * 2
        assert answers[4][1]["parameters"] == {"retry_after": 5}
        assert fake.delivery_counts() == Counter({"300": 3, "301": 3})
        assert fake.rate_limited == Counter()  # scripted answers are not the limiter's


async def test_telegram_client_paced_with_aiolimiter_is_never_refused(http: aiohttp.ClientSession) -> None:
    async with FakeTelegram() as fake:
        assert fake.rate_limit is not None
        limiter = AsyncLimiter(fake.rate_limit, 1.0)
        total = int(2.5 * fake.rate_limit)
        pending = list(range(total))
        statuses: list[int] = []

        async def sender() -> None:
            while pending:
                chat = 5000 + pending.pop()
                await limiter.acquire()
                statuses.append((await tg_send(http, fake, chat))[0])

        await asyncio.gather(*(sender() for _ in range(8)))
        assert statuses == [200] * total
        assert fake.rate_limited == Counter()
        assert sum(fake.delivery_counts().values()) == total
