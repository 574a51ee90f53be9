"""LINE reply latency with and without a web-chat flood, against a real `tipbot serve` process.

The fake LINE platform runs in this process; `tipbot serve` (SQLite in a temporary folder, or a
PostgreSQL database you name, which is wiped) serves LINE and the web chat. LINE volunteers send
messages one after another, each waiting for its answer; the latency is from the signed webhook
POST to the answer reaching the fake platform, and each answer is counted as a reply (free, on
the event's reply token) or a push (the token had expired). Three phases:

  quiet     LINE volunteers only
  http      while clients post to /chat/api/send as fast as they can (rotating session ids,
            padded 4,000-character texts): what the rate limits let through
  backlog   while the server works off web-chat events already in the inbox (one identity's
            and many one-event visitors'), as if a flood had come past the limits from many
            addresses: what the fair dispatcher does

    python bench/flood.py [--backlog 4000] [--volunteers 8] [--messages 3] [--db sqlite]
    python bench/flood.py --root /path/to/another/checkout   # the same bench against other code
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from measure import free_port, pct, wait_healthy  # bench/ is the script's folder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.model import InboxEvent  # noqa: E402
from storage.crypto import Keyring, install_keyring  # noqa: E402
from storage.database import create_engine  # noqa: E402
from storage.repositories import SqlStore  # noqa: E402
from tests.fakes.line import FAKE_ACCESS_TOKEN, FAKE_CHANNEL_SECRET, FakeLine  # noqa: E402

SECRET = "bench-secret-key-0123456789abcdef"
#: the adapter answers by push once a LINE event is this old (tokens last about a minute)
TIMEOUT = 90.0


def session_id(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    replies: int = 0
    pushes: int = 0
    unanswered: int = 0
    notes: str = ""

    def line(self) -> str:
        lat = self.latencies
        p50 = f"{statistics.median(lat) * 1000:8.0f}" if lat else "       -"
        p99 = f"{pct(lat, 99) * 1000:8.0f}" if lat else "       -"
        return (
            f"  {self.name:<8} LINE answer p50={p50} ms p99={p99} ms  by reply={self.replies:<3} "
            f"by push={self.pushes:<3} unanswered={self.unanswered:<3} {self.notes}"
        )


async def line_volunteers(line: FakeLine, base: str, phase: Phase, volunteers: int, messages: int) -> None:
    async def one(n: int) -> None:
        user = line.user()
        for m in range(messages):
            before = len(line.delivered_by.get(user.chat_id, []))
            started = time.monotonic()
            status = await line.deliver(base + "/webhooks/line", user.text("สวัสดี" if m == 0 else "ช่วยด้วย"))
            if status != 200:
                phase.unanswered += 1
                continue
            while len(line.delivered_by.get(user.chat_id, [])) <= before:
                if time.monotonic() - started > TIMEOUT:
                    phase.unanswered += 1
                    return
                await asyncio.sleep(0.01)
            phase.latencies.append(time.monotonic() - started)
            how = line.delivered_by[user.chat_id][before]
            phase.replies += how == "reply"
            phase.pushes += how == "push"
            # let the rest of this answer (several messages) arrive before the next message
            await asyncio.sleep(0.3)

    await asyncio.gather(*(one(n) for n in range(volunteers)))


async def http_flood(base: str, stop: asyncio.Event, counts: dict[int, int], clients: int = 8) -> None:
    padding = "ก" * 4000

    async def one(c: int) -> None:
        async with aiohttp.ClientSession() as http:
            n = 0
            while not stop.is_set():
                n += 1
                body = {"session": session_id(f"flood-{c}-{n}"), "type": "text", "text": padding}
                body["id"] = str(uuid.uuid4())
                try:
                    async with http.post(base + "/chat/api/send", json=body) as r:
                        counts[r.status] = counts.get(r.status, 0) + 1
                        if r.status == 429:
                            # a hostile client does not wait for Retry-After; a polite one would
                            await asyncio.sleep(0)
                except aiohttp.ClientError:
                    counts[0] = counts.get(0, 0) + 1

    await asyncio.gather(*(one(c) for c in range(clients)))


async def backlog(url: str, size: int) -> SqlStore:
    """Web-chat events written straight into the inbox: half one identity's, half one each."""
    install_keyring(Keyring(SECRET))
    store = SqlStore(create_engine(url))
    now = datetime.now(UTC)
    one = session_id("one-identity")
    events = []
    for n in range(size):
        sid = one if n % 2 == 0 else session_id(f"visitor-{n}")
        at = now + timedelta(microseconds=n)
        payload = {"type": "text", "text": f"ข้อความที่ {n}", "session": sid, "at": at.isoformat()}
        events.append(InboxEvent("webchat", f"backlog-{n:06d}", sid, at, payload))
    for i in range(0, size, 500):
        await store.ingest(events[i : i + 500], now)
    return store


