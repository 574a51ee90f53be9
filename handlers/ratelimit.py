"""Rate limits for the public web chat: a leaky bucket (aiolimiter) per web-chat session and per
client address, kept in bounded LRU tables, and the client address a request is counted under.

Knows nothing of the conversation; the web-chat handler asks `WebChatLimits.check` before it
writes anything to the inbox.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import os
from collections import OrderedDict
from dataclasses import dataclass

from aiohttp import web
from aiolimiter import AsyncLimiter

log = logging.getLogger("tipbot.ratelimit")


@dataclass(frozen=True, slots=True)
class Rate:
    """`per_second` sustained, `burst` at once after a quiet spell."""

    per_second: float
    burst: int

    @property
    def retry_after(self) -> int:
        """Whole seconds until a full bucket has room for one more (the Retry-After header)."""
        return max(1, math.ceil(1.0 / self.per_second))


class KeyedLimiter:
    """One leaky bucket per key; the least recently used buckets are forgotten beyond `max_keys`.

    Keys are hashed with a per-process random seed before they are kept, so the table never
    holds a client address or a session id in the clear (nor one that outlives the process).
    Forgetting a bucket only forgives its recent use: a key that comes back starts full again,
    which is why a session limit alone is not enough and an address limit stands beside it.
    """

    def __init__(self, rate: Rate, max_keys: int) -> None:
        self.rate = rate
        self.max_keys = max(1, max_keys)
        self._seed = os.urandom(16)
        self._buckets: OrderedDict[bytes, AsyncLimiter] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _key(self, key: str) -> bytes:
        return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), key=self._seed, digest_size=16).digest()

    def _bucket(self, key: str) -> AsyncLimiter:
        k = self._key(key)
        bucket = self._buckets.get(k)
        if bucket is None:
            # A bucket of `burst` that drains `per_second`: aiolimiter's max_rate per time_period.
            bucket = AsyncLimiter(self.rate.burst, self.rate.burst / self.rate.per_second)
            self._buckets[k] = bucket
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(k)
        return bucket

    def has_room(self, key: str) -> bool:
        return self._bucket(key).has_capacity()

    async def take(self, key: str) -> None:
        """Use one unit (call only after `has_room`: it then returns at once)."""
        await self._bucket(key).acquire()


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request was refused: which limit, and when to try again (seconds)."""

    scope: str
    retry_after: int


class WebChatLimits:
    """The web chat's two limits: per session (one person) and per client address (several
    people behind one NAT, or one client rotating session ids)."""

    def __init__(self, *, session: Rate, address: Rate, max_keys: int = 10_000, proxy_hops: int = 0) -> None:
        self.sessions = KeyedLimiter(session, max_keys)
        self.addresses = KeyedLimiter(address, max_keys)
        self.proxy_hops = proxy_hops
        self._warned = False

    async def check(self, request: web.Request, session: str) -> Refusal | None:
        """Count one post of `session` from this request's client; None when it may go ahead.

        Both buckets must have room before either is used, so a refused post costs nothing:
        a flood of refused posts does not keep the sender's own bucket full for longer.
        """
        if not self.proxy_hops and not self._warned and "X-Forwarded-For" in request.headers:
            self._warned = True
            log.warning(
                "web chat: X-Forwarded-For is not trusted; behind a reverse proxy set "
                "TIPBOT_TRUSTED_PROXY_HOPS, or all visitors share the proxy's address limit"
            )
        address = client_address(request, self.proxy_hops)
        if not self.addresses.has_room(address):
            return Refusal("address", self.addresses.rate.retry_after)
        if not self.sessions.has_room(session):
            return Refusal("session", self.sessions.rate.retry_after)
        await self.addresses.take(address)
        await self.sessions.take(session)
        return None


def client_address(request: web.Request, proxy_hops: int = 0) -> str:
    """The address a request is counted under.

    The socket's peer, unless `proxy_hops` reverse proxies stand in front of the app: then the
    entry that many places from the right of X-Forwarded-For (each proxy appends the address it
    saw; entries further left are whatever the client wrote and are never trusted). IPv6
    addresses count per /64, the block one subscriber usually gets.
    """
    peer = request.remote or ""
    if proxy_hops > 0:
        hops = [h.strip() for v in request.headers.getall("X-Forwarded-For", []) for h in v.split(",")]
        hops = [h for h in hops if h]
        if len(hops) >= proxy_hops:
            peer = hops[-proxy_hops]
    try:
        ip = ipaddress.ip_address(peer)
    except ValueError:
        return peer[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def refused(refusal: Refusal) -> web.Response:
    """429 with Retry-After and an error the page shows in the visitor's language."""
    return web.json_response(
        {"error": "rate_limited", "key": "webchat.rate_limited", "retry_after": refusal.retry_after},
        status=429,
        headers={"Retry-After": str(refusal.retry_after)},
    )
