"""Drive N simulated volunteers concurrently through the whole report form over the web chat.

Starts `tipbot serve` as a separate process (SQLite, and PostgreSQL when it answers), and prints
events per second, p50/p99 acknowledgement latency (POST answered), p50/p99 latency from the
event being accepted to its reply being delivered, and the server's peak RSS.

    python bench/webchat.py [--volunteers 50] [--db sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from measure import SCRIPT, free_port, pct, peak_rss_mb  # bench/ is the script's folder

ROOT = Path(__file__).resolve().parent.parent
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


async def volunteer(
    http: aiohttp.ClientSession, base: str, n: int, acks: list[float], replies: list[float]
) -> None:
    session = hashlib.sha256(f"bench-{n}-{uuid.uuid4()}".encode()).hexdigest()[:32]
    seen: list[dict[str, Any]] = []
    for kind, value, expect in SCRIPT:
        body: dict[str, Any] = {"session": session, "id": str(uuid.uuid4())}
        if kind == "text":
            body.update(type="text", text=value)
        else:
            payload = next(b["payload"] for m in reversed(seen) for b in m["buttons"] if b["label"] == value)
            body.update(type="button", button=payload, text=value)
        t0 = time.perf_counter()
        async with http.post(base + "/chat/api/send", json=body) as r:
            assert r.status == 200, await r.text()
        t1 = time.perf_counter()
        acks.append(t1 - t0)
        after = seen[-1]["seq"] if seen else 0
        while True:
            async with http.get(f"{base}/chat/api/messages?session={session}&after={after}&wait=20") as r:
                new = (await r.json())["messages"]
            seen += new
            after = seen[-1]["seq"] if seen else after
            if any(expect in m["text"] for m in new if m.get("role", "bot") == "bot"):
                replies.append(time.perf_counter() - t1)
                break


async def drive(base: str, volunteers: int) -> tuple[float, list[float], list[float]]:
    acks: list[float] = []
    replies: list[float] = []
    conn = aiohttp.TCPConnector(limit=volunteers * 2)
    async with aiohttp.ClientSession(connector=conn) as http:
        start = time.perf_counter()
        await asyncio.gather(*(volunteer(http, base, i, acks, replies) for i in range(volunteers)))
        return time.perf_counter() - start, acks, replies


def reset_postgres() -> bool:
    try:
        import asyncpg
    except ImportError:
        return False

    async def reset() -> None:
        conn = await asyncpg.connect(PG_URL.replace("+asyncpg", ""), timeout=3)
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
        await conn.close()

    try:
        asyncio.run(reset())
        return True
    except (OSError, asyncpg.PostgresError):
        return False


def run(db: str, volunteers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/tipbot.db" if db == "sqlite" else PG_URL
        env = {
            **os.environ,
            "TIPBOT_DATABASE_URL": url,
            "TIPBOT_SECRET_KEY": "bench-secret-key-0123456789abcdef",
            "TIPBOT_STORY_PAUSE": "0",
            "TIPBOT_MEDIA_DIR": f"{tmp}/media",
            "TIPBOT_LOG_LEVEL": "WARNING",
            "TIPBOT_METRICS_BIND": "",
            # every simulated volunteer posts from 127.0.0.1: one address, not a crowd of them
            "TIPBOT_WEBCHAT_ADDRESS_BURST": "100000",
        }
        if db == "postgres":
            subprocess.run(
                [sys.executable, "-m", "bot.cli", "db", "upgrade"],
                env=env,
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    time.sleep(0.1)
            asyncio.run(drive(base, 1))  # warm-up, not measured: dictionaries load, pools fill
            wall, acks, replies = asyncio.run(drive(base, volunteers))
            events = len(acks)
            print(
                f"{db:<9} volunteers={volunteers:<4} events={events:<5} "
                f"events/s={events / wall:7.1f}  "
                f"ack p50={statistics.median(acks) * 1000:6.1f} ms p99={pct(acks, 99) * 1000:6.1f} ms  "
                f"event→reply p50={statistics.median(replies) * 1000:6.1f} ms "
                f"p99={pct(replies, 99) * 1000:6.1f} ms  "
                f"peak RSS={peak_rss_mb(proc.pid):6.1f} MB"
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volunteers", type=int, default=50)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {len(SCRIPT)} events per volunteer")
    if args.db in ("sqlite", "both"):
        run("sqlite", args.volunteers)
    if args.db in ("postgres", "both"):
        if reset_postgres():
            run("postgres", args.volunteers)
        else:
            print("postgres  skipped: no PostgreSQL at 127.0.0.1:5432")


if __name__ == "__main__":
    main()
