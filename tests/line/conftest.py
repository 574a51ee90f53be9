"""Fixtures for the LINE channel: the fake platform, a started channel, and a webhook-only bot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from handlers.line import LineChannel, webhook_routes
from tests.fakes.line import FakeLine
from tests.ports import RecordingIngest


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def make_channel(line: FakeLine, **options: object) -> LineChannel:
    settings: dict[str, object] = {
        "channel_secret": line.channel_secret,
        "access_token": line.access_token,
        "api_base_url": line.url,
        "data_api_base_url": line.url,
        "request_timeout": 2.0,
    }
    settings.update(options)
    return LineChannel(**settings)  # type: ignore[arg-type]


@pytest.fixture
async def line() -> AsyncIterator[FakeLine]:
    async with FakeLine() as fake:
        yield fake


@pytest.fixture
async def channel(line: FakeLine) -> AsyncIterator[LineChannel]:
    async with make_channel(line) as started:
        yield started


@pytest.fixture
def ingest() -> RecordingIngest:
    return RecordingIngest()


@pytest.fixture
async def channel_factory(line: FakeLine) -> AsyncIterator[Callable[..., Awaitable[LineChannel]]]:
    """Started channels with other options (limits, timeouts, base URLs); closed at teardown."""
    made: list[LineChannel] = []

    async def build(**options: object) -> LineChannel:
        built = make_channel(line, **options)
        await built.start()
        made.append(built)
        return built

    yield build
    for built in made:
        await built.close()


@pytest.fixture
async def bot_factory(
    channel: LineChannel, ingest: RecordingIngest
) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Bots made of the webhook routes only; returns the ``POST /webhooks/line`` URL."""
    runners: list[web.AppRunner] = []

    async def build(**options: int) -> str:
        app = web.Application()
        app.add_routes(webhook_routes(channel, ingest, **options))
        runner, url = await serve(app)
        runners.append(runner)
        return url + "/webhooks/line"

    yield build
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def bot_url(bot_factory: Callable[..., Awaitable[str]]) -> str:
    return await bot_factory()
