"""Telegram transcript drivers: each actor is a Telegram account (or a Telegram group) of the fake Bot API.

``telegram`` serves the real app on 127.0.0.1 and lets the fake deliver every update to the app's
``/webhooks/telegram`` with the secret header, as after ``setWebhook``. ``telegram_polling`` runs no
webhook: a ``poll_updates`` task fetches the updates with getUpdates and keeps its offset in the
database (the composition root's ``StoreKeyValue``). What an actor received is read back from
the fake's deliveries to that chat.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from bot.app import SERVICES, Services, StoreKeyValue, build_services, create_app
from bot.core.model import LOCATION_PAYLOAD
from bot.settings import Settings
from handlers.telegram import WEBHOOK_PATH, TelegramChannel
from handlers.telegram_polling import poll_updates
from handlers.telegram_setup import set_webhook
from tests.fakes.telegram import Delivery, FakeTelegram, FakeTelegramUser
from tests.harness import FakeClock, Msg

#: transcript actors with these prefixes (other than the volunteer) talk from a Telegram group
GROUP_PREFIXES = ("staff", "group")
WEBHOOK_SECRET = "tipbot-transcripts_secret"


def telegram_settings(settings: Settings, fake: FakeTelegram, secret: str = WEBHOOK_SECRET) -> Settings:
    """``settings`` with the Telegram channel enabled and the Bot API pointed at the fake."""
    return settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(fake.token),
            "telegram_webhook_secret": SecretStr(secret),
            "telegram_api_base_url": fake.api_base_url,
        }
    )


def buttons_of(delivery: Delivery) -> list[tuple[str, str]]:
    """(label, payload) of a delivered keyboard; a reply keyboard's text button sends its label."""
    markup = delivery.reply_markup or {}
    buttons: list[tuple[str, str]] = []
    for row in markup.get("inline_keyboard") or []:
        buttons.extend((b["text"], b.get("callback_data", "")) for b in row)
    for row in markup.get("keyboard") or []:
        for b in row:
            label = b if isinstance(b, str) else b["text"]
            location = isinstance(b, dict) and b.get("request_location")
            buttons.append((label, LOCATION_PAYLOAD if location else label))
    return buttons


def as_msg(delivery: Delivery) -> Msg:
    if delivery.text is not None:
        text = delivery.text
    else:
        text = delivery.caption or f"<{delivery.method.removeprefix('send').lower()}>"
    return Msg(text, buttons_of(delivery))


class TelegramDriver:
    """A person using Telegram: updates go to the app through `deliver`, replies come from the fake."""

    name = "telegram"

    def __init__(
        self,
        fake: FakeTelegram,
        services: Services,
        deliver: Callable[[dict[str, Any]], Any],
        webhook_url: str = "",
    ) -> None:
        self.fake = fake
        self.services = services
        self.webhook_url = webhook_url  # empty when polling
        self._deliver = deliver
        self.users: dict[str, FakeTelegramUser] = {}
        #: ids of the callback queries sent, in order (each must be answered)
        self.callback_ids: list[str] = []
        self._group_ids = itertools.count(1_000_000_001)

    @property
    def channel(self) -> TelegramChannel:
        channel = self.services.channels["telegram"]
        assert isinstance(channel, TelegramChannel)
        return channel

    def user(self, actor: str) -> FakeTelegramUser:
        if actor not in self.users:
            user = self.fake.user(first_name=actor, username=None)
            if actor != "volunteer" and actor.startswith(GROUP_PREFIXES):
                group_id = -(1_000_000_000_000 + next(self._group_ids))  # a supergroup: -100…
                user = user.in_group(group_id, f"group {actor}")
            self.users[actor] = user
        return self.users[actor]

    async def send(self, update: dict[str, Any]) -> None:
        await self._deliver(update)

    async def say(self, actor: str, text: str) -> None:
        await self.send(self.user(actor).says(text))

    async def tap(self, actor: str, label: str, payload: str) -> None:
        if payload == LOCATION_PAYLOAD:
            raise AssertionError("tap a location button with @location in transcripts")
        user = self.user(actor)
        carrier = next(
            (d for d in reversed(self.fake.sent_to(user.chat_id)) if (label, payload) in buttons_of(d)),
            None,
        )
        assert carrier is not None, f"no message to {actor} carries [{label}]"
        if "keyboard" in (carrier.reply_markup or {}):
            # a reply keyboard's button types its label into the chat
            await self.send(user.says(label))
        else:
            update = user.taps(payload, message_id=carrier.message_id)
            self.callback_ids.append(update["callback_query"]["id"])
            await self.send(update)

    async def location(self, actor: str, lat: float, lon: float) -> None:
        await self.send(self.user(actor).shares_location(lat, lon))

    async def image(self, actor: str, data: bytes, name: str) -> None:
        await self.send(self.user(actor).sends_photo(data))

    def received(self, actor: str) -> list[Msg]:
        return [as_msg(d) for d in self.fake.sent_to(self.user(actor).chat_id)]


