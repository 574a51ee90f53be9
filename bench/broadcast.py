"""Broadcast delivery against the fake platforms: pace against the rate limit, memory against audience.

1. Pace: Telegram and LINE multicast at a low and a high rate limit. The fake's limit and tipbot's
   own pacing (`rate_per_second`, `multicast_per_second`) are set to the same value; a broadcast
   long enough to run several seconds is queued, then delivered. Printed: messages (calls) per
   second the fake accepted, from its own timestamps, as a fraction of the limit, and the 429s it
   returned (0 when the pacing is right). The first second is left out of the rate: both token
   buckets start full, so it carries one second's worth of burst. Rows with a large queue stop
   delivering after a few seconds; rows with late answers show the effect of a distant API.
2. Memory: audiences of 1,000 to 100,000 (mostly LINE), high limits. Printed: time to queue
   (`start_due`) and to deliver on each platform, the process's RSS before and its peak in each
   phase, and the peak traced Python allocation (tracemalloc) in each phase, from a second run.

Each measurement runs tipbot in a fresh process, and the fake platforms in another one, so RSS is
tipbot's own (with SQLite that includes SQLite's page cache; PostgreSQL's server is not counted).
A full run takes about 4 minutes on SQLite, 5 on PostgreSQL (2 cores).

    python bench/broadcast.py [--quick] [--sizes 1000,10000,100000] [--only pace|memory]
    python bench/broadcast.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/tipbot_bench

The PostgreSQL database's public schema is dropped and recreated before every run (the databases
`test` and `tipbot_prod` are refused).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import os
import platform
import resource
import sys
import tempfile
import time
import tracemalloc
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the fakes live in tests/, which is not installed

SECRET = "bench-secret-key-0123456789abcdef"
WEBHOOK_SECRET = "bench-webhook-secret"
SKIP_BURST = 1.0  # seconds at the start of delivery left out of the steady rate
TELEGRAM_SHARE_100K = 0.02  # from 100,000 volunteers on, fewer on Telegram: it sends one copy at a time


@dataclass
class Scenario:
    label: str
    line: int  # volunteers on LINE
    telegram: int  # volunteers on Telegram
    line_calls_per_second: float  # LINE multicast limit (fake) = tipbot's multicast_per_second
    telegram_per_second: float  # Telegram limit (fake) = tipbot's rate_per_second
    batch: int = 500  # LINE recipients per multicast
    latency: float = 0.0  # the fake platforms answer each call this many seconds late
    trace: bool = False  # tracemalloc during queueing and delivery
    stop_after: float = 0.0  # stop delivering after this many seconds (0: deliver everything)


# ---- the fake platforms, in their own process ------------------------------------------------------


def fakes_process(conn: Connection) -> None:
    asyncio.run(_serve_fakes(conn))


async def _serve_fakes(conn: Connection) -> None:
    from tests.fakes.line import FakeLine
    from tests.fakes.telegram import FakeTelegram

    loop = asyncio.get_running_loop()
    line: FakeLine | None = None
    tg: FakeTelegram | None = None
    while True:
        command, args = await loop.run_in_executor(None, conn.recv)
        if command == "open":
            latency = {"multicast": args["latency"]} if args["latency"] else None
            line = FakeLine(rate_limits={"multicast": args["line_rate"]}, latency=latency)
            tg = FakeTelegram(rate_limit=args["telegram_rate"], latency=args["latency"])
            await line.start()
            await tg.start()
            conn.send(
                {
                    "line_url": line.url,
                    "line_secret": line.channel_secret,
                    "line_token": line.access_token,
                    "telegram_url": tg.api_base_url,
                    "telegram_token": tg.token,
                }
            )
        elif command == "close":
            assert line is not None
            assert tg is not None
            calls = line.calls_to("multicast")
            conn.send(
                {
                    "line_calls": [(c.at, c.status, len(c.body["to"])) for c in calls if c.status == 200],
                    "line_429": sum(1 for c in calls if c.status == 429),
                    "line_other": sum(1 for c in calls if c.status not in (200, 429)),
                    "line_copies": sum(line.delivery_counts("multicast").values()),
                    "telegram_sends": sorted(d.at for d in tg.deliveries),
                    "telegram_429": sum(tg.rate_limited.values()),
                    "telegram_copies": sum(tg.delivery_counts().values()),
                }
            )
            await line.stop()
            await tg.close()
            line = tg = None
        else:
            return


# ---- tipbot, in a fresh process per measurement ------------------------------------------------------


def rss_kb(field: str) -> int:
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith(field + ":"):
            return int(row.split()[1])
    return 0


def reset_peak_rss() -> bool:
    """Let VmHWM start again from the current RSS (Linux: write 5 to clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def tipbot_process(scenario: dict[str, Any], db_url: str, urls: dict[str, str], conn: Connection) -> None:
    try:
        conn.send(asyncio.run(_run_tipbot(Scenario(**scenario), db_url, urls)))
    except BaseException as exc:
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
        raise


async def _run_tipbot(sc: Scenario, db_url: str, urls: dict[str, str]) -> dict[str, Any]:
    from pydantic import SecretStr

    from bot.app import build_services
    from bot.core.model import Audience, BroadcastRecord
    from bot.settings import Settings
    from tests.broadcast_seed import Volunteer, line_id, seed, telegram_id

    if db_url.startswith("postgresql"):
        await reset_postgres(db_url)
    with tempfile.TemporaryDirectory(prefix="tipbot-bench-") as tmp:
        url = db_url or f"sqlite+aiosqlite:///{tmp}/tipbot.db"
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=url,
            secret_key=SecretStr(SECRET),
            media_dir=Path(tmp) / "media",
            line_channel_secret=SecretStr(urls["line_secret"]),
            line_channel_access_token=SecretStr(urls["line_token"]),
            line_api_base_url=urls["line_url"],
            line_data_api_base_url=urls["line_url"],
            telegram_bot_token=SecretStr(urls["telegram_token"]),
            telegram_webhook_secret=SecretStr(WEBHOOK_SECRET),
            telegram_api_base_url=urls["telegram_url"],
        )
        services = await build_services(settings, migrate=True, autostart=False, with_webchat=False)
        try:
            line: Any = services.channels["line"]
            line.multicast_per_second = sc.line_calls_per_second
            line.max_multicast = sc.batch
            telegram: Any = services.channels["telegram"]
            telegram.rate_per_second = sc.telegram_per_second

            for start in range(0, sc.line, 5000):
                chunk = range(start, min(sc.line, start + 5000))
                await seed(services.store, (Volunteer("line", line_id(n), None) for n in chunk))
            for start in range(0, sc.telegram, 5000):
                chunk = range(start, min(sc.telegram, start + 5000))
                await seed(services.store, (Volunteer("telegram", telegram_id(n), None) for n in chunk))
            record = BroadcastRecord(
                title="อบรมอาสาสมัครเฝ้าระวังการทุจริต", body="ขอเชิญร่วมอบรมออนไลน์", audience=Audience()
            )
            async with services.store.transaction() as uow:
                bc_id = await uow.broadcasts.add(record, datetime.now(UTC))

            broadcaster = services.broadcaster
            gc.collect()
            baseline_kb = rss_kb("VmRSS")
            exact = reset_peak_rss()
            if sc.trace:
                tracemalloc.start()
            t0 = time.perf_counter()
            started = await broadcaster.start_due()
            queue_s = time.perf_counter() - t0
            assert started == 1, "the broadcast was not queued"
            queue_traced = tracemalloc.get_traced_memory()[1] if sc.trace else 0
            queue_peak_kb = rss_kb("VmHWM")

            gc.collect()
            reset_peak_rss()
            if sc.trace:
                tracemalloc.reset_peak()
            t1 = time.perf_counter()
            deliver_start = time.monotonic()
            stop = asyncio.Event()
            if sc.stop_after:
                asyncio.get_running_loop().call_later(sc.stop_after, stop.set)
            while not stop.is_set():
                worked = await broadcaster.drain(stop)
                async with services.store.transaction() as uow:
                    bc = await uow.broadcasts.get(bc_id)
                assert bc is not None
                if bc.status == "done":
                    break
                if not worked:
                    await asyncio.sleep(0.1)  # copies refused with 429 wait for their retry time
            deliver_s = time.perf_counter() - t1
            deliver_traced = tracemalloc.get_traced_memory()[1] if sc.trace else 0
            deliver_peak_kb = rss_kb("VmHWM")
            if sc.trace:
                tracemalloc.stop()
            async with services.store.transaction() as uow:
                totals = await uow.broadcasts.totals(bc_id)
        finally:
            await services.close()
    return {
        "queue_s": queue_s,
        "deliver_s": deliver_s,
        "deliver_start": deliver_start,
        "baseline_kb": baseline_kb,
        "queue_peak_kb": queue_peak_kb,
        "deliver_peak_kb": deliver_peak_kb,
        "peak_exact": exact,
        "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "queue_traced": queue_traced,
        "deliver_traced": deliver_traced,
        "totals": totals,
        "stopped": stop.is_set(),
    }


