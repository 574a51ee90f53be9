"""Province → PACC region routing from operator-overridable data (never code).

Owns the regions table; knows nothing of tips, chats or storage.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

REGIONS: tuple[str, ...] = ("central", "1", "2", "3", "4", "5", "6", "7", "8", "9")
CENTRAL = "central"


@dataclass(frozen=True, slots=True)
class Province:
    name_th: str
    name_en: str
    region: str
    confirmed: bool


class RegionTable:
    """Lookup of a province's PACC office. Names are the official Thai spellings."""

    def __init__(self, provinces: list[Province]) -> None:
        self._by_th = {p.name_th: p for p in provinces}
        self._by_en = {p.name_en.casefold(): p for p in provinces}

    @classmethod
    def load(cls, path: Path | None = None) -> RegionTable:
        if path is None:
            text = resources.files("bot").joinpath("data/pacc_regions.csv").read_text("utf-8")
        else:
            text = path.read_text("utf-8")
        rows = []
        for row in csv.DictReader(io.StringIO(text)):
            region = row["region"].strip()
            if region not in REGIONS:
                raise ValueError(f"unknown region {region!r} for {row['province_th']!r}")
            rows.append(
                Province(
                    name_th=row["province_th"].strip(),
                    name_en=row.get("province_en", "").strip(),
                    region=region,
                    confirmed=row.get("status", "").strip() == "confirmed",
                )
            )
        return cls(rows)

    def region_of(self, province: str | None) -> str | None:
        if not province:
            return None
        p = self._by_th.get(province) or self._by_en.get(province.casefold())
        return p.region if p else None

    def get(self, province: str) -> Province | None:
        return self._by_th.get(province) or self._by_en.get(province.casefold())

    @property
    def provinces(self) -> list[Province]:
        return list(self._by_th.values())

    def provinces_of(self, region: str) -> list[str]:
        return [p.name_th for p in self._by_th.values() if p.region == region]


def staff_gaps(active: Collection[str]) -> tuple[list[str], bool]:
    """The regions (1–9) without an active staff chat, and whether the central office has none:
    a region's tips then go to the central office, and with no central chat to nobody."""
    return [r for r in REGIONS if r != CENTRAL and r not in active], CENTRAL not in active


def staff_warnings(active: Collection[str]) -> list[str]:
    """What an operator is told (at start-up and by `tipbot status`) about missing staff chats."""
    regions, no_central = staff_gaps(active)
    out = []
    if no_central:
        out.append(
            "the central office has no active staff chat: tips of a region without a chat "
            "(and tips with no place) are alerted to nobody; invite one with "
            "`tipbot staff invite --region central`"
        )
    if regions:
        out.append(
            f"no active staff chat for region {', '.join(regions)}: their tips go to the central office "
            "as routing gaps"
        )
    return out
