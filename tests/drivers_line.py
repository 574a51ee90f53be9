"""LINE transcript driver: each actor is a LINE user (or a LINE group) of the fake platform.

Events are signed and POSTed to the real app's ``/webhooks/line`` over HTTP on 127.0.0.1; what the
actor received is read back from the fake platform's deliveries (reply and push alike).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from bot.app import SERVICES, Services, build_services, create_app
from bot.core.model import LOCATION_PAYLOAD
from bot.settings import Settings
from tests.fakes.line import FakeLine, FakeLineUser
from tests.harness import FakeClock, Msg

#: transcript actors with these prefixes (other than the volunteer) talk from a LINE group
GROUP_PREFIXES = ("staff", "group")


def line_settings(settings: Settings, line: FakeLine) -> Settings:
    """``settings`` with the LINE channel enabled and both API hosts pointed at the fake."""
    return settings.model_copy(
        update={
            "line_channel_secret": SecretStr(line.channel_secret),
            "line_channel_access_token": SecretStr(line.access_token),
            "line_api_base_url": line.url,
            "line_data_api_base_url": line.url,
        }
    )


def as_msg(message: dict[str, Any]) -> Msg:
    """A delivered LINE message as the harness reads it, buttons with their full labels.

    LINE cuts action labels to 20 graphemes; the adapter puts the whole label in ``displayText``
    (what the chat shows as the user's answer), so transcripts can still tap ``[label]`` in full.
    A Flex message reads as the texts of its bubbles, its buttons those inside the bubbles and
    then its quick replies.
    """
    buttons: list[tuple[str, str]] = []
    actions: list[dict[str, Any]] = []
    if message.get("type") == "flex":
        texts: list[str] = []
        _walk_flex(message.get("contents") or {}, texts, actions)
        text = "\n".join(texts)
    else:
        text = message.get("text", "") if message.get("type") == "text" else f"<{message.get('type')}>"
    items = (message.get("quickReply") or {}).get("items") or []
    actions += [item.get("action") or {} for item in items]
    for action in actions:
        if action.get("type") == "postback":
            buttons.append((action.get("displayText") or action.get("label", ""), action.get("data", "")))
        elif action.get("type") == "location":
            buttons.append((action.get("label", ""), LOCATION_PAYLOAD))
    return Msg(text, buttons)


def _walk_flex(node: dict[str, Any], texts: list[str], actions: list[dict[str, Any]]) -> None:
    """The texts and button actions of a Flex container, in reading order."""
    kind = node.get("type")
    if kind == "carousel":
        for bubble in node.get("contents") or []:
            _walk_flex(bubble, texts, actions)
    elif kind == "bubble":
        for block in ("header", "hero", "body", "footer"):
            if isinstance(node.get(block), dict):
                _walk_flex(node[block], texts, actions)
    elif kind == "box":
        for child in node.get("contents") or []:
            _walk_flex(child, texts, actions)
    elif kind == "text":
        texts.append(node.get("text") or "")
    elif kind == "button":
        actions.append(node.get("action") or {})


class LineDriver:
    name = "line"

    def __init__(self, line: FakeLine, client: TestClient[Any, Any], services: Services) -> None:
        self.line = line
        self.client = client
        self.services = services
        self.url = str(client.make_url("/webhooks/line"))
        self.users: dict[str, FakeLineUser] = {}

    def user(self, actor: str) -> FakeLineUser:
        if actor not in self.users:
            user = self.line.user()
            if actor != "volunteer" and actor.startswith(GROUP_PREFIXES):
                user = user.in_group()
            self.users[actor] = user
        return self.users[actor]

    async def _send(self, event: dict[str, Any]) -> None:
        status = await self.line.deliver(self.url, event)
        assert status == 200, f"the bot answered {status} to a signed webhook"

    async def say(self, actor: str, text: str) -> None:
        await self._send(self.user(actor).text(text))

    async def tap(self, actor: str, label: str, payload: str) -> None:
        if payload == LOCATION_PAYLOAD:
            raise AssertionError("tap a location button with @location in transcripts")
        await self._send(self.user(actor).postback(payload))

    async def location(self, actor: str, lat: float, lon: float) -> None:
        await self._send(self.user(actor).location(lat, lon))

    async def image(self, actor: str, data: bytes, name: str) -> None:
        await self._send(self.user(actor).image(data, content_type="image/jpeg"))

    def received(self, actor: str) -> list[Msg]:
        return [as_msg(m) for m in self.line.deliveries.get(self.user(actor).chat_id, [])]


async def _quiet_background(services: Services) -> None:
    """Stop the app's own dispatcher and relay loops; ``services.settle()`` does their work.

    The harness settles after every step and then reads what was delivered. A background loop
    holding a leased outbox row would make ``settle()`` return while that send is still on the
    wire, so a transcript would miss a message that arrives a moment later.
    """
    services.stop.set()
    services.dispatcher.wake.set()
    services.relay.wake.set()
    await asyncio.gather(*services.tasks, return_exceptions=True)
    services.tasks.clear()


@asynccontextmanager
async def line_driver(
    settings: Settings, clock: FakeClock, tmp: Path, *, background: bool = False
) -> AsyncIterator[LineDriver]:
    """The app with LINE on, served on 127.0.0.1, talking to a fake LINE platform.

    ``background=True`` keeps the app's dispatcher and relay loops running, as in production.
    """
    async with FakeLine() as line:
        factory: Callable[..., Any] = partial(build_services, migrate=True, clock=clock)
        app = create_app(line_settings(settings, line), services_factory=factory)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            services = app[SERVICES]
            if not background:
                await _quiet_background(services)
            yield LineDriver(line, client, services)


DRIVERS: dict[str, Callable[[Settings, FakeClock, Path], Any]] = {"line": line_driver}
