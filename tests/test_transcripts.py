"""Every conversation transcript runs on every channel."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings
from tests.drivers import DRIVERS
from tests.harness import FakeClock, Runner, transcripts


@pytest.mark.parametrize("channel", sorted(DRIVERS))
@pytest.mark.parametrize("path", transcripts(), ids=lambda p: p.stem)
async def test_transcript(path: Path, channel: str, settings: Settings, tmp_path: Path) -> None:
    clock = FakeClock()
    async with DRIVERS[channel](settings, clock, tmp_path) as driver:
        await Runner(driver, clock).run(path)
