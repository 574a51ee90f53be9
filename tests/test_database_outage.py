"""The database goes away under a running `tipbot serve` on PostgreSQL (a proxy drops every
connection and refuses new ones): webhooks answer 503, or with a spool 200 and the events are
replayed when the database returns; either way every volunteer is answered once afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from storage.database import upgrade_async
from tests.conftest import PG_URL
from tests.fakes.line import FakeLine
from tests.procs import DbProxy, Proc, base_env, stop_all

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PG_URL is None, reason="needs PostgreSQL: set TIPBOT_TEST_DATABASE_URL"),
]
CONSENT = "คุณยินยอม"


@pytest.fixture
async def proxy(pg_url: str) -> AsyncIterator[DbProxy]:
    await upgrade_async(pg_url)
    u = make_url(pg_url)
    p = DbProxy(u.host or "127.0.0.1", u.port or 5432)
    await p.start()
    yield p
    await p.stop()


async def _answered(line: FakeLine, user_id: str, seconds: float = 30) -> int:
    for _ in range(int(seconds * 20)):
        n = sum(CONSENT in t for t in line.texts(user_id))
        if n:
            await asyncio.sleep(0.5)  # a duplicate would arrive right behind
            return sum(CONSENT in t for t in line.texts(user_id))
        await asyncio.sleep(0.05)
    return 0


async def test_webhooks_get_503_or_are_spooled_while_the_database_is_down(
    proxy: DbProxy, tmp_path: Path
) -> None:
    assert PG_URL is not None
    async with FakeLine() as line:
        env = base_env(proxy.url(PG_URL), tmp_path, line, None)
        plain = Proc("serve", env, tmp_path / "plain.log")
        spooled = Proc("serve", {**env, "TIPBOT_SPOOL_DIR": str(tmp_path / "spool")}, tmp_path / "spool.log")
        try:
            await asyncio.gather(plain.start(), spooled.start())
            before = line.user()
            assert await before.send(plain.url + "/webhooks/line", before.text("สวัสดี")) == 200
            assert await _answered(line, before.user_id) == 1

            await proxy.stop()  # the database restarts: connections drop, new ones are refused
            a, b = line.user(), line.user()
            event_a, event_b = a.text("สวัสดี"), b.text("สวัสดี")
            assert await a.send(plain.url + "/webhooks/line", event_a) == 503
            async with aiohttp.ClientSession() as http, http.get(plain.url + "/healthz") as r:
                assert r.status == 503
            assert await b.send(spooled.url + "/webhooks/line", event_b) == 200
            assert len(list((tmp_path / "spool").glob("*.spool"))) == 1
            await asyncio.sleep(1.0)
            assert not line.texts(a.user_id) and not line.texts(b.user_id)

            await proxy.start()
            # LINE redelivers what got a 503; the spooled event needs nothing from the platform.
            for _ in range(100):
                status = await a.send(plain.url + "/webhooks/line", event_a, redelivery=True)
                if status == 200:
                    break
                await asyncio.sleep(0.2)
            assert status == 200
            assert await _answered(line, a.user_id) == 1
            assert await _answered(line, b.user_id) == 1
            assert list((tmp_path / "spool").glob("*.spool")) == []
        finally:
            await stop_all([plain, spooled])
        assert plain.proc is not None and plain.proc.returncode == 0
        assert spooled.proc is not None and spooled.proc.returncode == 0
