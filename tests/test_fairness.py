"""One client cannot starve the others: web-chat rate limits (real HTTP against the app), a fair
dispatcher (a chat with a thousand events queued does not hold another back; LINE chats with a
live reply token go first), and a LINE volunteer answered by reply while a web-chat flood runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from sqlalchemy import func, select

from bot.app import Services, build_services, create_app
from bot.core.model import InboxEvent
from bot.settings import Settings
from handlers.ratelimit import KeyedLimiter, Rate, client_address
from storage import tables as t
from storage.repositories import SqlStore
from tests.conftest import make_settings
from tests.drivers_line import line_driver
from tests.harness import FakeClock

#: slow enough that nothing leaks back during a test: the burst is all a client gets
SLOW = 0.01


def session(n: object) -> str:
    return hashlib.sha256(f"fairness-{n}".encode()).hexdigest()[:32]


def limited(url: str, tmp_path: Path, **extra: object) -> Settings:
    return make_settings(
        url,
        tmp_path,
        webchat_session_rate=SLOW,
        webchat_session_burst=5,
        webchat_address_rate=SLOW,
        webchat_address_burst=12,
        **extra,
    )


@pytest.fixture
async def client_factory() -> AsyncIterator[Any]:
    clients: list[TestClient[Any, Any]] = []

    async def make(settings: Settings) -> TestClient[Any, Any]:
        factory = partial(build_services, migrate=True, autostart=False)
        client: TestClient[Any, Any] = TestClient(
            TestServer(create_app(settings, services_factory=factory), host="127.0.0.1")
        )
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for c in clients:
        await c.close()


async def post(client: TestClient[Any, Any], sid: str, text: str = "สวัสดี", **headers: str) -> Any:
    body = {"session": sid, "type": "text", "text": text, "id": str(uuid.uuid4())}
    return await client.post("/chat/api/send", json=body, headers=headers)


async def inbox_rows(client: TestClient[Any, Any]) -> int:
    from bot.app import SERVICES

    services: Services = client.app[SERVICES]
    async with services.store.transaction() as uow:
        return int((await uow.session.execute(select(func.count()).select_from(t.InboxRow))).scalar_one())


# -- rate limits on the web chat ------------------------------------------------------------------


async def test_a_flooding_session_gets_429_while_another_session_is_unaffected(
    tmp_path: Path, sqlite_url: str, client_factory: Any
) -> None:
    client = await client_factory(limited(sqlite_url, tmp_path))
    flooder, other = session("flooder"), session("other")
    statuses = [(await post(client, flooder)).status for _ in range(20)]
    assert statuses == [200] * 5 + [429] * 15

    refused = await post(client, flooder)
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) >= 1
    body = await refused.json()
    assert body["error"] == "rate_limited" and body["retry_after"] >= 1
    # the page shows the refusal in the visitor's language from its own labels
    for lang in ("th", "en"):
        labels = await (await client.get(f"/chat/api/strings?lang={lang}")).json()
        assert labels[body["key"]]

    assert (await post(client, other)).status == 200
    assert await inbox_rows(client) == 6  # refused posts leave nothing in the database


async def test_rotating_session_ids_from_one_address_hits_the_address_limit(
    tmp_path: Path, sqlite_url: str, client_factory: Any
) -> None:
    client = await client_factory(limited(sqlite_url, tmp_path))
    statuses = [(await post(client, session(f"rotating-{n}"))).status for n in range(30)]
    assert statuses == [200] * 12 + [429] * 18
    # a forged X-Forwarded-For is ignored while no trusted proxy is configured
    forged = [
        (await post(client, session(f"forged-{n}"), **{"X-Forwarded-For": f"198.51.100.{n}"})).status
        for n in range(5)
    ]
    assert forged == [429] * 5
    assert await inbox_rows(client) == 12


async def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_limit(
    tmp_path: Path, sqlite_url: str, client_factory: Any
) -> None:
    client = await client_factory(limited(sqlite_url, tmp_path, trusted_proxy_hops=1))

    def via_proxy(client_wrote: str, proxy_saw: str) -> dict[str, str]:
        # the client may write anything on the left; the proxy appends the address it saw
        return {"X-Forwarded-For": f"{client_wrote}, {proxy_saw}"}

    school = [
        (await post(client, session(f"school-{n}"), **via_proxy(f"10.0.0.{n}", "203.0.113.7"))).status
        for n in range(14)
    ]
    assert school == [200] * 12 + [429] * 2
    home = await post(client, session("home"), **via_proxy("203.0.113.7", "203.0.113.8"))
    assert home.status == 200


def test_client_address_counts_ipv6_per_64_and_reads_only_trusted_hops() -> None:
    class Transport:
        def __init__(self, peer: str) -> None:
            self.peer = peer

        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return (self.peer, 40000) if name == "peername" else default

        def is_closing(self) -> bool:
            return False

    def request(peer: str, xff: str | None = None) -> Any:
        headers = {"X-Forwarded-For": xff} if xff else {}
        return make_mocked_request("POST", "/chat/api/send", headers=headers, transport=Transport(peer))

    a = client_address(request("2001:db8:1:2:aaaa::1"))
    b = client_address(request("2001:db8:1:2:bbbb::9"))
    assert a == b == "2001:db8:1:2::/64"
    assert client_address(request("192.0.2.1", "203.0.113.5")) == "192.0.2.1"
    assert client_address(request("192.0.2.1", "198.51.100.1, 203.0.113.5"), 1) == "203.0.113.5"
    assert client_address(request("192.0.2.1", "198.51.100.1, 203.0.113.5"), 2) == "198.51.100.1"
    # fewer entries than trusted hops: the header is not what the proxies would write
    assert client_address(request("192.0.2.1", "203.0.113.5"), 2) == "192.0.2.1"


async def test_the_limiter_forgets_the_least_recently_used_and_stays_bounded() -> None:
    limiter = KeyedLimiter(Rate(SLOW, 2), max_keys=100)
    for n in range(5000):
        assert limiter.has_room(f"rotating-{n}")
        await limiter.take(f"rotating-{n}")
    assert len(limiter) == 100
    await limiter.take("kept")
    await limiter.take("kept")
    assert not limiter.has_room("kept")
    for n in range(50):  # other keys come and go; a recently used one is kept
        limiter.has_room(f"more-{n}")
    assert not limiter.has_room("kept")


# -- the fair dispatcher --------------------------------------------------------------------------

NOW = datetime.now(UTC) - timedelta(minutes=5)


def webchat_event(sid: str, n: int, at: datetime) -> InboxEvent:
    payload = {"type": "text", "text": f"ข้อความ {n}", "session": sid, "at": at.isoformat()}
    return InboxEvent("webchat", f"flood-{sid[:8]}-{n:05d}", sid, at, payload)


async def statuses(store: SqlStore, channel: str) -> dict[str, str]:
    async with store.transaction() as uow:
        rows = await uow.session.execute(
            select(t.InboxRow.event_id, t.InboxRow.status).where(t.InboxRow.channel == channel)
        )
        return {str(e): str(s) for e, s in rows.all()}


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    built = await build_services(settings, migrate=True, autostart=False)
    yield built
    await built.close()


async def test_a_chat_with_a_thousand_pending_events_does_not_hold_back_another(services: Services) -> None:
    flooder, quiet = session("flooder"), session("quiet")
    flood = [webchat_event(flooder, n, NOW + timedelta(milliseconds=n)) for n in range(1000)]
    await services.store.ingest(flood, NOW)
    await services.store.ingest([webchat_event(quiet, 0, NOW + timedelta(seconds=5))], NOW)

    await services.dispatcher.drain()  # one round

    seen = await statuses(services.store, "webchat")
    assert seen[f"flood-{quiet[:8]}-00000"] == "done"
    done = sorted(e for e, s in seen.items() if e.startswith(f"flood-{flooder[:8]}") and s == "done")
    # the flooder got its fair share of the round, its oldest events, in arrival order
    assert 1 <= len(done) <= services.dispatcher.per_chat
    assert done == [e.event_id for e in flood[: len(done)]]


async def test_pending_rows_are_interleaved_per_chat_and_a_waiting_row_holds_back_its_chat(
    services: Services,
) -> None:
    a, b, c = session("a"), session("b"), session("c")
    events = [
        webchat_event(x, n, NOW + timedelta(milliseconds=10 * n + i))
        for n in range(3)
        for i, x in enumerate((a, b, c))
    ]
    await services.store.ingest(events, NOW)
    async with services.store.transaction() as uow:
        ids = dict((await uow.session.execute(select(t.InboxRow.event_id, t.InboxRow.id))).all())
        # c's first event waits for a retry (e.g. a photo not ready): c's later ones wait too
        await uow.inbox.retry_later(
            ids[f"flood-{c[:8]}-00000"], "media not ready", datetime.now(UTC) + timedelta(minutes=5)
        )
    async with services.store.transaction() as uow:
        picked = await uow.inbox.pending(100, datetime.now(UTC), per_chat=2)
    order = [item.event_id for item, _ in picked]
    assert order == [
        f"flood-{a[:8]}-00000",
        f"flood-{b[:8]}-00000",
        f"flood-{a[:8]}-00001",
        f"flood-{b[:8]}-00001",
    ]


async def test_a_line_chat_with_a_live_reply_token_is_served_in_the_first_round(
    settings: Settings, tmp_path: Path
) -> None:
    async with line_driver(settings, FakeClock(), tmp_path) as bot:
        # 60 web-chat visitors queued before the LINE volunteer wrote: more than a round of 40
        crowd = [webchat_event(session(f"crowd-{n}"), 0, NOW + timedelta(milliseconds=n)) for n in range(60)]
        await bot.services.store.ingest(crowd, NOW)
        volunteer = bot.user("volunteer")
        assert await bot.line.deliver(bot.url, volunteer.text("สวัสดี")) == 200

        await bot.services.dispatcher.drain(limit=40)  # one round

        assert set((await statuses(bot.services.store, "line")).values()) == {"done"}
        await bot.services.relay.drain()
        assert bot.line.delivered_by[volunteer.chat_id][:1] == ["reply"]


# -- the pipeline under a flood -------------------------------------------------------------------


async def test_a_line_volunteer_is_answered_by_reply_while_a_web_chat_flood_runs(
    settings: Settings, tmp_path: Path
) -> None:
    """The flood got past the HTTP limits (many addresses): 1,500 events of one identity and
    1,000 one-event visitors already in the inbox, the app's own loops working them off."""
    async with line_driver(settings, FakeClock(), tmp_path, background=True) as bot:
        now = datetime.now(UTC)
        one = session("one-identity")
        flood = [webchat_event(one, n, now + timedelta(microseconds=n)) for n in range(1500)]
        flood += [
            webchat_event(session(f"visitor-{n}"), 0, now + timedelta(microseconds=n)) for n in range(1000)
        ]
        await bot.services.store.ingest(flood, now)
        bot.services.dispatcher.wake.set()
        await asyncio.sleep(0.5)  # the dispatcher is in the middle of the flood

        volunteer = bot.user("volunteer")
        started = time.monotonic()
        assert await bot.line.deliver(bot.url, volunteer.text("สวัสดี")) == 200
        while not bot.line.delivered_by.get(volunteer.chat_id):
            # LINE reply tokens last about a minute; the adapter stops using one after 50 s
            assert time.monotonic() - started < 45, "no answer within the reply token's lifetime"
            await asyncio.sleep(0.05)
        waited = time.monotonic() - started

        assert bot.line.delivered_by[volunteer.chat_id][0] == "reply"
        assert waited < 30  # generous: measured well under a second (bench/flood.py)
        left = await statuses(bot.services.store, "webchat")
        pending = sum(1 for s in left.values() if s == "pending")
        # answered while most of the flood still waited, not after it
        assert pending > len(flood) // 2
