"""Case desk benchmark: the inbox, tip and overview pages with 10,000 and 100,000 tips on
PostgreSQL, as the central office (every tip) and as region 3 sees them.

For each size the database's schema is WIPED and migrated, tips are seeded in bulk (COPY)
(narratives encrypted as usual; provinces, categories, statuses and dates spread at random; some
with evidence rows and routing gaps), `tipbot serve` starts as its own process, a staff chat of
each scope signs in through a one-time link, and each page is requested `--requests` times one
after another (after one warm-up request each). It prints the time until each answer was
complete (p50/p99; on 127.0.0.1 this is the server's time plus a little client overhead) and the
server's peak RSS. Sizes are seeded in turn (10,000, then 90,000 more).

    python bench/desk.py --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/scratch [--sizes 10000,100000]

The database named by --pg-url (or TIPBOT_BENCH_DATABASE_URL) is WIPED: never point it at data
you want to keep.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp
from measure import free_port, pct, peak_rss_mb, wait_healthy  # bench/ is the script's folder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET_KEY = "bench-secret-key-0123456789abcdef"
WORDS = [
    "เรียกเงิน",
    "ใต้โต๊ะ",
    "โครงการ",
    "ถนน",
    "ลาดยาง",
    "ฮั้ว",
    "ประมูล",
    "อบต.",
    "เทศบาล",
    "ที่ดิน",
    "โฉนด",
    "ใบอนุญาต",
    "ก่อสร้าง",
    "ค่าอาหาร",
    "นักเรียน",
    "ยักยอก",
    "งบประมาณ",
    "สอบ",
    "บรรจุ",
    "ตำแหน่ง",
    "ปลอม",
    "เอกสาร",
    "ใบเสร็จ",
    "ตำรวจ",
    "ด่าน",
    "ส่วย",
]


COLUMNS = (
    "case_code", "draft_id", "channel", "category", "narrative_enc", "agency", "province", "region",
    "incident_date", "amount_thb", "contact_ok", "status", "status_detail", "created_at", "updated_at",
)  # fmt: skip


async def seed(url: str, first_tip: int, n: int) -> None:
    """Tips `first_tip` to `n` by COPY, plus evidence rows and routing gaps; from 0 the schema is
    wiped and migrated first."""
    import asyncpg

    from bot.app import open_store
    from bot.core.forms.report import CATEGORIES
    from bot.core.routing import RegionTable
    from bot.settings import Settings
    from storage.crypto import keyring
    from storage.database import upgrade_async

    if first_tip == 0:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
        finally:
            await conn.close()
        await upgrade_async(url)
    settings = Settings(_env_file=None, database_url=url, secret_key=SECRET_KEY)  # type: ignore[call-arg, arg-type]
    store = await open_store(settings, migrate=False)
    rng = random.Random(n)
    provinces = RegionTable.load().provinces
    statuses = ["received"] * 3 + ["acknowledged"] * 2 + ["in_review"] * 2 + ["forwarded", "closed", "closed"]
    now = datetime.now(UTC)
    started = time.monotonic()
    try:
        async with store.transaction() as uow:
            for region in ("3", "central"):
                await uow.staff.join("webchat", f"bench-{region}", region, "staff", "th", now)
        # PostgreSQL's COPY, with the columns encrypted here as the column types would do it.
        k = keyring()
        records = []
        for i in range(first_tip, n):
            p = rng.choice(provinces)
            status = rng.choice(statuses)
            created = now - timedelta(minutes=rng.randint(0, 2 * 365 * 24 * 60))
            agency = rng.choice(("อบต.", "เทศบาล", "สำนักงานที่ดิน", "โรงเรียน", None))
            records.append(
                (
                    f"TB-{i:04X}-{rng.randrange(16**4):04X}",
                    f"bench-{i}",
                    "line",
                    rng.choice(CATEGORIES),
                    k.encrypt(" ".join(rng.choices(WORDS, k=rng.randint(8, 40))).encode()),
                    k.encrypt(agency.encode()) if agency else None,
                    p.name_th,
                    p.region,
                    date.today() - timedelta(days=rng.randint(0, 800)),
                    rng.choice((None, rng.randint(500, 5_000_000))),
                    False,
                    status,
                    {"forwarded": "nacc", "closed": "unsubstantiated"}.get(status),
                    created,
                    created,
                )
            )
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            last = await conn.fetchval("SELECT coalesce(max(id), 0) FROM tip")
            await conn.copy_records_to_table("tip", records=records, columns=COLUMNS)
            # some tips with an evidence row (no file: only counted), some with a routing gap
            await conn.execute(
                "INSERT INTO attachment (tip_id, kind, mime, size, sha256, storage_name, created_at) "
                "SELECT id, 'image', 'image/jpeg', 1000, repeat('0', 64), 'bench-' || id, now() "
                "FROM tip WHERE id > $1 AND random() < 0.2",
                last,
            )
            await conn.execute(
                "INSERT INTO tip_event (tip_id, actor, action, at) "
                "SELECT id, 'system', 'routing_gap', now() FROM tip WHERE id > $1 AND random() < 0.03",
                last,
            )
            # what autovacuum does to a table soon after a bulk load: statistics and the
            # visibility map (index-only counts)
            await conn.execute("VACUUM ANALYZE tip, attachment, tip_event")
        finally:
            await conn.close()
    finally:
        await store.engine.dispose()
    print(f"  seeded {n - first_tip:,} more tips in {time.monotonic() - started:.1f} s")


async def link_for(url: str, region: str, public: str) -> str:
    from bot.app import open_store
    from bot.runtime.staff import StaffDesk
    from bot.settings import Settings

    settings = Settings(_env_file=None, database_url=url, secret_key=SECRET_KEY)  # type: ignore[call-arg, arg-type]
    store = await open_store(settings, migrate=False)
    try:
        async with store.transaction() as uow:
            chat = await uow.staff.get("webchat", f"bench-{region}")
            assert chat is not None
            replies = await StaffDesk(entropy=os.urandom, public_url=public).desk_link(
                uow, chat, None, datetime.now(UTC)
            )
        return str(replies[0].params["url"])
    finally:
        await store.engine.dispose()


PAGES = (
    ("inbox", "/desk"),
    ("inbox: status received", "/desk?status=received"),
    ("inbox: category + province", "/desk?category=bribery&province=สุรินทร์"),
    ("inbox: overdue, evidence", "/desk?overdue=1&has_evidence=1"),
    ("inbox: routing gap", "/desk?routing_gap=1"),
    ("inbox: sorted by province, page 20", "/desk?sort=province&page=20"),
    ("inbox: date range", "/desk?from=2026-01-01&to=2026-03-31"),
    ("overview", "/desk/overview"),
    ("tip page", "TIP"),
    ("search (decrypts the scope's narratives)", "/desk?q=โฉนด"),
)


async def measure(base: str, url: str, region: str, requests: int) -> dict[str, tuple[float, float]]:
    link = await link_for(url, region, base)
    out: dict[str, tuple[float, float]] = {}
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.post(link, headers={"Origin": base}, allow_redirects=False) as r:
            assert r.status == 303, r.status
        async with http.get(base + "/desk") as r:
            code = re.search(r'href="/desk/tip/(TB-[0-9A-F-]+)"', await r.text())
        assert code is not None
        paths = [(name, f"/desk/tip/{code.group(1)}" if path == "TIP" else path) for name, path in PAGES]
        for _, path in paths:  # warm up: the first request of each kind pays for caches and plans
            async with http.get(base + path) as r:
                await r.read()
        for name, path in paths:
            times = []
            reps = max(5, requests // 5) if name.startswith("search") else requests
            for _ in range(reps):
                started = time.perf_counter()
                async with http.get(base + path) as r:
                    await r.read()
                    assert r.status == 200, (path, r.status)
                times.append((time.perf_counter() - started) * 1000)
            out[name] = (pct(times, 50), pct(times, 99))
    return out


async def run(url: str, sizes: list[int], requests: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="desk-bench-"))
    seeded = 0
    for n in sorted(sizes):
        print(f"{n:,} tips")
        await seed(url, seeded, n)
        seeded = n
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIPBOT_")}
        base = f"http://127.0.0.1:{port}"
        env.update(
            {
                "TIPBOT_DATABASE_URL": url,
                "TIPBOT_SECRET_KEY": SECRET_KEY,
                "TIPBOT_STORY_PAUSE": "0",
                "TIPBOT_MEDIA_DIR": str(tmp / "media"),
                "TIPBOT_LOG_LEVEL": "WARNING",
                "TIPBOT_METRICS_BIND": "",
                "TIPBOT_PUBLIC_URL": base,
                "TIPBOT_DIGEST_HOUR": "-1",
            }
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp / f"serve-{n}.log", "wb"),  # noqa: SIM115
        )
        try:
            await wait_healthy(base)
            results = {scope: await measure(base, url, scope, requests) for scope in ("central", "3")}
            rss = peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        print(f"  {'page':<44} {'central p50 / p99':>20} {'region 3 p50 / p99':>20}")
        for name, _ in PAGES:
            c, r3 = results["central"][name], results["3"][name]
            print(f"  {name:<44} {c[0]:>8.1f} / {c[1]:>7.1f} ms {r3[0]:>8.1f} / {r3[1]:>7.1f} ms")
        print(f"  server peak RSS {rss:.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg-url", default=os.environ.get("TIPBOT_BENCH_DATABASE_URL"))
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--requests", type=int, default=40)
    args = ap.parse_args()
    if not args.pg_url:
        raise SystemExit("needs --pg-url (its schema is wiped) or TIPBOT_BENCH_DATABASE_URL")
    asyncio.run(run(args.pg_url, [int(s) for s in args.sizes.split(",")], args.requests))


if __name__ == "__main__":
    main()
