# ruff: noqa: E501  (a benchmark script: long table rows and prints read better unwrapped)
"""Matching one new tip against many stored tips through the blind index.

    python bench/related.py                                   # 100,000 tips, SQLite in a temporary folder
    python bench/related.py --database-url postgresql+asyncpg://…/scratch   # that schema is wiped
    python bench/related.py --tips 10000 --queries 100

Stored tips are invented: offices drawn from every district of the gazetteer and a list of names
(5% of the tips about 20 busy offices, about 250 tips each at 100,000; half the new tips are about one),
categories, dates over a year, and narratives from a pool of 2,000 invented accounts (with words from
PyThaiNLP's dictionary mixed in, so the index sees a wide vocabulary). Each tip is stored encrypted
and indexed exactly as the app does (HMAC of each feature). Then new tips are matched one at a time
as the tip desk does on submit (`RelatedDesk.find`: features, index query, scoring, staff links) and
the time is printed: all of it, and the database part alone.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "data"))

from related_eval_source import OFFICE_WRITINGS, TUNE_MATTERS  # noqa: E402

from bot.core.model import TipDetail  # noqa: E402
from bot.core.related import facts, signals, story_sample  # noqa: E402
from bot.runtime.related import RelatedDesk  # noqa: E402
from bot.thai._resources import districts, thai_words  # noqa: E402
from storage import tables as t  # noqa: E402
from storage.crypto import Keyring, install_keyring  # noqa: E402
from storage.database import create_engine, upgrade_async  # noqa: E402
from storage.repositories import SqlStore  # noqa: E402

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
SYLLABLES = [
    "หนอง",
    "บัว",
    "โนน",
    "สูง",
    "โคก",
    "ดอน",
    "แก้ว",
    "ท่า",
    "ช้าง",
    "นา",
    "ดี",
    "ห้วย",
    "ทราย",
    "บ่อ",
    "ทอง",
    "สระ",
    "คลอง",
    "ใหม่",
    "ทุ่ง",
    "ใหญ่",
    "ป่า",
    "แดง",
    "หิน",
    "วัง",
    "โพธิ์",
    "ศรี",
]


def _names(rng: random.Random, n: int) -> list[str]:
    return list({"".join(rng.sample(SYLLABLES, rng.choice([2, 3]))) for _ in range(n * 2)})[:n]


def _narratives(rng: random.Random, n: int) -> list[str]:
    words = sorted(w for w in thai_words() if 2 <= len(w) <= 8)
    out = []
    matters = list(TUNE_MATTERS.values())
    for _ in range(n):
        _, _, officials, details, tellings = rng.choice(matters)
        text = rng.choice(tellings).format(o="หน่วยงาน", t=rng.choice(officials), a=rng.randint(1, 900) * 1000,
                                           x=rng.choice(details))  # fmt: skip
        out.append(text + " " + " ".join(rng.sample(words, 6)))
    return out


def _tip(
    rng: random.Random,
    i: int,
    places: list,
    names: list[str],
    pool: list[str],
    at: datetime,
    hot: float = 0.05,
) -> TipDetail:
    if rng.random() < hot:  # a few offices many volunteers report about (20 offices, 5% of tips)
        k = rng.randrange(20)
        kind, district, name = list(OFFICE_WRITINGS)[k % 6], places[k * 37 % len(places)], names[k]
    else:
        kind, district, name = rng.choice(list(OFFICE_WRITINGS)), rng.choice(places), rng.choice(names)
    writings, _ = OFFICE_WRITINGS[kind]
    agency = rng.choice(writings).format(n=name, d=district.name, p=district.province)
    category = rng.choice(
        ["bribery", "procurement", "embezzlement", "abuse_of_power", "personnel", "permits_land"]
    )
    return TipDetail(
        id=0, case_code=f"TB-{i:09d}", category=category, narrative=rng.choice(pool), agency=agency,
        official=rng.choice(["ปลัด", "นายก", "ผอ.", None]), province=district.province, district=district.name,
        region=str(rng.randint(1, 9)), incident_date=None, incident_date_text=None, amount_thb=None,
        contact_ok=False, contact_how=None, status="received", status_detail=None, created_at=at,
        contact_id=None, attachments=0,
    )  # fmt: skip


async def fill(store: SqlStore, n: int, rng: random.Random) -> None:
    places = list(districts())
    names = _names(rng, 3000)
    pool = _narratives(rng, 2000)
    samples = {text: story_sample(text) for text in pool}  # tokenising 100,000 narratives would take minutes
    ring = Keyring("bench-related-secret-0123456789")
    install_keyring(ring)
    batch = 2000
    started = time.perf_counter()
    for lo in range(0, n, batch):
        tips = [
            _tip(rng, i, places, names, pool, NOW - timedelta(days=rng.uniform(0, 364)))
            for i in range(lo, min(n, lo + batch))
        ]
        async with store.transaction() as uow:
            rows = [
                {"case_code": x.case_code, "draft_id": x.case_code, "channel": "webchat", "category": x.category,
                 "narrative_enc": x.narrative, "agency": x.agency, "official": x.official, "province": x.province,
                 "district": x.district, "region": x.region, "status": "received", "contact_ok": False,
                 "created_at": x.created_at, "updated_at": x.created_at}
                for x in tips
            ]  # fmt: skip
            await uow.session.execute(t.Tip.__table__.insert(), rows)  # type: ignore[attr-defined]
            codes = {x.case_code: x for x in tips}
            got = await uow.session.execute(
                t.Tip.__table__.select()
                .with_only_columns(t.Tip.id, t.Tip.case_code)  # type: ignore[attr-defined]
                .where(t.Tip.case_code.in_(list(codes)))  # type: ignore[attr-defined]
            )
            index = []
            for tip_id, code in got.all():
                x = codes[code]
                feats = list(signals(facts(x), story=False).index)
                feats += ["story:" + w for w in samples[x.narrative]]
                index += [
                    {
                        "tip_id": tip_id,
                        "kind": f.split(":", 1)[0],
                        "hash": ring.blind_hash(f),
                        "at": x.created_at,
                    }
                    for f in dict.fromkeys(feats)
                ]
            await uow.session.execute(t.TipIndex.__table__.insert(), index)  # type: ignore[attr-defined]
        if (lo // batch) % 10 == 0:
            print(f"  stored {lo + len(tips):,} tips ({time.perf_counter() - started:.0f} s)", flush=True)


async def run(url: str, n: int, queries: int) -> None:
    rng = random.Random(7)
    install_keyring(Keyring("bench-related-secret-0123456789"))
    if url.startswith("postgresql"):
        from sqlalchemy import text

        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
    await upgrade_async(url)
    store = SqlStore(create_engine(url))
    await fill(store, n, rng)
    if store.engine.dialect.name == "postgresql":
        from sqlalchemy import text

        # what autovacuum does to a table that has settled: statistics, and the visibility map
        # that lets the index answer alone
        async with store.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE tip_index"))
            await conn.execute(text("VACUUM ANALYZE tip"))
    else:
        async with store.transaction() as uow:
            from sqlalchemy import text

            await uow.session.execute(text("ANALYZE"))
    desk = RelatedDesk()
    places = list(districts())
    names = _names(random.Random(7), 3000)  # the same offices as stored, so new tips do match some
    pool = _narratives(random.Random(99), 200)
    total: list[float] = []
    db_only: list[float] = []
    found: list[tuple[int, int]] = []
    for q in range(queries + 5):
        tip = _tip(rng, 10_000_000 + q, places, names, pool, NOW, hot=0.5)  # half about a busy office
        async with store.transaction() as uow:
            sig = signals(facts(tip))
            t1 = time.perf_counter()
            cands = await uow.related.candidates(sig.query, NOW - desk.window, None)
            t2 = time.perf_counter()
            _, matches = await desk.find(uow, tip, NOW)
            t3 = time.perf_counter()
        if q >= 5:  # the first ones warm the caches and the tokenizer
            total.append(t3 - t2)
            db_only.append(t2 - t1)
            found.append((len(cands), len(matches)))
    med = statistics.median
    q95 = statistics.quantiles(total, n=20)[-1]
    print(f"{store.engine.dialect.name}: {n:,} stored tips, {queries} new tips matched one at a time")
    print(
        f"  match (features + index query + scoring + links): median {med(total) * 1000:.1f} ms, p95 {q95 * 1000:.1f} ms"
    )
    print(f"  index query alone: median {med(db_only) * 1000:.1f} ms, max {max(db_only) * 1000:.1f} ms")
    print(f"  candidates per query: median {med(c for c, _ in found)}, max {max(c for c, _ in found)}; "
          f"suggestions: median {med(m for _, m in found)}")  # fmt: skip
    await store.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tips", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    if args.database_url:
        asyncio.run(run(args.database_url, args.tips, args.queries))
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(f"sqlite+aiosqlite:///{tmp}/related.db", args.tips, args.queries))


if __name__ == "__main__":
    main()
