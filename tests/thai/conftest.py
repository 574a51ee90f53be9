"""Shared fixtures for the Thai-understanding tests: a fixed day and the bundled region table."""

from __future__ import annotations

from datetime import date

import pytest

from bot.core.routing import RegionTable

TODAY = date(2025, 6, 15)


@pytest.fixture(scope="session")
def regions() -> RegionTable:
    return RegionTable.load()
