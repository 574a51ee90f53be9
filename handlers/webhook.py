"""What every webhook does with a request body before it trusts it: read it capped in size, parse strict JSON.

Knows HTTP bodies and JSON only; each channel's signature or secret check and event shapes stay its own.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


async def read_capped(request: web.Request, limit: int) -> bytes | None:
    """The body, or None when it is larger than ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    # read the stream ourselves: chunked bodies have no Content-Length to check up front
    async for chunk in request.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _reject_constant(name: str) -> Any:
    # NaN/Infinity are not JSON; PostgreSQL's jsonb would refuse them later, inside the dispatcher.
    raise ValueError(f"non-standard JSON constant {name}")


def parse_json(body: bytes) -> Any:
    """Strict JSON: ValueError (or RecursionError when nested too deep) for anything else, NaN included."""
    return json.loads(body, parse_constant=_reject_constant)