async def pending(store: SqlStore) -> int:
    async with store.transaction() as uow:
        return (await uow.inbox.counts()).get("pending", 0)


async def bench(root: Path, url: str, args: argparse.Namespace, tmp: str) -> list[Phase]:
    phases: list[Phase] = []
    async with FakeLine() as line:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TIPBOT_")},
            "TIPBOT_DATABASE_URL": url,
            "TIPBOT_SECRET_KEY": SECRET,
            "TIPBOT_STORY_PAUSE": "0",
            "TIPBOT_MEDIA_DIR": f"{tmp}/media",
            "TIPBOT_LOG_LEVEL": "WARNING",
            "TIPBOT_WEBCHAT": "true",
            "TIPBOT_LINE_CHANNEL_SECRET": FAKE_CHANNEL_SECRET,
            "TIPBOT_LINE_CHANNEL_ACCESS_TOKEN": FAKE_ACCESS_TOKEN,
            "TIPBOT_LINE_API_BASE_URL": line.url,
            "TIPBOT_LINE_DATA_API_BASE_URL": line.url,
        }
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bot.cli", "db", "upgrade"],
            env=env,
            cwd=root,
            check=True,
            capture_output=True,
        )
        port = free_port()
        log = open(f"{tmp}/serve.log", "wb")  # noqa: SIM115 (closed below, after the process)
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
            env=env,
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            await wait_healthy(base)
            await line_volunteers(line, base, Phase("warm-up"), 2, 1)  # not measured

            quiet = Phase("quiet")
            await line_volunteers(line, base, quiet, args.volunteers, args.messages)
            phases.append(quiet)

            flood = Phase("http")
            stop, counts = asyncio.Event(), {}
            flooding = asyncio.create_task(http_flood(base, stop, counts))
            await asyncio.sleep(1.0)
            started = time.monotonic()
            await line_volunteers(line, base, flood, args.volunteers, args.messages)
            stop.set()
            await flooding
            wall = time.monotonic() - started + 1.0
            sent = sum(counts.values())
            flood.notes = (
                f"flood posts={sent} ({sent / wall:.0f}/s): accepted={counts.get(200, 0)} "
                f"refused 429={counts.get(429, 0)} other={sent - counts.get(200, 0) - counts.get(429, 0)}"
            )
            phases.append(flood)
            store = await backlog(url, 0)
            # what the HTTP flood left in the inbox is worked off before the next phase
            for _ in range(int(TIMEOUT * 10)):
                if await pending(store) == 0:
                    break
                await asyncio.sleep(0.1)
            await store.engine.dispose()

            late = Phase("backlog")
            store = await backlog(url, args.backlog)
            await asyncio.sleep(2.5)  # the server's dispatcher finds rows another process wrote
            await line_volunteers(line, base, late, args.volunteers, args.messages)
            left = await pending(store)
            late.notes = f"backlog={args.backlog} web-chat events, {left} still pending at the end"
            await store.engine.dispose()
            phases.append(late)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=4000)
    parser.add_argument("--volunteers", type=int, default=8)
    parser.add_argument("--messages", type=int, default=3)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", help="PostgreSQL database to wipe and use (--db postgres)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the tipbot checkout to serve")
    args = parser.parse_args()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {args.volunteers} LINE volunteers × "
        f"{args.messages} messages per phase; serving {args.root}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        if args.db == "postgres":
            if not args.pg_url:
                parser.error("--db postgres needs --pg-url (a database this bench may wipe)")
            url = args.pg_url
            import asyncpg

            async def wipe() -> None:
                conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
                try:
                    await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
                finally:
                    await conn.close()

            asyncio.run(wipe())
        else:
            url = f"sqlite+aiosqlite:///{tmp}/tipbot.db"
        phases = asyncio.run(bench(args.root.resolve(), url, args, tmp))
    print(args.db)
    for phase in phases:
        print(phase.line())


if __name__ == "__main__":
    main()
