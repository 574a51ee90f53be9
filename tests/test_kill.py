"""The server is killed (SIGKILL) after the inbox commit and before processing; after a restart
the tip exists exactly once and each staff chat of the region gets exactly one alert."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests import cli_process
from tests.conftest import SECRET
from tests.drivers import session_of
from tests.procs import free_port, wait_healthy

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


class Server:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.env = {
            **os.environ,
            "TIPBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/tipbot.db",
            "TIPBOT_SECRET_KEY": SECRET,
            "TIPBOT_STORY_PAUSE": "0",
            "TIPBOT_MEDIA_DIR": str(tmp / "media"),
            "TIPBOT_LOG_LEVEL": "WARNING",
            "TIPBOT_METRICS_BIND": "",
            # scripted volunteers post faster than people type, all from 127.0.0.1
            "TIPBOT_WEBCHAT_SESSION_BURST": "100000",
            "TIPBOT_WEBCHAT_ADDRESS_BURST": "100000",
        }
        self.proc: cli_process.Forked | subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        out = cli_process.run(args, env=self.env, cwd=ROOT, timeout=120)
        out.check_returncode()
        return out.stdout.decode()

    async def start(self, **extra: str) -> None:
        env = {**self.env, **extra}
        self.proc = cli_process.spawn(["serve", "--port", str(self.port)], env=env, cwd=ROOT)
        proc = self.proc
        await wait_healthy(self.url, 30, alive=lambda: proc.poll() is None)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)


class Browser:
    """A web-chat tab, as the page's script talks to the server."""

    def __init__(self, server: Server, who: str) -> None:
        self.server = server
        self.session = session_of(who)
        self.seen: list[dict[str, Any]] = []
        self.after = 0

    async def post(self, body: dict[str, Any], event_id: str | None = None) -> int:
        body = {"session": self.session, "id": event_id or str(uuid.uuid4()), **body}
        async with aiohttp.ClientSession() as http:
            try:
                async with http.post(self.server.url + "/chat/api/send", json=body) as r:
                    return r.status
            except aiohttp.ClientError:
                return 0

    async def read(self, until: str, wait: float = 15.0) -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as http:
            deadline = asyncio.get_running_loop().time() + wait
            while asyncio.get_running_loop().time() < deadline:
                url = f"{self.server.url}/chat/api/messages?session={self.session}&after={self.after}&wait=2"
                async with http.get(url) as r:
                    new = (await r.json())["messages"]
                self.after = max([self.after, *(m["seq"] for m in new)])
                # the history also holds what this browser sent: only the bot's messages count
                bot = [m for m in new if m["role"] == "bot"]
                if new and not bot:
                    continue
                self.seen += bot
                if any(until in m["text"] for m in self.seen):
                    return self.seen
        raise AssertionError(f"never received «{until}»: {[m['text'][:40] for m in self.seen]}")

    def button(self, label: str) -> str:
        for m in reversed(self.seen):
            for b in m["buttons"]:
                if b["label"] == label:
                    return str(b["payload"])
        raise AssertionError(f"no button {label}")

    async def say(self, text: str, expect: str) -> None:
        assert await self.post({"type": "text", "text": text}) == 200
        await self.read(expect)

    async def tap(self, label: str, expect: str) -> None:
        assert await self.post({"type": "button", "button": self.button(label), "text": label}) == 200
        await self.read(expect)


async def test_kill_after_inbox_commit_loses_nothing_and_repeats_nothing(server: Server) -> None:
    await server.start()
    staff = [Browser(server, "staff-a"), Browser(server, "staff-b")]
    other = Browser(server, "staff-other-region")
    for tab, region in ((staff[0], "3"), (staff[1], "3"), (other, "5")):
        code = server.cli("staff", "invite", "--region", region).strip().splitlines()[-1]
        await tab.say(f"/join {code}", "ลงทะเบียนแชตนี้")
    vol = Browser(server, "volunteer")
    await vol.say("สวัสดี", "คุณยินยอม")
    await vol.tap("ยินยอม", "คุณอยู่จังหวัดอะไร")
    await vol.tap("ข้าม", "ต้องการทำอะไร")
    await vol.tap("แจ้งเบาะแส", "ประเภทไหน")
    await vol.tap("จัดซื้อจัดจ้าง/ฮั้วประมูล", "เล่าสิ่งที่เกิดขึ้น")
    await vol.say("ราคากลางถนนสูงเกินจริง ผู้รับเหมารายเดิมได้ทุกงาน", "หน่วยงาน")
    await vol.say("ข้าม", "ตำแหน่ง")
    await vol.say("ข้าม", "จังหวัดไหน")
    await vol.say("ยโสธร", "เมื่อไร")
    await vol.say("ข้าม", "เงินเกี่ยวข้อง")
    await vol.say("ข้าม", "หลักฐาน")
    await vol.tap("ไม่มีหลักฐาน", "ถามคุณผ่านแชตนี้")
    await vol.tap("ไม่ต้องติดต่อ", "ตรวจสอบข้อมูลก่อนส่ง")
    server.stop()

    # The confirm reaches the inbox, and the process dies before it is processed or answered.
    await server.start(TIPBOT_CRASH_AT="after_ingest")
    confirm_id = str(uuid.uuid4())
    status = await vol.post({"type": "button", "button": vol.button("ยืนยันส่ง"), "text": "ยืนยันส่ง"}, confirm_id)
    assert status != 200  # never acknowledged
    assert server.proc is not None
    assert server.proc.wait(timeout=30) == -signal.SIGKILL
    db = sqlite3.connect(server.tmp / "tipbot.db")
    assert db.execute("SELECT count(*) FROM tip").fetchone() == (0,)
    assert db.execute("SELECT status FROM inbox ORDER BY id DESC LIMIT 1").fetchone() == ("pending",)
    db.close()

    await server.start()
    # The browser retries the unacknowledged send with the same event id: a duplicate, dropped.
    assert await vol.post({"type": "button", "button": vol.button("ยืนยันส่ง")}, confirm_id) == 200
    await vol.read("รหัสเรื่องของคุณคือ")
    for tab in staff:
        await tab.read("📣 เรื่องใหม่")
    await asyncio.sleep(1.0)
    for tab in staff:
        await tab.read("📣 เรื่องใหม่", wait=1)
        assert sum("📣 เรื่องใหม่" in m["text"] for m in tab.seen) == 1
    await other.read("ลงทะเบียน", wait=1)
    assert not any("📣" in m["text"] for m in other.seen)
    assert sum("รหัสเรื่องของคุณคือ" in m["text"] for m in vol.seen) == 1
    server.stop()

    exported = server.cli("tips", "export", "--format", "jsonl").strip().splitlines()
    assert len(exported) == 1 and '"region": "3"' in exported[0]
    db = sqlite3.connect(server.tmp / "tipbot.db")
    # new-tip alerts only (the scheduler may also have sent a daily digest, which names no tip)
    alerts = "SELECT count(*) FROM outbox WHERE kind = 'alert' AND tip_id IS NOT NULL"
    assert db.execute(alerts).fetchone() == (2,)
    assert db.execute("SELECT count(*) FROM inbox WHERE status = 'pending'").fetchone() == (0,)
    db.close()
