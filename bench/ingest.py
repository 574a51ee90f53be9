"""Webhook ingest benchmark: signed LINE webhooks against tipbot and against a bare endpoint.

For each target it prints accepted events per second (closed loop, `--concurrency` requests in
flight), p50/p99 acknowledgement latency at full load and at half the bare endpoint's ceiling
(open loop), p50/p99 latency from an event being acknowledged to its reply reaching the (fake)
LINE platform at a steady `--reply-rate`, and the peak RSS of each tipbot process.

Targets: a bare aiohttp endpoint that only verifies the signature and answers 200 (the ceiling of
this machine and this client), tipbot with 1, 2 and 4 `serve` processes on PostgreSQL, and one on
SQLite. Every tipbot event is a new volunteer saying hello: stored durably in the inbox before
the 200, then processed and answered through the whole pipeline.

    python bench/ingest.py [--seconds 8] [--concurrency 32] [--pg-url URL] [--only bare,pg1,...]

PostgreSQL comes from --pg-url or TIPBOT_BENCH_DATABASE_URL; its schema is WIPED: never point it
at a database holding anything you want to keep.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from measure import free_port, pct, peak_rss_mb, wait_healthy  # bench/ is the script's folder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.line import FAKE_ACCESS_TOKEN, FAKE_CHANNEL_SECRET, FakeLine, new_ulid  # noqa: E402

SECRET_KEY = "bench-secret-key-0123456789abcdef"


# ---- the bare endpoint ------------------------------------------------------------------------


def bare_server(port: int) -> None:
    from aiohttp import web

    key = FAKE_CHANNEL_SECRET.encode()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        digest = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(digest, request.headers.get("X-Line-Signature", "")):
            return web.Response(status=401)
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_post("/webhooks/line", receive)
    app.router.add_get("/healthz", lambda r: web.json_response({"status": "ok"}))
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# ---- load ----------------------------------------------------------------------------------------


class Load:
    def __init__(self, line: FakeLine, urls: list[str]) -> None:
        self.line = line
        self.urls = urls
        self.n = 0
        self.sent_at: dict[str, float] = {}  # user id → when its event was acknowledged
        self.replied_at: dict[str, float] = {}

    def event(self) -> tuple[str, bytes, str]:
        user = "U" + secrets.token_hex(16)
        event = {
            "type": "message",
            "mode": "active",
            "timestamp": int(time.time() * 1000),
            "source": {"type": "user", "userId": user},
            "webhookEventId": new_ulid(),
            "deliveryContext": {"isRedelivery": False},
            "replyToken": self.line.issue_reply_token(user),
            "message": {"id": self.line.new_message_id(), "type": "text", "text": "สวัสดี", "quoteToken": "q"},
        }
        body = json.dumps({"destination": self.line.bot_user_id, "events": [event]}).encode()
        signature = base64.b64encode(
            hmac.new(FAKE_CHANNEL_SECRET.encode(), body, hashlib.sha256).digest()
        ).decode()
        return user, body, signature

    async def post(self, http: aiohttp.ClientSession) -> tuple[float, str | None]:
        user, body, signature = self.event()
        url = self.urls[self.n % len(self.urls)]
        self.n += 1
        started = time.perf_counter()
        headers = {"Content-Type": "application/json", "X-Line-Signature": signature}
        async with http.post(url, data=body, headers=headers) as r:
            await r.read()
            ok = r.status == 200
        took = time.perf_counter() - started
        if ok:
            self.sent_at[user] = time.perf_counter()
        return took, user if ok else None

    async def closed_loop(self, seconds: float, concurrency: int) -> tuple[int, list[float]]:
        acks: list[float] = []
        accepted = 0
        deadline = time.perf_counter() + seconds
        conn = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=conn) as http:

            async def client() -> None:
                nonlocal accepted
                while time.perf_counter() < deadline:
                    took, user = await self.post(http)
                    if user is not None:
                        accepted += 1
                        acks.append(took)

            await asyncio.gather(*(client() for _ in range(concurrency)))
        return accepted, acks

    async def open_loop(self, seconds: float, rate: float) -> list[float]:
        acks: list[float] = []
        conn = aiohttp.TCPConnector(limit=512)
        async with aiohttp.ClientSession(connector=conn) as http:
            tasks = []
            start = time.perf_counter()
            n = int(seconds * rate)
            for i in range(n):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(self.post(http)))
            for took, user in await asyncio.gather(*tasks):
                if user is not None:
                    acks.append(took)
        return acks


def watch_replies(line: FakeLine, load: Load) -> None:
    original = line._deliver

    def deliver(recipients: list[str], messages: list[dict[str, Any]], endpoint: str) -> Any:
        now = time.perf_counter()
        for r in recipients:
            load.replied_at.setdefault(r, now)
        return original(recipients, messages, endpoint)

    line._deliver = deliver  # type: ignore[method-assign]


# ---- targets -------------------------------------------------------------------------------------


class Target:
    def __init__(self, name: str, procs: list[subprocess.Popen[bytes]], urls: list[str]) -> None:
        self.name, self.procs, self.urls = name, procs, urls

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=40)
            except subprocess.TimeoutExpired:
                p.kill()


async def start_bare() -> Target:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--bare-server", str(port)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    await wait_healthy(url)
    return Target("bare", [proc], [url + "/webhooks/line"])


async def reset_postgres(url: str) -> None:
    import asyncpg

    from storage.database import upgrade_async

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()
    await upgrade_async(url)


async def start_tipbot(name: str, n: int, db_url: str, line: FakeLine, tmp: Path, workers: int = 0) -> Target:
    """`n` serve processes; with `workers`, they only take webhooks and `workers` worker
    processes (woken by PostgreSQL NOTIFY) do the rest."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPBOT_")}
    env.update(
        {
            "TIPBOT_DATABASE_URL": db_url,
            "TIPBOT_SECRET_KEY": SECRET_KEY,
            "TIPBOT_STORY_PAUSE": "0",
            "TIPBOT_MEDIA_DIR": str(tmp / "media"),
            "TIPBOT_LOG_LEVEL": "WARNING",
            "TIPBOT_WEBCHAT": "false",
            "TIPBOT_METRICS_BIND": "",  # several servers: no shared metrics port
            "TIPBOT_LINE_CHANNEL_SECRET": FAKE_CHANNEL_SECRET,
            "TIPBOT_LINE_CHANNEL_ACCESS_TOKEN": FAKE_ACCESS_TOKEN,
            "TIPBOT_LINE_API_BASE_URL": line.url,
            "TIPBOT_LINE_DATA_API_BASE_URL": line.url,
        }
    )
    if workers:
        env["TIPBOT_WORKERS"] = "false"
    procs, urls = [], []
    for _ in range(n):
        port = free_port()
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=open(tmp / f"{name}-{port}.log", "wb"),  # noqa: SIM115
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    for i in range(workers):
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "worker"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=open(tmp / f"{name}-worker-{i}.log", "wb"),  # noqa: SIM115
            )
        )
    for url in urls:
        await wait_healthy(url)
    await asyncio.sleep(3.0)  # the Thai dictionaries load right after start
    return Target(name, procs, [u + "/webhooks/line" for u in urls])


