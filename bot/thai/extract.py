"""Everything a free-text tip already says: place, region, category, amount, date, agency, official.

Combines the field parsers over one normalised text; knows nothing of the form that uses the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.core.routing import RegionTable
from bot.thai import _resources
from bot.thai.category import categories_normalized
from bot.thai.dates import find_date
from bot.thai.money import main_amount
from bot.thai.normalize import normalize
from bot.thai.place import find_place, find_region
from bot.thai.who import find_agency, find_official


@dataclass(frozen=True, slots=True)
class Extraction:
    province: str | None
    district: str | None
    region: str | None
    category: str | None
    categories: tuple[str, ...]  # every category it points to, `category` first ("bribery", "permits_land")
    amount_thb: int | None
    incident_date: date | None
    incident_date_text: str | None
    future_date: date | None  # a date ahead of today the text names (never an incident date)
    agency: str | None
    official: str | None
    normalized_text: str


def extract(text: str, today: date, regions: RegionTable | None = None) -> Extraction:
    """Suggestions for every field of a tip found in a volunteer's message (each may be None)."""
    table = regions or _resources.default_regions()
    norm = normalize(text)
    province, district = find_place(norm, table)
    kinds = categories_normalized(norm)
    when = find_date(norm, today)
    amount = main_amount(norm, when.spans)
    return Extraction(
        province=province,
        district=district,
        region=table.region_of(province) or find_region(norm),
        category=kinds[0] if kinds else None,
        categories=kinds,
        amount_thb=amount,
        incident_date=when.day,
        incident_date_text=when.text if when.day is None else None,
        future_date=when.future,
        agency=find_agency(norm),
        official=find_official(norm),
        normalized_text=norm,
    )
