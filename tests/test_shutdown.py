"""SIGTERM to a real `tipbot serve` under traffic: it stops listening, lets the webhook in
progress commit, stops the relay between sends and exits 0; after a restart every event that
was answered 200 is processed and every volunteer is answered exactly once."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.line import FakeLine, sign
from tests.procs import Proc, base_env

pytestmark = pytest.mark.slow
CONSENT = "คุณยินยอม"


@pytest.fixture
async def line() -> AsyncIterator[FakeLine]:
    async with FakeLine() as fake:
        yield fake


async def _post(url: str, body: bytes, signature: str) -> int:
    headers = {"Content-Type": "application/json", "X-Line-Signature": signature}
    try:
        async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
            return r.status
    except aiohttp.ClientError:
        return 0  # not listening any more: the platform redelivers


async def test_sigterm_drains_in_flight_work_and_loses_nothing(line: FakeLine, tmp_path: Path) -> None:
    db = tmp_path / "tipbot.db"
    env = base_env(f"sqlite+aiosqlite:///{db}", tmp_path, line, None)
    server = Proc("serve", env, tmp_path / "serve.log")
    await server.start()
    hook = server.url + "/webhooks/line"

    # Every send takes a while, so SIGTERM arrives with sends on the wire and rows queued.
    line.delay_next("reply", 1.0, count=50)
    line.delay_next("push", 1.0, count=50)
    users = [line.user() for _ in range(4)]
    for user in users:
        assert await user.send(hook, user.text("สวัสดี")) == 200
    for _ in range(200):
        if line.calls_to("reply"):
            break
        await asyncio.sleep(0.05)

    # A webhook inside its commit when SIGTERM comes (the database is busy for a moment):
    # it must finish and answer 200.
    late = line.user()
    body = line.webhook_body([late.text("สวัสดี")])
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    in_flight = asyncio.create_task(_post(hook, body, sign(body, line.channel_secret)))
    await asyncio.sleep(0.5)
    server.terminate()
    await asyncio.sleep(0.5)
    blocker.execute("COMMIT")
    blocker.close()
    assert await in_flight == 200

    # New requests after SIGTERM are refused (no listener) or answered 503, never taken.
    extra = line.user()
    extra_body = line.webhook_body([extra.text("สวัสดี")])
    assert await _post(hook, extra_body, sign(extra_body, line.channel_secret)) in (0, 503)

    assert await server.wait(40) == 0
    assert "stopped: inbox pending" in server.output()

    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT count(*) FROM inbox").fetchone() == (5,)  # 4 + the late one
        sent = con.execute("SELECT count(*) FROM outbox WHERE status = 'sent'").fetchone()[0]
        in_flight = con.execute("SELECT count(*) FROM outbox WHERE last_error = 'in flight'").fetchone()
    finally:
        con.close()
    # every send that reached LINE is recorded as sent: none was cut off mid-way
    accepted = [c for c in line.calls if c.endpoint in ("reply", "push") and c.status == 200]
    assert sent == len(accepted) and sent >= 1
    assert in_flight == (0,)

    await server.start()
    try:
        everyone = [*users, late]
        for _ in range(400):
            if all(any(CONSENT in t for t in line.texts(u.user_id)) for u in everyone):
                break
            await asyncio.sleep(0.05)
        for u in everyone:
            assert sum(CONSENT in t for t in line.texts(u.user_id)) == 1, u.user_id
        assert not line.texts(extra.user_id)  # refused, so never processed (LINE redelivers it)
    finally:
        server.terminate()
        await server.wait(40)
