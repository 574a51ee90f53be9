"""Where a tipbot process's memory goes: each component imported in turn in a fresh process
(resident memory from /proc, and Python allocations from tracemalloc in a second pass), then the
peak RSS of real processes: a full `tipbot serve`, a webhook-only server (TIPBOT_WORKERS=false)
and a `tipbot worker`, idle after start and after 20 Telegram webhook events.

    python bench/memory.py
"""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: in the order a server meets them; each line's cost is what it adds to those above it
COMPONENTS = [
    ("aiohttp", "aiohttp web server and client"),
    ("sqlalchemy.ext.asyncio", "SQLAlchemy (async)"),
    ("sqlmodel", "SQLModel"),
    ("cryptography.fernet", "cryptography (Fernet, HKDF)"),
    ("prometheus_client", "prometheus-client"),
    ("storage.tables", "tipbot's tables"),
    ("bot.app", "the rest of tipbot (composition root, runtime, core)"),
    ("telegram", "python-telegram-bot (Telegram adapter)"),
    ("linebot.v3.messaging", "line-bot-sdk (LINE adapter)"),
    ("alembic.command", "alembic (only while migrating)"),
    ("pythainlp", "PyThaiNLP (import)"),
    ("bot.thai", "tipbot's Thai parsers (import)"),
    ("@thai", "Thai parsers' first extraction (word lists, tokenizer, gazetteer)"),
]


def rss_mb() -> float:
    for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load(name: str) -> None:
    if name == "@thai":
        import datetime

        from bot import thai
        from bot.core.routing import RegionTable

        thai.extract("อ.ปราสาท จ.สุรินทร์ เมื่อวาน 2 ล้าน", datetime.date(2026, 3, 3), RegionTable.load(None))
    else:
        importlib.import_module(name)


def components(traced: bool) -> None:
    if traced:
        tracemalloc.start()
    for name, _ in COMPONENTS:
        before = tracemalloc.get_traced_memory()[0] if traced else rss_mb()
        load(name)
        after = tracemalloc.get_traced_memory()[0] / 2**20 if traced else rss_mb()
        print(f"{name}\t{after - (before / 2**20 if traced else before):.1f}")
    if not traced:
        print(f"@total\t{rss_mb():.1f}")


async def process_rss() -> list[tuple[str, float, float]]:
    # imported here, not at the top: aiohttp must not be loaded before the components pass
    from measure import free_port, peak_rss_mb, wait_healthy  # bench/ is the script's folder

    from tests.fakes.telegram import FakeTelegram

    found = []
    async with FakeTelegram(rate_limit=None) as fake:
        for role, extra in (
            ("serve (webhooks + workers)", {}),
            ("serve, webhook-only", {"TIPBOT_WORKERS": "false"}),
            ("worker", {}),
        ):
            with tempfile.TemporaryDirectory() as tmp:
                port = free_port()
                env = {
                    **os.environ,
                    "TIPBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/tipbot.db",
                    "TIPBOT_SECRET_KEY": "bench-secret-key-0123456789abcdef",
                    "TIPBOT_STORY_PAUSE": "0",
                    "TIPBOT_MEDIA_DIR": f"{tmp}/media",
                    "TIPBOT_LOG_LEVEL": "WARNING",
                    "TIPBOT_METRICS_BIND": "",
                    "TIPBOT_WEBCHAT": "false",
                    "TIPBOT_EVIDENCE_WORKERS": "0",
                    "TIPBOT_TELEGRAM_BOT_TOKEN": fake.token,
                    "TIPBOT_TELEGRAM_WEBHOOK_SECRET": "bench_secret",
                    "TIPBOT_TELEGRAM_API_BASE_URL": fake.api_base_url,
                    **extra,
                }
                cli = [sys.executable, "-m", "bot.cli"]
                if role == "worker":
                    # the schema first (a worker does not migrate), then the worker alone
                    upgrade = [*cli, "db", "upgrade"]
                    await asyncio.to_thread(
                        subprocess.run, upgrade, env=env, cwd=ROOT, check=True, capture_output=True
                    )
                    cmd = [*cli, "worker"]
                else:
                    cmd = [*cli, "serve", "--port", str(port)]
                proc = subprocess.Popen(
                    cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                try:
                    if role == "worker":
                        await asyncio.sleep(8)
                    else:
                        await wait_healthy(f"http://127.0.0.1:{port}")
                        await asyncio.sleep(3)  # warm-up tasks
                    idle = peak_rss_mb(proc.pid)
                    if role != "worker":
                        user = fake.user(4242)
                        for n in range(20):
                            await fake.post_update(
                                user.says("สวัสดี" if n == 0 else "ข้าม"),
                                f"http://127.0.0.1:{port}/webhooks/telegram",
                                "bench_secret",
                            )
                        await asyncio.sleep(3)
                    found.append((role, idle, peak_rss_mb(proc.pid)))
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
    return found


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("--rss", "--traced"):
        components(sys.argv[1] == "--traced")
        return
    run = [sys.executable, __file__]
    rss = dict(
        line.split("\t")
        for line in subprocess.run(
            [*run, "--rss"], capture_output=True, text=True, check=True
        ).stdout.splitlines()
    )
    traced = dict(
        line.split("\t")
        for line in subprocess.run(
            [*run, "--traced"], capture_output=True, text=True, check=True
        ).stdout.splitlines()
    )
    print(f"python {sys.version.split()[0]}; each line adds to the ones above it (a fresh process)")
    print("| component | RSS | Python allocations (tracemalloc) |")
    print("|---|---|---|")
    for name, what in COMPONENTS:
        print(f"| {what} | +{float(rss[name]):.0f} MB | +{float(traced[name]):.1f} MB |")
    print(f"| all of the above | {float(rss['@total']):.0f} MB | |")
    print()
    print("| process (Telegram only, SQLite) | peak RSS idle after start | after 20 webhook events |")
    print("|---|---|---|")
    for role, idle, after in asyncio.run(process_rss()):
        print(f"| {role} | {idle:.0f} MB | {after:.0f} MB |")


if __name__ == "__main__":
    main()
