"""Thai understanding of volunteer messages: normalisation and extraction of tip fields, offline.

Pure functions over text with bundled data loaded lazily; knows no platform, storage or conversation.
"""

from __future__ import annotations

from bot.thai.category import CATEGORIES, OUT_OF_SCOPE, classify
from bot.thai.dates import future_date, parse_date
from bot.thai.extract import Extraction, extract
from bot.thai.money import parse_amount
from bot.thai.normalize import normalize
from bot.thai.place import parse_province
from bot.thai.when import parse_when

__all__ = [
    "CATEGORIES",
    "OUT_OF_SCOPE",
    "Extraction",
    "classify",
    "extract",
    "future_date",
    "normalize",
    "parse_amount",
    "parse_date",
    "parse_province",
    "parse_when",
]
