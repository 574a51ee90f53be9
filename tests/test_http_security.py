"""The HTTP surface against a hostile client: slow bodies and slow request heads, the chat page's
strict policy and its own script and style files, security headers on every answer (errors and
aiohttp's own pages too), and /metrics on its own listener instead of the public port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import DRAINING, build_services, create_app, server_options
from bot.settings import Settings
from tests.drivers import session_of
from tests.drivers_line import line_settings
from tests.drivers_telegram import WEBHOOK_SECRET, telegram_settings
from tests.fakes.line import FakeLine, sign
from tests.fakes.telegram import FakeTelegram
from tests.procs import Proc, base_env, free_port

PAGE_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
}


async def app_for(settings: Settings, *, autostart: bool = False) -> TestServer:
    """The app on 127.0.0.1 with the connection options `tipbot serve` uses."""
    factory = partial(build_services, migrate=True, autostart=autostart)
    server = TestServer(create_app(settings, services_factory=factory))
    await server.start_server(**server_options(settings))
    return server


def policy(header: str) -> dict[str, str]:
    directives = (d.strip().split(None, 1) for d in header.split(";") if d.strip())
    return {d[0]: d[1] if len(d) > 1 else "" for d in directives}


async def raw_exchange(
    port: int, head: bytes, trickle: bytes = b"", every: float = 1.0
) -> tuple[bytes, float]:
    """Send `head` at once and then `trickle` one byte every `every` seconds, reading whatever the
    server answers until it closes the connection; returns the answer and the seconds it took."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = loop.time()
    writer.write(head)
    await writer.drain()

    async def dribble() -> None:
        with contextlib.suppress(ConnectionError, OSError):
            for byte in trickle:
                await asyncio.sleep(every)
                writer.write(bytes([byte]))
                await writer.drain()

    sender = asyncio.create_task(dribble())
    answer = b""
    try:
        async with asyncio.timeout(40):  # generous: the server must close well before this
            with contextlib.suppress(ConnectionError):
                while chunk := await reader.read(65536):
                    answer += chunk
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
    return answer, loop.time() - started


@pytest.fixture
async def served(tmp_path: Path, sqlite_url: str) -> AsyncIterator[Proc]:
    """A real `tipbot serve` with short read limits (the operator's settings)."""
    env = base_env(sqlite_url, tmp_path, None, None)
    proc = Proc("serve", env, tmp_path / "serve.log")
    await proc.start(
        TIPBOT_WEBCHAT="true",
        TIPBOT_HTTP_BODY_TIMEOUT="2",
        TIPBOT_HTTP_KEEPALIVE_TIMEOUT="3",
        TIPBOT_METRICS_BIND="",
    )
    try:
        yield proc
    finally:
        proc.terminate()
        with contextlib.suppress(AssertionError):
            await proc.wait(30)
        proc.kill()


# -- 1. slow bodies and slow request heads ---------------------------------------------------------


async def test_a_trickled_body_gets_408_and_the_connection_is_closed(served: Proc) -> None:
    session = session_of("slow-body")
    body = f'{{"session": "{session}", "type": "text", "text": "สวัสดี"}}'.encode()
    head = (
        b"POST /chat/api/send HTTP/1.1\r\nHost: tipbot\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    # a whole request at once is answered as usual
    answer, _ = await raw_exchange(served.port, head.replace(b"Host:", b"Connection: close\r\nHost:") + body)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]

    # one byte a second: the body never arrives within the 2 s body timeout
    answer, seconds = await raw_exchange(served.port, head + body[:1], trickle=body[1:], every=1.0)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"connection: close" in answer.lower()
    assert seconds < 15, f"the connection stayed open {seconds:.1f} s"  # closed, not lingering
    assert served.alive


