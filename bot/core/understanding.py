"""The engine's `Understanding`, backed by the Thai parsers of `bot.thai`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import date
from typing import Any

from bot import thai
from bot.core.routing import RegionTable
from bot.thai import locate


class ThaiUnderstanding:
    def __init__(self, regions: RegionTable) -> None:
        self.regions = regions

    def extract(self, text: str, today: date) -> Mapping[str, Any]:
        return asdict(thai.extract(text, today, self.regions))

    def parse_province(self, answer: str) -> tuple[str, str | None] | None:
        return thai.parse_province(answer, self.regions)

    def parse_date(self, answer: str, today: date) -> tuple[date | None, str | None] | None:
        return thai.parse_date(answer, today)

    def parse_when(self, answer: str, today: date) -> tuple[date | None, tuple[int, int] | None]:
        return thai.parse_when(answer, today)

    def parse_amount(self, answer: str) -> int | None:
        return thai.parse_amount(answer)

    def classify(self, text: str) -> str | None:
        return thai.classify(text)

    def locate(self, lat: float, lon: float) -> tuple[str, str | None] | None:
        found = locate.locate(lat, lon)
        return None if found is None else (found.province, found.district)
