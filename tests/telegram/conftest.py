"""Fixtures for the Telegram channel: the fake Bot API, a started channel and a webhook server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from handlers.telegram import TelegramChannel, webhook_routes
from tests.fakes.telegram import FakeTelegram
from tests.ports import RecordingIngest
from tests.telegram.support import make_channel, serve


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def channel(fake: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    started = make_channel(fake)
    await started.start()
    yield started
    await started.close()


@pytest.fixture
def ingest() -> RecordingIngest:
    return RecordingIngest()


@pytest.fixture
async def webhook_url(channel: TelegramChannel, ingest: RecordingIngest) -> AsyncIterator[str]:
    """Base URL of an app serving only the Telegram webhook route."""
    app = web.Application()
    app.add_routes(webhook_routes(channel, ingest))
    runner, url = await serve(app)
    yield url
    await runner.cleanup()
