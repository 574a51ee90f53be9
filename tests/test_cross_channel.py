"""LINE and Telegram in one app: volunteers on one platform, staff groups on the other."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import SERVICES, Services, build_services, create_app
from bot.settings import Settings
from handlers.telegram import TelegramChannel
from handlers.telegram_setup import set_webhook
from tests.drivers_line import LineDriver, line_settings
from tests.drivers_telegram import WEBHOOK_PATH, WEBHOOK_SECRET, TelegramDriver, telegram_settings
from tests.fakes.line import FakeLine
from tests.fakes.telegram import FakeTelegram
from tests.harness import FakeClock, Msg, Runner

CROSS = Path(__file__).with_name("cross")


class MixedDriver:
    """Actors with "tg" in their name use Telegram; everyone else uses LINE."""

    name = "line+telegram"

    def __init__(self, line: LineDriver, telegram: TelegramDriver, services: Services) -> None:
        self.line = line
        self.telegram = telegram
        self.services = services

    def _of(self, actor: str) -> Any:
        return self.telegram if "tg" in actor else self.line

    async def say(self, actor: str, text: str) -> None:
        await self._of(actor).say(actor, text)

    async def tap(self, actor: str, label: str, payload: str) -> None:
        await self._of(actor).tap(actor, label, payload)

    async def location(self, actor: str, lat: float, lon: float) -> None:
        await self._of(actor).location(actor, lat, lon)

    async def image(self, actor: str, data: bytes, name: str) -> None:
        await self._of(actor).image(actor, data, name)

    def received(self, actor: str) -> list[Msg]:
        return list(self._of(actor).received(actor))


@asynccontextmanager
async def mixed_driver(settings: Settings, clock: FakeClock) -> AsyncIterator[MixedDriver]:
    async with FakeLine() as line, FakeTelegram() as fake:
        both = telegram_settings(line_settings(settings, line), fake)
        factory: Any = partial(build_services, migrate=True, clock=clock, autostart=False)
        app = create_app(both, services_factory=factory)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            services = app[SERVICES]
            channel = services.channels["telegram"]
            assert isinstance(channel, TelegramChannel)
            url = str(client.make_url(WEBHOOK_PATH))
            await set_webhook(channel, url, WEBHOOK_SECRET)

            async def deliver(update: dict[str, Any]) -> None:
                assert await fake.deliver(update) == 200

            yield MixedDriver(
                LineDriver(line, client, services), TelegramDriver(fake, services, deliver, url), services
            )


@pytest.mark.parametrize("path", sorted(CROSS.glob("*.chat")), ids=lambda p: p.stem)
async def test_cross_channel(path: Path, settings: Settings) -> None:
    clock = FakeClock()
    async with mixed_driver(settings, clock) as driver:
        await Runner(driver, clock).run(path)