async def measure(
    target: Target, line: FakeLine, args: argparse.Namespace, half_rate: float | None
) -> dict[str, Any]:
    load = Load(line, target.urls)
    watch_replies(line, load)
    result: dict[str, Any] = {"target": target.name}
    if target.name != "bare":
        # first, on an idle system: a steady rate the pipeline keeps up with, event → reply
        await load.open_loop(args.seconds, args.reply_rate * len(target.urls))
        await drain_backlog(load, 60)
        waits = [load.replied_at[u] - t for u, t in load.sent_at.items() if u in load.replied_at]
        result["reply_p50"] = pct(waits, 50) * 1000
        result["reply_p99"] = pct(waits, 99) * 1000
        result["replied"] = f"{len(waits)}/{len(load.sent_at)}"
    await load.closed_loop(1.0, args.concurrency)  # warm-up
    accepted, acks = await load.closed_loop(args.seconds, args.concurrency)
    result["events_per_s"] = accepted / args.seconds
    result["ack_p50"] = pct(acks, 50) * 1000
    result["ack_p99"] = pct(acks, 99) * 1000
    if half_rate is not None:
        await asyncio.sleep(2.0)
        half = await load.open_loop(args.seconds / 2, half_rate)
        result["half_p50"] = pct(half, 50) * 1000
        result["half_p99"] = pct(half, 99) * 1000
    if target.name != "bare":
        result["rss_mb"] = max(peak_rss_mb(p.pid) for p in target.procs)
    return result


