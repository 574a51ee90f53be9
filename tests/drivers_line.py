"""LINE transcript driver (filled in with the fake LINE platform)."""

from __future__ import annotations

from typing import Any

DRIVERS: dict[str, Any] = {}