async def reset_postgres(url: str) -> None:
    import asyncpg

    database = url.rsplit("/", 1)[-1].split("?")[0]
    if database in ("test", "tipbot_prod"):
        raise SystemExit(f"refusing to wipe the database {database!r}: use a database for benchmarks")
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


# ---- the driver ---------------------------------------------------------------------------------------


class Fakes:
    def __init__(self, ctx: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=fakes_process, args=(child,), daemon=True)
        self.process.start()

    def open(self, sc: Scenario) -> dict[str, str]:
        self.conn.send(
            (
                "open",
                {
                    "line_rate": sc.line_calls_per_second,
                    "telegram_rate": sc.telegram_per_second,
                    "latency": sc.latency,
                },
            )
        )
        answer: dict[str, str] = self.conn.recv()
        return answer

    def close(self) -> dict[str, Any]:
        self.conn.send(("close", None))
        answer: dict[str, Any] = self.conn.recv()
        return answer

    def stop(self) -> None:
        if self.process.is_alive():
            self.conn.send(("quit", None))
        self.process.join(10)


def run(ctx: Any, fakes: Fakes, sc: Scenario, db_url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    urls = fakes.open(sc)
    conn, child = ctx.Pipe()
    process = ctx.Process(target=tipbot_process, args=(asdict(sc), db_url, urls, child))
    process.start()
    result: dict[str, Any] = conn.recv()
    process.join()
    seen = fakes.close()
    if "error" in result:
        raise SystemExit(f"{sc.label}: {result['error']}")
    return result, seen


def steady_rate(times: list[float], weights: list[int] | None = None) -> tuple[float, float, int]:
    """(rate per second, span in seconds, count) over the sends after the first second."""
    if not times:
        return 0.0, 0.0, 0
    kept = [i for i, at in enumerate(times) if at >= times[0] + SKIP_BURST]
    if len(kept) < 2:
        kept = list(range(len(times)))
    span = times[kept[-1]] - times[kept[0]]
    # the sends in (first kept, last kept]: the first one marks the start of the span
    count = sum((weights[i] if weights else 1) for i in kept[1:])
    return (count / span if span > 0 else float("nan")), span, len(times)


def pace(ctx: Any, fakes: Fakes, db_url: str, quick: bool) -> None:
    seconds = 3 if quick else 6
    late = 0.1  # seconds: the platform answers each call this late (a distant API)
    full = seconds + 1.0
    cases = [
        Scenario("Telegram 30 msg/s", 0, round(30 * full), 200.0, 30.0),
        Scenario("Telegram 300 msg/s", 0, round(300 * full), 200.0, 300.0),
        Scenario("Telegram 300 msg/s, 10,000 queued", 0, 10_000, 200.0, 300.0, stop_after=full),
        Scenario("Telegram 30 msg/s, answers 100 ms late", 0, round(10 * full), 200.0, 30.0, latency=late),
        Scenario("LINE 5 calls/s x 500", round(2500 * full), 0, 5.0, 30.0),
        Scenario("LINE 200 calls/s x 500, 100,000 queued", 100_000, 0, 200.0, 30.0, stop_after=full),
        Scenario(
            "LINE 200 calls/s x 500, answers 100 ms late", round(5000 * full), 0, 200.0, 30.0, latency=late
        ),
    ]
    print("\n## Pace against the rate limit (fake's limit = tipbot's pacing)")
    print(
        f"{'case':<46} {'copies':>7} {'queue s':>8} {'span s':>7} {'calls/s':>8} {'copies/s':>9}"
        f" {'of limit':>8} {'429s':>5}"
    )
    for sc in cases:
        result, seen = run(ctx, fakes, sc, db_url)
        if sc.telegram:
            rate, span, _ = steady_rate(seen["telegram_sends"])
            copies, refused, limit = seen["telegram_copies"], seen["telegram_429"], sc.telegram_per_second
            calls_text, copies_rate = "", rate
        else:
            calls = seen["line_calls"]
            rate, span, _ = steady_rate([c[0] for c in calls])
            copies_rate, _, _ = steady_rate([c[0] for c in calls], [c[2] for c in calls])
            copies, refused, limit = seen["line_copies"], seen["line_429"], sc.line_calls_per_second
            calls_text = f"{rate:8.1f}"
        share = rate / limit
        flag = "" if share >= 0.9 else "  < 90%"
        print(
            f"{sc.label:<46} {copies:>7,} {result['queue_s']:>8.2f} {span:>7.2f} {calls_text:>8}"
            f" {copies_rate:>9,.0f} {share:>8.0%} {refused:>5}{flag}"
        )
        sent = result["totals"].get("sent", 0)
        if copies != sent or (sent != sc.line + sc.telegram and not result["stopped"]):
            print(f"   !! {sent} recorded sent, {copies} delivered, {sc.line + sc.telegram} queued")
    print(
        f"(rate over the span after the first {SKIP_BURST:g} s of delivery: both buckets start full;"
        " 'of limit' compares calls for LINE, messages for Telegram; 'N queued' rows stop after"
        f" {full:g} s; 'answers late': the fake answers each call 100 ms after doing it)"
    )


def memory(ctx: Any, fakes: Fakes, db_url: str, sizes: list[int]) -> None:
    print("\n## Memory and time against audience size (LINE 200 calls/s x 500, Telegram 1,000 msg/s)")
    print(
        f"{'audience':>8} {'LINE':>7} {'Telegram':>8} {'queue s':>8} {'LINE s':>7} {'Telegram s':>10}"
        f" {'RSS MB':>7} {'RSS MB':>7} {'RSS MB':>7} {'traced MB':>10} {'traced MB':>10}"
    )
    print(
        f"{'':>8} {'':>7} {'':>8} {'':>8} {'':>7} {'':>10}"
        f" {'before':>7} {'queue':>7} {'deliver':>7} {'queueing':>10} {'delivery':>10}"
    )
    exact = True
    mb = 1024.0
    for size in sizes:
        share = TELEGRAM_SHARE_100K if size >= 100_000 else 0.10
        telegram = round(size * share)
        sc = Scenario(f"{size:,}", size - telegram, telegram, 200.0, 1000.0)
        plain, seen = run(ctx, fakes, sc, db_url)
        sc.trace = True
        traced, _ = run(ctx, fakes, sc, db_url)
        exact = exact and plain["peak_exact"]
        start = plain["deliver_start"]
        line_s = seen["line_calls"][-1][0] - start if seen["line_calls"] else 0.0
        telegram_s = seen["telegram_sends"][-1] - start if seen["telegram_sends"] else 0.0
        print(
            f"{size:>8,} {sc.line:>7,} {sc.telegram:>8,} {plain['queue_s']:>8.2f} {line_s:>7.2f}"
            f" {telegram_s:>10.2f} {plain['baseline_kb'] / mb:>7.0f} {plain['queue_peak_kb'] / mb:>7.0f}"
            f" {plain['deliver_peak_kb'] / mb:>7.0f}"
            f" {traced['queue_traced'] / 2**20:>10.1f} {traced['deliver_traced'] / 2**20:>10.1f}"
        )
        refused = seen["line_429"] + seen["telegram_429"]
        sent = plain["totals"].get("sent", 0)
        if refused or sent != size or seen["line_copies"] + seen["telegram_copies"] != sent:
            print(f"   !! {refused} answered 429, {sent} recorded sent of {size}")
    print(
        f"(Telegram is {TELEGRAM_SHARE_100K:.0%} of audiences from 100,000 on, 10% below: it sends one copy"
        " at a time. 'LINE s', 'Telegram s': from the start of delivery to the platform's last copy; both"
        " channels deliver at once. RSS 'before': after start-up and seeding; 'queue', 'deliver': the peak"
        " in each phase" + ("" if exact else " (peak since process start: clear_refs unavailable)") + "."
        " Traced: tracemalloc peaks in each phase, from a second run with tracing on.)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="", help="PostgreSQL URL (default: SQLite in a temp dir)")
    parser.add_argument("--sizes", default="1000,10000,100000", help="audience sizes for the memory part")
    parser.add_argument("--quick", action="store_true", help="shorter pace runs, audiences up to 10,000")
    parser.add_argument("--only", choices=("pace", "memory"), help="run one part")
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if args.quick and args.sizes == parser.get_default("sizes"):
        sizes = [1000, 10_000]
    db = args.database_url.split("@")[-1] if args.database_url else "SQLite (temp dir)"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print("# tipbot broadcast bench")
    print(
        f"database: {db} | CPUs: {os.cpu_count()} (load {load}; other work on the machine skews times)"
        f" | Python {platform.python_version()} | {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    print("tipbot and the fake platforms run in separate processes")
    ctx = mp.get_context("spawn")
    fakes = Fakes(ctx)
    started = time.perf_counter()
    try:
        if args.only in (None, "pace"):
            pace(ctx, fakes, args.database_url, args.quick)
        if args.only in (None, "memory"):
            memory(ctx, fakes, args.database_url, sizes)
    finally:
        fakes.stop()
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
