"""Offline coordinates → province and district: the nearest place of a bundled gazetteer.

`bot/data/th_places.csv` holds Thailand's populated places of GeoNames (CC BY 4.0, built by
`bench/make_places.py`), each with its province and, for district seats, its district. The
nearest `NEIGHBOURS` places vote for their province (weighted by 1/distance, the best of the
variants `bench/location.py` compared); the district is that of the nearest district seat in the
chosen province. Always a guess to be confirmed by the volunteer (accuracy: README, `bench/location.py`).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

#: farther than this from every place in Thailand, a point is not in Thailand (the sea, abroad)
MAX_KM = 40.0
NEIGHBOURS = 5


@dataclass(frozen=True, slots=True)
class Place:
    lat: float
    lon: float
    province: str
    district: str | None


@dataclass(frozen=True, slots=True)
class Located:
    province: str
    district: str | None
    km: float  # distance to the place it was judged by


@cache
def places() -> tuple[Place, ...]:
    text = resources.files("bot").joinpath("data/th_places.csv").read_text("utf-8")
    return tuple(
        Place(float(r["lat"]), float(r["lon"]), r["province"], r["district"] or None)
        for r in csv.DictReader(text.splitlines())
    )


def km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, a)))


def locate(lat: float, lon: float, gazetteer: tuple[Place, ...] | None = None) -> Located | None:
    """The province (and district) a point most likely lies in; None outside Thailand."""
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return None
    table = places() if gazetteer is None else gazetteer
    near = sorted(((km(lat, lon, p.lat, p.lon), p) for p in table), key=lambda x: x[0])[:NEIGHBOURS]
    if not near or near[0][0] > MAX_KM:
        return None
    votes: dict[str, float] = {}
    for d, p in near:
        votes[p.province] = votes.get(p.province, 0.0) + 1.0 / max(d, 0.5)
    province = max(votes, key=lambda k: votes[k])
    seat: tuple[float, str] | None = None
    for p in table:
        if p.province == province and p.district is not None:
            d = km(lat, lon, p.lat, p.lon)
            if seat is None or d < seat[0]:
                seat = (d, p.district)
    return Located(province, seat[1] if seat else None, near[0][0])
