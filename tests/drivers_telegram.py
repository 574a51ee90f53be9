"""Telegram transcript driver (filled in with the fake Bot API)."""

from __future__ import annotations

from typing import Any

DRIVERS: dict[str, Any] = {}
