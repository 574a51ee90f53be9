"""A real `tipbot serve` is SIGKILLed at random moments while a broadcast goes out on LINE and
Telegram, then restarted: every volunteer gets the notice, LINE copies exactly once, and on
Telegram at most the one copy in flight per kill repeats, each such repeat recorded."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
from pathlib import Path

import pytest

from bot.app import open_store
from bot.settings import Settings
from storage.repositories import chat_hash
from tests.broadcast_seed import Volunteer, line_id, seed, telegram_id
from tests.conftest import make_settings
from tests.fakes.line import FakeLine
from tests.fakes.telegram import FakeTelegram
from tests.test_kill import Server

pytestmark = pytest.mark.slow

KILLS = 4
LINE_VOLUNTEERS = 2400
TELEGRAM_VOLUNTEERS = 150


def platform_env(line: FakeLine, tg: FakeTelegram) -> dict[str, str]:
    return {
        "TIPBOT_LINE_CHANNEL_SECRET": line.channel_secret,
        "TIPBOT_LINE_CHANNEL_ACCESS_TOKEN": line.access_token,
        "TIPBOT_LINE_API_BASE_URL": line.url,
        "TIPBOT_LINE_DATA_API_BASE_URL": line.url,
        "TIPBOT_TELEGRAM_BOT_TOKEN": tg.token,
        "TIPBOT_TELEGRAM_WEBHOOK_SECRET": "kill-test-webhook-secret",
        "TIPBOT_TELEGRAM_API_BASE_URL": tg.api_base_url,
        "TIPBOT_BROADCAST_LEASE": "PT2S",
    }


async def test_sigkill_during_a_broadcast_neither_skips_nor_repeats(server: Server, tmp_path: Path) -> None:
    rnd = random.Random(int(os.environ.get("TIPBOT_KILL_SEED", "0")) or None)
    # Each multicast answers 0.6 s after LINE took it, so kills land between delivery and the record.
    async with FakeLine(latency={"multicast": 0.6}) as line, FakeTelegram() as tg:
        server.env.update(platform_env(line, tg))
        settings: Settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/tipbot.db", tmp_path)
        store = await open_store(settings, migrate=True)
        try:
            await seed(
                store,
                [Volunteer("line", line_id(n), "สุรินทร์") for n in range(LINE_VOLUNTEERS)]
                + [Volunteer("telegram", telegram_id(n), "บุรีรัมย์") for n in range(TELEGRAM_VOLUNTEERS)]
                + [Volunteer("telegram", telegram_id(10_000 + n), "เชียงใหม่") for n in range(20)],
            )
            hashes = {
                chat_hash("telegram", telegram_id(n)): telegram_id(n) for n in range(TELEGRAM_VOLUNTEERS)
            }
        finally:
            await store.engine.dispose()
        body = tmp_path / "notice.txt"
        body.write_text("ขอเชิญอาสาสมัครร่วมอบรมการแจ้งเบาะแส", "utf-8")
        created = await asyncio.to_thread(
            server.cli,
            "broadcast", "create", "--title", "อบรมอาสาสมัคร", "--body-file", str(body),
            "--province", "สุรินทร์", "--province", "บุรีรัมย์", "--yes",
        )  # fmt: skip
        assert f"recipients: {LINE_VOLUNTEERS + TELEGRAM_VOLUNTEERS}" in created

        kills = 0
        for _ in range(KILLS):
            await server.start()
            await asyncio.sleep(rnd.uniform(0.2, 1.5))
            assert server.proc is not None
            server.proc.send_signal(signal.SIGKILL)
            assert await asyncio.to_thread(server.proc.wait, 30) == -signal.SIGKILL
            kills += 1
        await server.start()
        db = sqlite3.connect(tmp_path / "tipbot.db")
        try:
            for _ in range(600):
                (status,) = db.execute("SELECT status FROM broadcast").fetchone()
                if status == "done":
                    break
                await asyncio.sleep(0.1)
            assert status == "done", "the broadcast finished after the restarts"
            flagged = {
                row[0]
                for row in db.execute(
                    "SELECT c.chat_hash FROM broadcast_recipient r JOIN contact c ON c.id = r.contact_id"
                    " WHERE r.possible_duplicate"
                )
            }
            (sent,) = db.execute("SELECT count(*) FROM broadcast_recipient WHERE status = 'sent'").fetchone()
        finally:
            db.close()
        server.stop()

    on_line = line.delivery_counts("multicast")
    assert len(on_line) == LINE_VOLUNTEERS and set(on_line.values()) == {1}, "LINE: exactly once"
    on_tg = tg.delivery_counts()
    assert set(on_tg) == set(hashes.values()), "Telegram: every volunteer, nobody else"
    repeated = {chat for chat, n in on_tg.items() if n > 1}
    repeats = sum(n - 1 for n in on_tg.values())
    assert repeats <= kills, f"at most the copy in flight repeats per kill: {on_tg.most_common(5)}"
    assert repeated <= {hashes[h] for h in flagged if h in hashes}, "every repeat is recorded"
    assert sent == LINE_VOLUNTEERS + TELEGRAM_VOLUNTEERS
