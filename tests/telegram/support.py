"""Test doubles of the ports (inbox, settings store) and small helpers for the Telegram tests."""

from __future__ import annotations

from aiohttp import web

from handlers.telegram import TelegramChannel
from tests.fakes.telegram import FakeTelegram

SECRET = "s3cret_Webhook-token"


class MemoryStore:
    """The KeyValueStore port in a dict; outlives pollers like the settings table would."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.writes: list[tuple[str, str]] = []

    async def get(self, key: str) -> str | None:
        return self.values.get(key)

    async def set(self, key: str, value: str) -> None:
        self.values[key] = value
        self.writes.append((key, value))


def make_channel(fake: FakeTelegram, **options: object) -> TelegramChannel:
    settings: dict[str, object] = {
        "token": fake.token,
        "webhook_secret": SECRET,
        "api_base_url": fake.api_base_url,
        "request_timeout": 2.0,
    }
    settings.update(options)
    return TelegramChannel(**settings)  # type: ignore[arg-type]


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"
