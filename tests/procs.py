"""Real `tipbot serve` / `tipbot worker` processes for the multi-process and fault tests, the fake
platforms they talk to, and a TCP proxy in front of PostgreSQL that can "restart" the database
(drop every connection and refuse new ones) without touching the server itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import aiohttp
from sqlalchemy.engine import make_url

from tests import cli_process
from tests.conftest import SECRET
from tests.fakes.line import FAKE_ACCESS_TOKEN, FAKE_CHANNEL_SECRET, FakeLine
from tests.fakes.telegram import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
TG_SECRET = "multi-process-webhook-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_healthy(
    url: str,
    seconds: float = 60.0,
    *,
    alive: Callable[[], bool] = lambda: True,
    output: Callable[[], str] = lambda: "",
) -> None:
    """Poll `url`/healthz until it answers 200 (fails early if the process exits)."""
    async with aiohttp.ClientSession() as http:
        for _ in range(int(seconds * 10)):
            assert alive(), f"{url} exited: {output()[-2000:]}"
            try:
                async with http.get(url + "/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not become healthy: {output()[-2000:]}")


class DbProxy:
    """Forwards 127.0.0.1:port to the database; `stop()` is a database restart as clients see it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.target = host, port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    def url(self, url: str) -> str:
        return make_url(url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._conns):
            writer.transport.abort()
        self._conns.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target)
        except OSError:
            writer.transport.abort()
            return
        self._conns |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._conns -= {writer, up_writer}


class Proc:
    """One tipbot process (`serve` on its own port, or `worker`), output kept in a log file."""

    def __init__(self, kind: str, env: dict[str, str], log: Path) -> None:
        self.kind = kind
        self.env = env
        self.log = log
        self.port = free_port()
        self.proc: cli_process.Forked | subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def start(self, wait: bool = True, **extra: str) -> None:
        args = ["serve", "--port", str(self.port)] if self.kind == "serve" else ["worker"]
        with open(self.log, "ab") as out:
            self.proc = cli_process.spawn(
                args, env={**self.env, **extra}, cwd=ROOT, stdout=out.fileno(), stderr=out.fileno()
            )
        if wait and self.kind == "serve":
            await self.wait_healthy()

    async def wait_healthy(self, seconds: float = 60.0) -> None:
        await wait_healthy(self.url, seconds, alive=lambda: self.alive, output=self.output)

    def kill(self) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def terminate(self) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)

    async def wait(self, seconds: float = 60.0) -> int:
        assert self.proc is not None
        for _ in range(int(seconds * 20)):
            code = self.proc.poll()
            if code is not None:
                return code
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.kind} did not exit within {seconds}s")

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace") if self.log.exists() else ""


def base_env(db_url: str, tmp: Path, line: FakeLine | None, tg: FakeTelegram | None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("TIPBOT_") or k == "TIPBOT_TEST_DATABASE_URL"
    }
    env.update(
        {
            "TIPBOT_DATABASE_URL": db_url,
            "TIPBOT_SECRET_KEY": SECRET,
            "TIPBOT_STORY_PAUSE": "0",
            "TIPBOT_MEDIA_DIR": str(tmp / "media"),
            "TIPBOT_LOG_LEVEL": "INFO",
            "TIPBOT_WEBCHAT": "false",
            "TIPBOT_METRICS_BIND": "",  # several servers on one host: no shared metrics port
            "PYTHONUNBUFFERED": "1",
        }
    )
    if line is not None:
        env.update(
            {
                "TIPBOT_LINE_CHANNEL_SECRET": FAKE_CHANNEL_SECRET,
                "TIPBOT_LINE_CHANNEL_ACCESS_TOKEN": FAKE_ACCESS_TOKEN,
                "TIPBOT_LINE_API_BASE_URL": line.url,
                "TIPBOT_LINE_DATA_API_BASE_URL": line.url,
            }
        )
    if tg is not None:
        env.update(
            {
                "TIPBOT_TELEGRAM_BOT_TOKEN": tg.token,
                "TIPBOT_TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
                "TIPBOT_TELEGRAM_API_BASE_URL": tg.api_base_url,
            }
        )
    return env


async def stop_all(procs: list[Proc]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        if p.proc is not None:
            with contextlib.suppress(AssertionError):
                await p.wait(30)
            p.kill()