async def drain_backlog(load: Load, seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if all(u in load.replied_at for u in load.sent_at):
            return
        await asyncio.sleep(0.2)


async def main(args: argparse.Namespace) -> None:
    only = set(args.only.split(",")) if args.only else {"bare", "pg1", "pg2", "pg4", "pg1+worker", "sqlite1"}
    pg_url = args.pg_url or os.environ.get("TIPBOT_BENCH_DATABASE_URL")
    results: list[dict[str, Any]] = []
    ceiling: float | None = None
    async with FakeLine() as line:
        if "bare" in only:
            target = await start_bare()
            try:
                results.append(await measure(target, line, args, None))
            finally:
                target.stop()
            ceiling = results[-1]["events_per_s"]
            results[-1]["half_rate"] = ceiling / 2
        half_rate = ceiling / 2 if ceiling else None
        plans = [(f"pg{n}", n, 0) for n in (1, 2, 4)] + [("pg1+worker", 1, 1), ("sqlite1", 1, 0)]
        for name, n, workers in plans:
            if name not in only:
                continue
            with tempfile.TemporaryDirectory() as tmp_name:
                tmp = Path(tmp_name)
                if name.startswith("pg"):
                    if not pg_url:
                        print(f"{name}: skipped (no --pg-url / TIPBOT_BENCH_DATABASE_URL)")
                        continue
                    await reset_postgres(pg_url)
                    db = pg_url
                else:
                    db = f"sqlite+aiosqlite:///{tmp}/tipbot.db"
                target = await start_tipbot(name, n, db, line, tmp, workers)
                try:
                    results.append(await measure(target, line, args, half_rate))
                finally:
                    target.stop()
    print()
    print(
        f"{args.seconds:g} s per phase, {args.concurrency} requests in flight, "
        f"python {sys.version.split()[0]},"
    )
    print(f"{os.cpu_count()} cores; half-ceiling rate {half_rate or float('nan'):.0f} events/s;")
    print(f"reply latency at {args.reply_rate:g} events/s per process")
    print()
    head = "| target | events/s | vs bare | ack p50 / p99 (full load) | ack p50 / p99 (half ceiling) "
    print(head + "| event → reply p50 / p99 | replied | peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        ratio = f"{r['events_per_s'] / ceiling:.0%}" if ceiling else "-"
        half = f"{r['half_p50']:.1f} / {r['half_p99']:.1f} ms" if "half_p50" in r else "-"
        reply = f"{r['reply_p50']:.0f} / {r['reply_p99']:.0f} ms" if "reply_p50" in r else "-"
        rss = f"{r['rss_mb']:.0f} MB" if "rss_mb" in r else "-"
        print(
            f"| {r['target']} | {r['events_per_s']:.0f} | {ratio} "
            f"| {r['ack_p50']:.1f} / {r['ack_p99']:.1f} ms "
            f"| {half} | {reply} | {r.get('replied', '-')} | {rss} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--reply-rate", type=float, default=10.0)
    parser.add_argument("--pg-url")
    parser.add_argument("--only", help="comma-separated: bare,pg1,pg2,pg4,pg1+worker,sqlite1")
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.bare_server:
        bare_server(ns.bare_server)
    else:
        asyncio.run(main(ns))
