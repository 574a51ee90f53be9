"""`tipbot parse`: print what the Thai extractor finds in a message, or in one message per stdin line.

Owns the JSON shape of that output only; argument parsing belongs to the main command line.
"""

from __future__ import annotations

import json
from datetime import date
from typing import TextIO

from bot.core.routing import RegionTable
from bot.thai import _resources
from bot.thai.extract import Extraction, extract


def _as_json(found: Extraction) -> str:
    return json.dumps(
        {
            "province": found.province,
            "district": found.district,
            "region": found.region,
            "category": found.category,
            "amount_thb": found.amount_thb,
            "incident_date": found.incident_date.isoformat() if found.incident_date else None,
            "future_date": found.future_date.isoformat() if found.future_date else None,
            "agency": found.agency,
            "official": found.official,
            "normalized_text": found.normalized_text or None,
        },
        ensure_ascii=False,
    )


def run(
    text: str, today: date | None, stdin: TextIO, stdout: TextIO, regions: RegionTable | None = None
) -> int:
    """Write one JSON object for `text`, or one per line of `stdin` when `text` is "-"; returns 0."""
    # The clock is read here, at the edge, so that extraction itself stays a pure function.
    day = today or date.today()
    table = regions or _resources.default_regions()
    if text != "-":
        stdout.write(_as_json(extract(text, day, table)) + "\n")
        return 0
    for line in stdin:
        message = line.rstrip("\r\n")
        stdout.write(_as_json(extract(message, day, table)) + "\n")
    stdout.flush()
    return 0