async def test_a_trickled_request_head_and_an_idle_connection_are_closed(served: Proc) -> None:
    # headers that never end: closed by the keep-alive timeout (3 s here), nothing answered
    answer, seconds = await raw_exchange(
        served.port, b"GET /healthz HTTP/1.1\r\nHost: tipbot\r\n", trickle=b"X-Slow: " + b"a" * 60, every=0.5
    )
    assert answer == b""
    assert seconds < 15, f"a request head was read for {seconds:.1f} s"

    # a kept-alive connection that goes quiet after its answer is closed too
    answer, seconds = await raw_exchange(served.port, b"GET /healthz HTTP/1.1\r\nHost: tipbot\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200")
    assert seconds < 15, f"an idle connection stayed open {seconds:.1f} s"
    assert served.alive


# -- 2. the chat page: strict policy, script and style from the app's own files --------------------


async def test_the_chat_page_forbids_inline_code_and_framing_and_serves_its_own_files(
    settings: Settings,
) -> None:
    async with TestClient(await app_for(settings)) as client:
        r = await client.get("/chat")
        assert r.status == 200 and r.content_type == "text/html"
        assert policy(r.headers["Content-Security-Policy"]) == PAGE_POLICY
        assert r.headers["X-Frame-Options"] == "DENY"
        html = await r.text()
        # no inline script, style, event handler or style attribute for the policy to forbid
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S | re.I)
        assert scripts and all("src=" in attrs and not code.strip() for attrs, code in scripts)
        assert "<style" not in html.lower()
        assert not re.search(r"\s(on[a-z]+|style)\s*=", html, re.I)

        for path, kind in (
            ("/chat/static/chat.js", "text/javascript"),
            ("/chat/static/chat.css", "text/css"),
        ):
            assert f'"{path}"' in html
            asset = await client.get(path)
            assert asset.status == 200, path
            assert asset.content_type == kind and asset.charset == "utf-8"
            assert asset.headers["X-Content-Type-Options"] == "nosniff"
            assert "no-cache" in asset.headers["Cache-Control"]
            etag = asset.headers["ETag"]
            again = await client.get(path, headers={"If-None-Match": etag})
            assert again.status == 304 and again.headers["ETag"] == etag
        assert "/chat/api/send" in await (await client.get("/chat/static/chat.js")).text()

        for path in ("/chat/static/chat.html", "/chat/static/..%2Fwebchat.py", "/chat/static/nothing.js"):
            assert (await client.get(path)).status == 404, path


# -- 3. security headers on every answer ------------------------------------------------------------


def check_headers(path: str, response: aiohttp.ClientResponse, *, api: bool = True) -> None:
    h = response.headers
    assert h.get("X-Content-Type-Options") == "nosniff", path
    assert h.get("Referrer-Policy") == "no-referrer", path
    assert h.get("X-Frame-Options") == "DENY", path
    assert policy(h.get("Content-Security-Policy", "")).get("frame-ancestors") == "'none'", path
    if api:
        assert h.get("Cache-Control") == "no-store", path
    server = h.get("Server", "")
    assert "aiohttp" not in server.lower() and "python" not in server.lower(), (path, server)


