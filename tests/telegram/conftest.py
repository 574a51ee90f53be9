"""Fixtures for the Telegram channel: the fake Bot API, a started channel and a webhook server."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

# `python -m pytest` puts the repository on sys.path; plain `pytest` does not.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from handlers.telegram import TelegramChannel, webhook_routes  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402
from tests.telegram.support import RecordingIngest, make_channel, serve  # noqa: E402


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
