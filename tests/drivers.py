"""Channel drivers for transcripts: each speaks to the bot the way that channel's users do."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bot.app import SERVICES, Services, build_services, create_app
from bot.core.model import Address, Outbound, SendResult
from bot.settings import Settings
from handlers.console import ConsoleChannel
from tests.harness import FakeClock, Msg


def session_of(actor: str) -> str:
    return hashlib.sha256(actor.encode()).hexdigest()[:32]


class WebChatDriver:
    """A browser: posts through `/chat/api/send` and `/chat/api/upload`, reads its mailbox through
    `/chat/api/messages` (the page's own API) on `refresh`."""

    name = "webchat"

    def __init__(self, client: TestClient[Any, Any], services: Services) -> None:
        self.client = client
        self.services = services
        self._n = 0
        self.log: dict[str, list[Msg]] = {}
        self._seen: dict[str, int] = {}

    def _next_id(self, actor: str) -> str:
        self._n += 1
        self.log.setdefault(actor, [])
        return f"evt-{self._n:06d}-{session_of(actor)[:8]}"

    async def _post(self, actor: str, body: dict[str, Any]) -> None:
        body = {"session": session_of(actor), "id": self._next_id(actor), **body}
        r = await self.client.post("/chat/api/send", json=body)
        assert r.status == 200, await r.text()

    async def say(self, actor: str, text: str) -> None:
        await self._post(actor, {"type": "text", "text": text})

    async def tap(self, actor: str, label: str, payload: str) -> None:
        if payload == "@location":
            raise AssertionError("tap a location button with @location in transcripts")
        await self._post(actor, {"type": "button", "button": payload, "text": label})

    async def location(self, actor: str, lat: float, lon: float) -> None:
        await self._post(actor, {"type": "location", "lat": lat, "lon": lon})

    async def image(self, actor: str, data: bytes, name: str) -> None:
        query = {"session": session_of(actor), "id": self._next_id(actor), "name": name, "kind": "image"}
        r = await self.client.post(
            "/chat/api/upload", params=query, data=data, headers={"Content-Type": "image/jpeg"}
        )
        assert r.status == 200, await r.text()

    async def refresh(self) -> None:
        for actor in list(self.log):
            r = await self.client.get(
                "/chat/api/messages",
                params={"session": session_of(actor), "after": str(self._seen.get(actor, 0)), "wait": "0"},
            )
            assert r.status == 200, await r.text()
            for m in (await r.json())["messages"]:
                self._seen[actor] = max(self._seen.get(actor, 0), m["seq"])
                if m["role"] == "bot":
                    self.log[actor].append(Msg(m["text"], [(b["label"], b["payload"]) for b in m["buttons"]]))

    def received(self, actor: str) -> list[Msg]:
        return self.log.get(actor, [])


class RecordingConsole(ConsoleChannel):
    """The terminal channel, also remembering what each chat was shown."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.log: dict[str, list[Msg]] = {}

    async def send(
        self,
        address: Address,
        messages: Sequence[Outbound],
        *,
        reply_token: str | None,
        retry_key: str,
        attachments: Mapping[int, bytes] | None = None,
    ) -> SendResult:
        for m in messages:
            self.log.setdefault(address.chat_id, []).append(
                Msg(m.text, [(b.label, b.payload) for b in m.buttons])
            )
        return await super().send(address, messages, reply_token=reply_token, retry_key=retry_key)


class ConsoleDriver:
    name = "console"

    def __init__(self, services: Services, console: RecordingConsole, tmp: Path) -> None:
        self.services = services
        self.console = console
        self.tmp = tmp

    async def _line(self, actor: str, line: str) -> None:
        await self.services.ingest([self.console.event(actor, line)])

    async def say(self, actor: str, text: str) -> None:
        await self._line(actor, text)

    async def tap(self, actor: str, label: str, payload: str) -> None:
        shown = self.console.buttons.get(actor, [])
        index = (
            next(i for i, (lbl, p) in enumerate(shown, 1) if p == payload and lbl == label)
            if any(p == payload for _, p in shown)
            else None
        )
        if index is None:
            # An older message's button: the terminal has no way to tap it, send it as a stale tap.
            from datetime import UTC, datetime

            from bot.core.model import InboxEvent

            event = self.console.event(actor, "x")
            payload_data = {**event.payload, "type": "button", "button": payload, "text": label}
            await self.services.ingest(
                [InboxEvent(event.channel, event.event_id, actor, datetime.now(UTC), payload_data)]
            )
            return
        await self._line(actor, str(index))

    async def location(self, actor: str, lat: float, lon: float) -> None:
        await self._line(actor, f"@location {lat},{lon}")

    async def image(self, actor: str, data: bytes, name: str) -> None:
        path = self.tmp / name
        path.write_bytes(data)
        await self._line(actor, f"@image {path}")

    def received(self, actor: str) -> list[Msg]:
        return self.console.log.get(actor, [])


@asynccontextmanager
async def webchat_driver(settings: Settings, clock: FakeClock, tmp: Path) -> AsyncIterator[WebChatDriver]:
    factory: Callable[..., Any] = partial(build_services, migrate=True, clock=clock, autostart=False)
    app = create_app(settings, services_factory=factory)
    async with TestClient(TestServer(app)) as client:
        services = app[SERVICES]
        yield WebChatDriver(client, services)


@asynccontextmanager
async def console_driver(settings: Settings, clock: FakeClock, tmp: Path) -> AsyncIterator[ConsoleDriver]:
    console = RecordingConsole()
    services = await build_services(
        settings, channels=[console], with_webchat=False, migrate=True, clock=clock
    )
    try:
        yield ConsoleDriver(services, console, tmp)
    finally:
        await services.close()


DRIVERS: dict[str, Callable[[Settings, FakeClock, Path], Any]] = {
    "webchat": webchat_driver,
    "console": console_driver,
}


def _platform_drivers() -> None:
    """LINE and Telegram drivers live beside their fakes; each registers itself here."""
    from tests import drivers_line, drivers_telegram

    DRIVERS.update(drivers_line.DRIVERS)
    DRIVERS.update(drivers_telegram.DRIVERS)


_platform_drivers()
