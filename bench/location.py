"""Accuracy of the offline location resolver (`bot.thai.locate`), leave-one-out.

Each test point is a place of the bundled gazetteer whose province and district GeoNames and
geothai record; it is taken out of the gazetteer and resolved from the other places, so the
answer never comes from the point itself. Three sets:

- the 77 provincial capitals (the seat of each อำเภอเมือง; Bangkok: เขตพระนคร);
- points near a border: places with a place of another province within 15 km;
- every place (977).

Districts cannot be tested leaving a seat out (it is its district's only point), so they are
tested 3 km north of each district seat, a point that is usually inside that district.

Rerun: `.venv/bin/python bench/location.py` (pure Python, a few seconds).
"""

from __future__ import annotations

import time

from bot.thai.locate import Place, km, locate, places

BORDER_KM = 15.0


def _capital(p: Place) -> bool:
    if p.province == "กรุงเทพมหานคร":
        return p.district == "พระนคร"
    return p.district == "เมือง" + p.province


def _near_border(p: Place, table: tuple[Place, ...]) -> bool:
    return any(q.province != p.province and km(p.lat, p.lon, q.lat, q.lon) <= BORDER_KM for q in table)


def evaluate(points: list[Place], table: tuple[Place, ...]) -> tuple[int, int, int]:
    """(points, province right, not resolved)."""
    prov_ok = none = 0
    for p in points:
        rest = tuple(q for q in table if q is not p)
        found = locate(p.lat, p.lon, rest)
        if found is None:
            none += 1
            continue
        prov_ok += found.province == p.province
    return len(points), prov_ok, none


def district_near_seats(table: tuple[Place, ...], offset_km: float = 3.0) -> tuple[int, int]:
    """District seats moved 3 km north: (points, district right). The seat stays in the table
    (a seat is its district's only point, so leaving it out cannot test districts)."""
    seats = [p for p in table if p.district is not None]
    ok = 0
    for p in seats:
        found = locate(p.lat + offset_km / 111.0, p.lon, table)
        ok += found is not None and found.province == p.province and found.district == p.district
    return len(seats), ok


def main() -> None:
    table = places()
    capitals = [p for p in table if _capital(p)]
    border = [p for p in table if _near_border(p, table)]
    started = time.perf_counter()
    print("province, leave-one-out:")
    print(f"{'set':<22}{'points':>7}{'right':>10}{'unresolved':>12}")
    for name, points in (
        ("provincial capitals", capitals),
        ("near a border", border),
        ("all places", list(table)),
    ):
        n, prov_ok, none = evaluate(points, table)
        print(f"{name:<22}{n:>7}{prov_ok / n:>10.1%}{none:>12}")
    n, ok = district_near_seats(table)
    print(f"district, 3 km north of each district seat: {ok}/{n} = {ok / n:.1%}")
    one = time.perf_counter()
    for _ in range(100):
        locate(14.88, 103.49)
    per = (time.perf_counter() - one) / 100
    print(f"one lookup: {per * 1000:.2f} ms; evaluation took {one - started:.1f} s")


if __name__ == "__main__":
    main()