class PollingTelegramDriver(TelegramDriver):
    name = "telegram_polling"


@asynccontextmanager
async def _app(
    settings: Settings, clock: FakeClock, fake: FakeTelegram
) -> AsyncIterator[tuple[TestClient[Any, Any], Services]]:
    factory: Callable[..., Any] = partial(build_services, migrate=True, clock=clock, autostart=False)
    app = create_app(telegram_settings(settings, fake), services_factory=factory)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client, app[SERVICES]


@asynccontextmanager
async def telegram_driver(settings: Settings, clock: FakeClock, tmp: Path) -> AsyncIterator[TelegramDriver]:
    """The app with Telegram on, served on 127.0.0.1; the fake posts each update to its webhook."""
    async with FakeTelegram() as fake, _app(settings, clock, fake) as (client, services):
        channel = services.channels["telegram"]
        assert isinstance(channel, TelegramChannel)
        url = str(client.make_url(WEBHOOK_PATH))
        await set_webhook(channel, url, WEBHOOK_SECRET)

        async def deliver(update: dict[str, Any]) -> None:
            status = await fake.deliver(update)
            assert status == 200, f"the bot answered {status} to an authentic update"

        yield TelegramDriver(fake, services, deliver, url)


async def wait_until_fetched(fake: FakeTelegram, seconds: float = 10.0) -> None:
    """Until getUpdates has confirmed every queued update (the poller stores them before that)."""
    deadline = time.monotonic() + seconds
    while fake.pending_updates:
        assert time.monotonic() < deadline, "the poller did not fetch the queued updates"
        await asyncio.sleep(0.005)


@asynccontextmanager
async def telegram_polling_driver(
    settings: Settings, clock: FakeClock, tmp: Path
) -> AsyncIterator[PollingTelegramDriver]:
    """The app with Telegram on and no webhook: a getUpdates loop feeds the inbox."""
    async with FakeTelegram() as fake, _app(settings, clock, fake) as (_client, services):
        channel = services.channels["telegram"]
        assert isinstance(channel, TelegramChannel)
        stop = asyncio.Event()
        poller = asyncio.create_task(
            poll_updates(channel, services.ingest, StoreKeyValue(services.store), stop=stop, timeout=5),
            name="telegram-polling",
        )

        async def deliver(update: dict[str, Any]) -> None:
            fake.queue_update(update)
            await wait_until_fetched(fake)
            assert not poller.done(), "the poller stopped"

        try:
            yield PollingTelegramDriver(fake, services, deliver)
        finally:
            stop.set()
            await asyncio.wait_for(poller, 10)


DRIVERS: dict[str, Callable[[Settings, FakeClock, Path], Any]] = {
    "telegram": telegram_driver,
    "telegram_polling": telegram_polling_driver,
}