async def test_every_answer_carries_the_security_headers(settings: Settings) -> None:
    async with FakeLine() as line, FakeTelegram() as tg:
        full = telegram_settings(line_settings(settings, line), tg).model_copy(
            update={"max_body_bytes": 4096}
        )
        async with TestClient(await app_for(full)) as client:
            empty = line.webhook_body([])
            answers = {
                "healthz": await client.get("/healthz"),
                "strings": await client.get("/chat/api/strings?lang=th"),
                "messages": await client.get(f"/chat/api/messages?session={session_of('h')}&wait=0"),
                "bad session": await client.get("/chat/api/messages?session=nothex"),
                "bad json": await client.post("/chat/api/send", data=b"{nope"),
                "too large": await client.post(
                    "/chat/api/send", data=b"x" * 5000, headers={"Content-Type": "application/json"}
                ),
                "not found": await client.get("/wp-login.php"),
                "wrong method": await client.post("/healthz"),
                "redirect": await client.get("/", allow_redirects=False),
                "line unsigned": await client.post("/webhooks/line", data=empty),
                "line verify": await client.post(
                    "/webhooks/line",
                    data=empty,
                    headers={"X-Line-Signature": sign(empty, line.channel_secret)},
                ),
                "telegram no secret": await client.post("/webhooks/telegram", data=b"{}"),
                "telegram bad body": await client.post(
                    "/webhooks/telegram",
                    data=b"[]",
                    headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
                ),
            }
            expected = {
                "healthz": 200,
                "strings": 200,
                "messages": 200,
                "bad session": 400,
                "bad json": 400,
                "too large": 413,
                "not found": 404,
                "wrong method": 405,
                "redirect": 302,
                "line unsigned": 401,
                "line verify": 200,
                "telegram no secret": 403,
                "telegram bad body": 400,
            }
            assert {k: r.status for k, r in answers.items()} == expected
            for name, response in answers.items():
                check_headers(name, response)
            page = await client.get("/chat")
            check_headers("page", page, api=False)
            check_headers("script", await client.get("/chat/static/chat.js"), api=False)

            await client.app[DRAINING].begin(client.app)
            stopping = await client.get("/healthz")
            assert stopping.status == 503
            check_headers("stopping", stopping)

            # a request aiohttp refuses before any handler runs: its own error page names nothing
            answer, _ = await raw_exchange(
                client.port, b"GET / HTTP/1.1\r\nHost: tipbot\r\nBad Header\r\n\r\n"
            )
            head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
            assert head.split()[1] == "400", head
            assert "aiohttp" not in head and "python/" not in head, head


async def test_refused_and_abandoned_requests_log_no_address_and_no_bytes(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with TestClient(await app_for(settings)) as client:
        answer, _ = await raw_exchange(
            client.port, b"GET / HTTP/1.1\r\nHost: tipbot\r\nSecret-Looking Header: CANARY-7f3e\r\n\r\n"
        )
        assert answer.split()[1] == b"400"
        # a body that stops half-way: the client hangs up
        _, writer = await asyncio.open_connection("127.0.0.1", client.port)
        writer.write(
            b"POST /chat/api/send HTTP/1.1\r\nHost: tipbot\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"text": "CANARY-7f3e'
        )
        await writer.drain()
        await asyncio.sleep(0.3)
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.3)
        assert (await client.get("/healthz")).status == 200
    logged = [
        (r.levelno, r.getMessage() + (r.exc_text or "") + str(r.exc_info or "")) for r in caplog.records
    ]
    assert any("refused before any handler" in text for _, text in logged), logged
    for level, text in logged:
        assert "127.0.0.1" not in text and "CANARY-7f3e" not in text, text
        assert level < logging.ERROR, text


# -- 4. /metrics off the public port ------------------------------------------------------------------


async def test_metrics_are_on_their_own_listener_and_not_on_the_public_port(settings: Settings) -> None:
    port = free_port()
    with_metrics = settings.model_copy(update={"metrics_bind": f"127.0.0.1:{port}"})
    async with TestClient(await app_for(with_metrics)) as client:
        public = await client.get("/metrics")
        assert public.status == 404
        check_headers("public metrics", public)
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as r:
            assert r.status == 200 and r.content_type == "text/plain"
            text = await r.text()
            assert "# TYPE tipbot_" in text
            check_headers("metrics", r)
    # the listener stops with the app
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(f"http://127.0.0.1:{port}/metrics")


async def test_an_empty_metrics_bind_serves_metrics_nowhere(settings: Settings) -> None:
    async with TestClient(await app_for(settings.model_copy(update={"metrics_bind": ""}))) as client:
        assert (await client.get("/metrics")).status == 404
        assert (await client.get("/healthz")).status == 200
