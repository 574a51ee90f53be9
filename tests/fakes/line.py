"""A fake LINE platform on 127.0.0.1: Messaging API, content host and signed webhook senders.

Owns LINE's wire formats, limits and error answers as tests need them; knows nothing of tipbot
(it never imports `bot` or `handlers`), so the adapter is checked against LINE's rules, not its own.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import io
import itertools
import json
import os
import re
import secrets
import struct
import time
import unicodedata
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import aiohttp
from aiohttp import web

from tests.fakes.ratelimit import DEFAULT_TOLERANCE, TokenBucket

_MEMBER_ID = re.compile(r"^[UCR][0-9a-f]{32}$")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

FAKE_CHANNEL_SECRET = "fake-channel-secret"
FAKE_ACCESS_TOKEN = "fake-access-token"

ERR_AUTH = "Authentication failed. Confirm that the access token in the authorization header is valid."
ERR_REPLY_TOKEN = "Invalid reply token"
ERR_RETRY_ACCEPTED = "The retry key is already accepted"
ERR_RETRY_NOT_ALLOWED = "The retry key is not supported for this API"
ERR_RETRY_FORMAT = "The value for the 'X-Line-Retry-Key' header is invalid"
ERR_RATE = "The API rate limit has been exceeded. Try again later."
ERR_MONTHLY = "You have reached your monthly limit."
ERR_SERVER = "Internal server error"
ERR_NOT_FOUND = "Not found"

#: names of the scriptable endpoints
ENDPOINTS = (
    "reply",
    "push",
    "multicast",
    "content",
    "loading",
    "quota",
    "richmenu",
    "richmenu_content",
    "richmenu_default",
)

#: LINE's rate limits per endpoint, requests per second per channel (L-REF "Rate limits"): multicast
#: 200/s, loading animation 100/s, reply, push, content, quota and the rest 2,000/s. Rich-menu
#: creation is really 100/hour; the fake keeps it at the general rate (tests create one menu).
RATE_LIMITS: dict[str, float | None] = {
    **dict.fromkeys(ENDPOINTS, 2000.0),
    "multicast": 200.0,
    "loading": 100.0,
}


def sign(body: bytes, channel_secret: str) -> str:
    """LINE's ``X-Line-Signature``: base64 HMAC-SHA256 of the raw body keyed with the channel secret."""
    return base64.b64encode(hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()).decode()


def new_ulid() -> str:
    """A ULID as LINE uses for ``webhookEventId``: 48-bit milliseconds plus 80 random bits."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def new_member_id(prefix: str = "U") -> str:
    return prefix + secrets.token_hex(16)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def count_graphemes(text: str) -> int:
    """A deliberately simple cluster count, independent of the adapter's segmentation."""
    count = 0
    previous = ""
    regional = 0
    for ch in text:
        cp = ord(ch)
        joins = bool(previous) and (
            unicodedata.category(ch) in ("Mn", "Me", "Mc")
            or cp in (0x200D, 0x0E33, 0xFE0F)
            or 0x1F3FB <= cp <= 0x1F3FF
            or previous == "\u200d"
            or (0x1F1E6 <= cp <= 0x1F1FF and regional % 2 == 1)
            or (previous == "\r" and ch == "\n")
        )
        regional = regional + 1 if 0x1F1E6 <= cp <= 0x1F1FF else 0
        if not joins:
            count += 1
        previous = ch
    return count


@dataclass
class Fault:
    status: int | None = None  # None: no error answer, only the delay
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Content:
    data: bytes
    content_type: str
    not_ready: int = 0  # downloads that still answer 202
    gone: bool = False
    downloads: int = 0


@dataclass
class Call:
    """One request the fake received (after authentication)."""

    endpoint: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 0
    #: when the request arrived, on the fake's clock
    at: float = 0.0
    #: refused with 429 by the fake's rate limiter (not by a scripted fault)
    rate_limited: bool = False


class _Invalid(Exception):
    def __init__(self, details: list[dict[str, str]]) -> None:
        super().__init__(details)
        self.details = details


def _error(status: int, message: str, **extra: Any) -> web.Response:
    headers = extra.pop("headers", None)
    return web.json_response({"message": message, **extra}, status=status, headers=headers)


def _request_id() -> str:
    return str(uuid.uuid4())


class FakeLine:
    """The LINE platform as one aiohttp app serving both api.line.me and api-data.line.me.

    Use as ``async with FakeLine() as line:``; point ``Configuration(host=line.url)`` at it.
    """

    def __init__(
        self,
        *,
        channel_secret: str = FAKE_CHANNEL_SECRET,
        access_token: str = FAKE_ACCESS_TOKEN,
        bot_user_id: str | None = None,
        quota: int = 500,
        rate_limits: Mapping[str, float | None] | None = None,
        rate_tolerance: float = DEFAULT_TOLERANCE,
        latency: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``rate_limits`` overrides `RATE_LIMITS` per endpoint (requests/s, None: unlimited);
        ``rate_tolerance`` is the arrival jitter the buckets forgive (see `TokenBucket`);
        ``latency`` delays every answer of an endpoint by that many seconds (after the work)."""
        for endpoint in (*(rate_limits or {}), *(latency or {})):
            self._check_endpoint(endpoint)
        self.channel_secret = channel_secret
        self.access_token = access_token
        self.bot_user_id = bot_user_id or new_member_id()
        self.quota = quota
        self.url = ""
        #: every message delivered, per recipient (user, group or room id), in delivery order
        self.deliveries: dict[str, list[dict[str, Any]]] = defaultdict(list)
        #: the endpoint that delivered each message, per recipient, parallel to ``deliveries``
        self.delivered_by: dict[str, list[str]] = defaultdict(list)
        self.calls: list[Call] = []
        self.reply_tokens: dict[str, str] = {}  # unused token → chat id
        self.used_reply_tokens: set[str] = set()
        self.retry_keys: dict[str, tuple[str, list[dict[str, str]]]] = {}
        self.content: dict[str, Content] = {}
        self.rich_menus: dict[str, dict[str, Any]] = {}
        self.rich_menu_images: dict[str, tuple[str, bytes]] = {}
        self.default_rich_menu: str | None = None
        self.loading: list[dict[str, Any]] = []
        self.quota_used = 0
        #: requests per second per endpoint (None: unlimited); change with `set_rate_limit`
        self.rate_limits: dict[str, float | None] = {**RATE_LIMITS, **(rate_limits or {})}
        self.rate_tolerance = rate_tolerance
        #: fixed delay per endpoint before each answer, in seconds
        self.latency: dict[str, float] = dict(latency or {})
        self._clock = clock
        self._buckets: dict[str, TokenBucket | None] = {}
        self._faults: dict[str, list[Fault]] = defaultdict(list)
        self._ids = itertools.count(int(time.time()) * 1000)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=3 * 1024 * 1024)
        app.router.add_post("/v2/bot/message/reply", self._guard("reply", self._reply))
        app.router.add_post("/v2/bot/message/push", self._guard("push", self._push))
        app.router.add_post("/v2/bot/message/multicast", self._guard("multicast", self._multicast))
        app.router.add_get("/v2/bot/message/quota", self._guard("quota", self._quota))
        app.router.add_get("/v2/bot/message/quota/consumption", self._guard("quota", self._consumption))
        app.router.add_get("/v2/bot/message/{id}/content", self._guard("content", self._content))
        app.router.add_post("/v2/bot/chat/loading/start", self._guard("loading", self._loading))
        app.router.add_post("/v2/bot/richmenu", self._guard("richmenu", self._create_rich_menu))
        app.router.add_post(
            "/v2/bot/richmenu/{id}/content", self._guard("richmenu_content", self._upload_rich_menu)
        )
        app.router.add_post(
            "/v2/bot/user/all/richmenu/{id}", self._guard("richmenu_default", self._set_default_menu)
        )
        app.router.add_get("/v2/bot/user/all/richmenu", self._guard("richmenu_default", self._get_default))
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- scripting ------------------------------------------------------------------------------

    def fail_next(
        self,
        endpoint: str,
        count: int = 1,
        *,
        status: int = 500,
        message: str = ERR_SERVER,
        headers: dict[str, str] | None = None,
        skip: int = 0,
    ) -> None:
        """After ``skip`` good answers, ``count`` requests to ``endpoint`` answer ``status``."""
        self._check_endpoint(endpoint)
        self._faults[endpoint].extend(Fault() for _ in range(skip))
        for _ in range(count):
            self._faults[endpoint].append(Fault(status, {"message": message}, dict(headers or {})))

    def rate_limit_next(
        self, endpoint: str, count: int = 1, *, retry_after: int | None = 3, skip: int = 0
    ) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self.fail_next(endpoint, count, status=429, message=ERR_RATE, headers=headers, skip=skip)

    def monthly_limit_next(self, endpoint: str, count: int = 1, *, skip: int = 0) -> None:
        self.fail_next(endpoint, count, status=429, message=ERR_MONTHLY, skip=skip)

    def delay_next(self, endpoint: str, seconds: float, count: int = 1) -> None:
        """Answer late, after doing the work: a client that timed out still got its message sent."""
        self._check_endpoint(endpoint)
        for _ in range(count):
            self._faults[endpoint].append(Fault(delay=seconds))

    def set_rate_limit(self, endpoint: str, rate: float | None) -> None:
        """Change an endpoint's limit (requests/s, None: unlimited); its bucket starts full."""
        self._check_endpoint(endpoint)
        self.rate_limits[endpoint] = rate
        self._buckets.pop(endpoint, None)

    def _bucket(self, endpoint: str) -> TokenBucket | None:
        if endpoint not in self._buckets:
            rate = self.rate_limits.get(endpoint)
            self._buckets[endpoint] = (
                None if rate is None else TokenBucket(rate, tolerance=self.rate_tolerance, clock=self._clock)
            )
        return self._buckets[endpoint]

    @staticmethod
    def _check_endpoint(endpoint: str) -> None:
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; known: {ENDPOINTS}")

    def issue_reply_token(self, chat_id: str) -> str:
        token = secrets.token_hex(16)
        self.reply_tokens[token] = chat_id
        return token

    def expire_reply_token(self, token: str) -> None:
        self.reply_tokens.pop(token, None)

    def add_content(
        self, data: bytes, content_type: str = "application/octet-stream", *, not_ready: int = 0
    ) -> str:
        message_id = self.new_message_id()
        self.content[message_id] = Content(data, content_type, not_ready)
        return message_id

    def new_message_id(self) -> str:
        return str(next(self._ids))

    # -- inspection -----------------------------------------------------------------------------

    def texts(self, recipient: str) -> list[str]:
        """What each delivered message reads as: a text's text, a Flex message's texts."""
        return [_readable(m) for m in self.deliveries.get(recipient, [])]

    def calls_to(self, endpoint: str) -> list[Call]:
        return [c for c in self.calls if c.endpoint == endpoint]

    def delivery_counts(self, endpoint: str | None = None) -> Counter[str]:
        """Messages delivered per recipient (only those delivered through ``endpoint`` if given).

        A multicast of 2 messages to 3 users counts 2 for each of them.
        """
        return Counter(
            {
                recipient: count
                for recipient, endpoints in self.delivered_by.items()
                if (count := sum(1 for e in endpoints if endpoint in (None, e)))
            }
        )

    def rate_limited_calls(self, endpoint: str | None = None) -> list[Call]:
        """Requests the rate limiter refused (429), optionally only to ``endpoint``."""
        return [c for c in self.calls if c.rate_limited and endpoint in (None, c.endpoint)]

    # -- webhooks -------------------------------------------------------------------------------

    def user(self, user_id: str | None = None) -> FakeLineUser:
        return FakeLineUser(self, user_id or new_member_id("U"))

    def webhook_body(self, events: list[dict[str, Any]]) -> bytes:
        return json.dumps(
            {"destination": self.bot_user_id, "events": events}, ensure_ascii=False, separators=(",", ":")
        ).encode()

    async def post_raw(
        self, bot_url: str, body: bytes, *, signature: str | None = "", headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        """POST bytes to the bot; ``signature=""`` signs them, None sends no signature header."""
        assert self._session is not None, "FakeLine is not started"
        sent = {"Content-Type": "application/json; charset=UTF-8", "User-Agent": "LineBotWebhook/2.0"}
        if signature is not None:
            sent["X-Line-Signature"] = signature or sign(body, self.channel_secret)
        sent.update(headers or {})
        # BytesIO: aiohttp warns about large raw bytes bodies; the length is still sent.
        async with self._session.post(bot_url, data=io.BytesIO(body), headers=sent) as response:
            return response.status, await response.text()

    async def deliver(self, bot_url: str, *events: dict[str, Any], redelivery: bool = False) -> int:
        """Send a signed webhook carrying ``events`` (copies marked redelivered if asked)."""
        sent = [copy.deepcopy(e) for e in events]
        if redelivery:
            for event in sent:
                event["deliveryContext"] = {"isRedelivery": True}
        status, _ = await self.post_raw(bot_url, self.webhook_body(sent))
        return status

    # -- request handling -----------------------------------------------------------------------

    def _guard(
        self, endpoint: str, handler: Callable[[web.Request, Call], Awaitable[web.Response]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def guarded(request: web.Request) -> web.Response:
            body: Any = None
            if request.can_read_body:
                raw = await request.read()
                body = raw
                if request.content_type == "application/json":
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        return _error(400, "The request body could not be parsed as JSON")
            call = Call(endpoint, request.method, request.path, dict(request.headers), body, at=self._clock())
            self.calls.append(call)
            response = await self._answer(endpoint, request, call, handler)
            call.status = response.status
            response.headers.setdefault("X-Line-Request-Id", _request_id())
            return response

        return guarded

    async def _answer(
        self,
        endpoint: str,
        request: web.Request,
        call: Call,
        handler: Callable[[web.Request, Call], Awaitable[web.Response]],
    ) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return _error(401, ERR_AUTH)
        # The limiter stands in front of everything else: a refused request does no work and
        # takes no scripted fault. Refusals do not use up the bucket.
        bucket = self._bucket(endpoint)
        if bucket is not None and not bucket.take():
            call.rate_limited = True
            return _error(429, ERR_RATE)
        fault = self._faults[endpoint].pop(0) if self._faults[endpoint] else None
        if fault is not None and fault.status is not None:
            return web.json_response(fault.body, status=fault.status, headers=fault.headers)
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        try:
            response = await handler(request, call)
        except _Invalid as invalid:
            response = _error(
                400, f"The request body has {len(invalid.details)} error(s)", details=invalid.details
            )
        latency = self.latency.get(endpoint, 0.0)
        if latency > 0:
            # The work is done first: a client that gives up waiting still had its request served.
            await asyncio.sleep(latency)
        return response

    def _retry_key(self, request: web.Request) -> str | None:
        key = request.headers.get("X-Line-Retry-Key")
        if key is None:
            return None
        try:
            uuid.UUID(key)
        except ValueError:
            raise _RetryKeyFormat from None
        return key

    async def _reply(self, request: web.Request, call: Call) -> web.Response:
        if "X-Line-Retry-Key" in request.headers:
            return _error(400, ERR_RETRY_NOT_ALLOWED)
        body = _json_object(call.body)
        messages = _validate_messages(body.get("messages"))
        token = body.get("replyToken")
        if not isinstance(token, str) or token not in self.reply_tokens:
            return _error(400, ERR_REPLY_TOKEN)
        chat_id = self.reply_tokens.pop(token)
        self.used_reply_tokens.add(token)
        sent = self._deliver([chat_id], messages, "reply")
        return web.json_response({"sentMessages": sent})

    async def _push(self, request: web.Request, call: Call) -> web.Response:
        try:
            key = self._retry_key(request)
        except _RetryKeyFormat:
            return _error(400, ERR_RETRY_FORMAT)
        if key is not None and key in self.retry_keys:
            accepted, sent = self.retry_keys[key]
            return _error(
                409, ERR_RETRY_ACCEPTED, sentMessages=sent, headers={"x-line-accepted-request-id": accepted}
            )
        body = _json_object(call.body)
        messages = _validate_messages(body.get("messages"))
        to = body.get("to")
        if not isinstance(to, str) or not _MEMBER_ID.match(to):
            return _error(400, "The property, 'to', in the request body is invalid (line-id format)")
        sent = self._deliver([to], messages, "push")
        self.quota_used += len(messages)
        if key is not None:
            self.retry_keys[key] = (_request_id(), sent)
        return web.json_response({"sentMessages": sent})

    async def _multicast(self, request: web.Request, call: Call) -> web.Response:
        try:
            key = self._retry_key(request)
        except _RetryKeyFormat:
            return _error(400, ERR_RETRY_FORMAT)
        if key is not None and key in self.retry_keys:
            accepted, _ = self.retry_keys[key]
            return _error(409, ERR_RETRY_ACCEPTED, headers={"x-line-accepted-request-id": accepted})
        body = _json_object(call.body)
        messages = _validate_messages(body.get("messages"))
        to = body.get("to")
        if not isinstance(to, list) or not 1 <= len(to) <= 500:
            raise _Invalid([_detail("Size must be between 1 and 500", "to")])
        if not all(isinstance(u, str) and u.startswith("U") and _MEMBER_ID.match(u) for u in to):
            raise _Invalid([_detail("Invalid user id", "to")])
        self._deliver(to, messages, "multicast")
        self.quota_used += len(messages) * len(to)
        if key is not None:
            self.retry_keys[key] = (_request_id(), [])
        return web.json_response({})

    def _deliver(
        self, recipients: list[str], messages: list[dict[str, Any]], endpoint: str
    ) -> list[dict[str, str]]:
        sent = []
        for message in messages:
            message_id = self.new_message_id()
            sent.append({"id": message_id, "quoteToken": secrets.token_urlsafe(24)})
            for recipient in recipients:
                self.deliveries[recipient].append({**message, "id": message_id})
                self.delivered_by[recipient].append(endpoint)
        return sent

    async def _quota(self, request: web.Request, call: Call) -> web.Response:
        return web.json_response({"type": "limited", "value": self.quota})

    async def _consumption(self, request: web.Request, call: Call) -> web.Response:
        return web.json_response({"totalUsage": self.quota_used})

    async def _content(self, request: web.Request, call: Call) -> web.Response:
        content = self.content.get(request.match_info["id"])
        if content is None:
            return _error(404, ERR_NOT_FOUND)
        if content.gone:
            return _error(410, "Gone")
        content.downloads += 1
        if content.not_ready > 0:
            content.not_ready -= 1
            return web.Response(status=202)
        return web.Response(body=content.data, content_type=content.content_type)

    async def _loading(self, request: web.Request, call: Call) -> web.Response:
        body = _json_object(call.body)
        chat_id, seconds = body.get("chatId"), body.get("loadingSeconds", 20)
        if not isinstance(chat_id, str) or not chat_id.startswith("U") or not _MEMBER_ID.match(chat_id):
            raise _Invalid([_detail("Invalid user id", "chatId")])
        if not isinstance(seconds, int) or not 5 <= seconds <= 60 or seconds % 5:
            raise _Invalid([_detail("Must be a multiple of 5 between 5 and 60", "loadingSeconds")])
        self.loading.append(body)
        return web.json_response({}, status=202)

    async def _create_rich_menu(self, request: web.Request, call: Call) -> web.Response:
        body = _json_object(call.body)
        details: list[dict[str, str]] = []
        size = body.get("size")
        size = size if isinstance(size, dict) else {}
        width, height = size.get("width"), size.get("height")
        if not isinstance(width, int) or not isinstance(height, int):
            details.append(_detail("must be specified", "size"))
        elif not (800 <= width <= 2500 and height >= 250 and width / height >= 1.45):
            details.append(_detail("invalid rich menu size", "size"))
        for name, limit in (("name", 300), ("chatBarText", 14)):
            value = body.get(name)
            if not isinstance(value, str) or not 1 <= len(value) <= limit:
                details.append({"message": f"Length must be between 1 and {limit}", "property": name})
        areas = body.get("areas")
        if not isinstance(areas, list) or not 1 <= len(areas) <= 20:
            details.append(_detail("Size must be between 1 and 20", "areas"))
            areas = []
        for i, area in enumerate(areas):
            bounds = area.get("bounds", {}) if isinstance(area, dict) else {}
            action = area.get("action") if isinstance(area, dict) else None
            if not isinstance(action, dict):
                details.append(_detail("must be specified", f"areas[{i}].action"))
                continue
            details.extend(_validate_action(action, f"areas[{i}].action", label_required=False))
            if isinstance(width, int) and isinstance(height, int):
                x, y = bounds.get("x", -1), bounds.get("y", -1)
                w, h = bounds.get("width", 0), bounds.get("height", 0)
                if x < 0 or y < 0 or w < 1 or h < 1 or x + w > width or y + h > height:
                    details.append(_detail("out of the rich menu", f"areas[{i}].bounds"))
        if details:
            raise _Invalid(details)
        menu_id = "richmenu-" + secrets.token_hex(16)
        self.rich_menus[menu_id] = body
        return web.json_response({"richMenuId": menu_id})

    async def _upload_rich_menu(self, request: web.Request, call: Call) -> web.Response:
        menu_id = request.match_info["id"]
        menu = self.rich_menus.get(menu_id)
        if menu is None:
            return _error(404, ERR_NOT_FOUND)
        if menu_id in self.rich_menu_images:
            return _error(400, "An image has already been uploaded to the richmenu")
        if request.content_type not in ("image/png", "image/jpeg"):
            return _error(415, "Unsupported Media Type")
        data = call.body if isinstance(call.body, bytes) else b""
        if len(data) > 1024 * 1024:
            return _error(413, "Request Entity Too Large")
        dimensions = _png_size(data) if request.content_type == "image/png" else None
        expected = (menu["size"]["width"], menu["size"]["height"])
        if request.content_type == "image/png" and dimensions != expected:
            return _error(400, "An image size does not match the rich menu size")
        self.rich_menu_images[menu_id] = (request.content_type, data)
        return web.json_response({})

    async def _set_default_menu(self, request: web.Request, call: Call) -> web.Response:
        menu_id = request.match_info["id"]
        if menu_id not in self.rich_menus:
            return _error(404, ERR_NOT_FOUND)
        if menu_id not in self.rich_menu_images:
            return _error(400, "must upload richmenu image before applying it to user")
        self.default_rich_menu = menu_id
        return web.json_response({})

    async def _get_default(self, request: web.Request, call: Call) -> web.Response:
        if self.default_rich_menu is None:
            return _error(404, "no default richmenu")
        return web.json_response({"richMenuId": self.default_rich_menu})


class _RetryKeyFormat(Exception):
    pass


def _detail(message: str, prop: str) -> dict[str, str]:
    return {"message": message, "property": prop}


def _json_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _Invalid([_detail("must be a JSON object", "")])
    return body


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


_OTHER_MESSAGE_TYPES = ("image", "video", "audio", "location", "sticker", "flex", "template")
_ACTIONS = {"postback", "message", "uri", "datetimepicker", "camera", "cameraRoll", "location", "clipboard"}


def _validate_action(action: dict[str, Any], where: str, *, label_required: bool) -> list[dict[str, str]]:
    details = []
    kind = action.get("type")
    if kind not in _ACTIONS:
        details.append(_detail("invalid action type", f"{where}.type"))
    label = action.get("label")
    if label is None:
        if label_required:
            details.append(_detail("must be specified", f"{where}.label"))
    elif not isinstance(label, str) or not 1 <= count_graphemes(label) <= 20:
        details.append(_detail("Length must be between 0 and 20", f"{where}.label"))
    if kind == "postback":
        data = action.get("data")
        if not isinstance(data, str) or len(data) > 300:
            details.append(_detail("Length must be between 0 and 300", f"{where}.data"))
        display = action.get("displayText")
        if display is not None and (not isinstance(display, str) or len(display) > 300):
            details.append(_detail("Length must be between 0 and 300", f"{where}.displayText"))
    return details


_FLEX_COMPONENTS = {"box", "button", "image", "video", "icon", "text", "span", "separator", "filler"}
_FLEX_LAYOUTS = {"horizontal", "vertical", "baseline"}
MAX_BUBBLE_BYTES = 30 * 1024
MAX_ALT_TEXT = 400


def _readable(message: dict[str, Any]) -> str:
    if message.get("type") != "flex":
        return str(message.get("text", ""))
    texts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text":
                texts.append(str(node.get("text") or ""))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("contents"))
    return "\n".join(texts)


def _validate_flex(message: dict[str, Any], where: str) -> list[dict[str, str]]:
    """A Flex message as LINE checks it: altText, a bubble or a carousel of bubbles, each at
    most 30 KB of JSON, boxes with a layout and contents, texts with text, buttons with a
    valid action (label at most 20 graphemes, postback data at most 300 characters)."""
    details: list[dict[str, str]] = []
    alt = message.get("altText")
    if not isinstance(alt, str) or not alt:
        details.append(_detail("must be specified", f"{where}.altText"))
    elif len(alt) > MAX_ALT_TEXT:
        details.append(_detail("Length must be between 0 and 400", f"{where}.altText"))
    contents = message.get("contents")
    path = f"{where}.contents"
    if not isinstance(contents, dict):
        return [*details, _detail("must be specified", path)]
    if contents.get("type") == "carousel":
        bubbles = contents.get("contents")
        if not isinstance(bubbles, list) or not 1 <= len(bubbles) <= 12:
            return [*details, _detail("Size must be between 1 and 12", f"{path}.contents")]
        for i, bubble in enumerate(bubbles):
            details.extend(_validate_bubble(bubble, f"{path}.contents[{i}]"))
    elif contents.get("type") == "bubble":
        details.extend(_validate_bubble(contents, path))
    else:
        details.append(_detail("invalid flex container type", f"{path}.type"))
    return details


def _validate_bubble(bubble: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(bubble, dict) or bubble.get("type") != "bubble":
        return [_detail("must be a bubble", f"{where}.type")]
    details: list[dict[str, str]] = []
    size = len(json.dumps(bubble, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > MAX_BUBBLE_BYTES:
        details.append(_detail("size must be less than 30KB", where))
    blocks = [b for b in ("header", "hero", "body", "footer") if b in bubble]
    if not blocks:
        details.append(_detail("a bubble needs at least one block", where))
    for block in blocks:
        part = bubble[block]
        if block == "hero" and isinstance(part, dict) and part.get("type") in ("image", "video"):
            details.extend(_validate_component(part, f"{where}.{block}"))
        elif not isinstance(part, dict) or part.get("type") != "box":
            details.append(_detail("must be a box", f"{where}.{block}.type"))
        else:
            details.extend(_validate_component(part, f"{where}.{block}"))
    return details


def _validate_component(component: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(component, dict) or component.get("type") not in _FLEX_COMPONENTS:
        return [_detail("invalid flex component type", f"{where}.type")]
    kind = component["type"]
    details: list[dict[str, str]] = []
    if kind == "box":
        if component.get("layout") not in _FLEX_LAYOUTS:
            details.append(_detail("must be one of horizontal, vertical, baseline", f"{where}.layout"))
        children = component.get("contents")
        if not isinstance(children, list):
            details.append(_detail("must be specified", f"{where}.contents"))
        else:
            for i, child in enumerate(children):
                details.extend(_validate_component(child, f"{where}.contents[{i}]"))
    elif kind == "text":
        text = component.get("text")
        if not component.get("contents") and (not isinstance(text, str) or not text):
            details.append(_detail("must be specified", f"{where}.text"))
    elif kind == "button":
        action = component.get("action")
        if not isinstance(action, dict):
            details.append(_detail("must be specified", f"{where}.action"))
        else:
            details.extend(_validate_action(action, f"{where}.action", label_required=True))
    elif kind in ("image", "icon", "video") and not isinstance(component.get("url"), str):
        details.append(_detail("must be specified", f"{where}.url"))
    if "action" in component and kind != "button" and isinstance(component["action"], dict):
        details.extend(_validate_action(component["action"], f"{where}.action", label_required=False))
    return details


def _validate_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
        raise _Invalid([_detail("Size must be between 1 and 5", "messages")])
    details: list[dict[str, str]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            details.append(_detail("must be an object", where))
            continue
        if message.get("type") == "text":
            text = message.get("text")
            if not isinstance(text, str) or not text:
                details.append(_detail("May not be empty", f"{where}.text"))
            elif utf16_units(text) > 5000:
                details.append(_detail("Length must be between 0 and 5000", f"{where}.text"))
        elif message.get("type") == "flex":
            details.extend(_validate_flex(message, where))
        elif message.get("type") not in _OTHER_MESSAGE_TYPES:
            details.append(_detail("invalid message type", f"{where}.type"))
        quick = message.get("quickReply")
        if quick is None:
            continue
        items = quick.get("items") if isinstance(quick, dict) else None
        if not isinstance(items, list) or not 1 <= len(items) <= 13:
            details.append(_detail("Size must be between 1 and 13", f"{where}.quickReply.items"))
            continue
        for j, item in enumerate(items):
            action = item.get("action") if isinstance(item, dict) else None
            if not isinstance(action, dict) or item.get("type") != "action":
                details.append(_detail("invalid item", f"{where}.quickReply.items[{j}]"))
                continue
            path = f"{where}.quickReply.items[{j}].action"
            details.extend(_validate_action(action, path, label_required=True))
    if details:
        raise _Invalid(details)
    return messages


class FakeLineUser:
    """A LINE user whose actions become complete, signed webhook events for the bot.

    Builders return one event dict; ``send(bot_url, *events)`` delivers them in one webhook.
    A user "in" a group (``in_group``) sends from that group's source.
    """

    def __init__(
        self, platform: FakeLine, user_id: str, *, group_id: str | None = None, room_id: str | None = None
    ) -> None:
        self.platform = platform
        self.user_id = user_id
        self.group_id = group_id
        self.room_id = room_id

    @property
    def chat_id(self) -> str:
        return self.group_id or self.room_id or self.user_id

    def in_group(self, group_id: str | None = None) -> FakeLineUser:
        return FakeLineUser(self.platform, self.user_id, group_id=group_id or new_member_id("C"))

    def in_room(self, room_id: str | None = None) -> FakeLineUser:
        return FakeLineUser(self.platform, self.user_id, room_id=room_id or new_member_id("R"))

    # -- event builders -------------------------------------------------------------------------

    def _source(self, *, with_user: bool = True) -> dict[str, str]:
        if self.group_id:
            source = {"type": "group", "groupId": self.group_id}
        elif self.room_id:
            source = {"type": "room", "roomId": self.room_id}
        else:
            return {"type": "user", "userId": self.user_id}
        if with_user:
            source["userId"] = self.user_id
        return source

    def _event(
        self,
        event_type: str,
        *,
        reply: bool = True,
        with_user: bool = True,
        standby: bool = False,
        at_ms: int | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "type": event_type,
            "mode": "standby" if standby else "active",
            "timestamp": at_ms if at_ms is not None else int(time.time() * 1000),
            "source": self._source(with_user=with_user),
            "webhookEventId": new_ulid(),
            "deliveryContext": {"isRedelivery": False},
        }
        if reply and not standby:
            event["replyToken"] = self.platform.issue_reply_token(self.chat_id)
        event.update(fields)
        return event

    def _message(self, content: dict[str, Any], **options: Any) -> dict[str, Any]:
        message = {"id": self.platform.new_message_id(), **content}
        return self._event("message", message=message, **options)

    def text(self, text: str, **options: Any) -> dict[str, Any]:
        return self._message(
            {"type": "text", "text": text, "quoteToken": secrets.token_urlsafe(24)}, **options
        )

    def sticker(self, **options: Any) -> dict[str, Any]:
        return self._message(
            {
                "type": "sticker",
                "packageId": "446",
                "stickerId": "1988",
                "stickerResourceType": "STATIC",
                "keywords": ["happy"],
                "quoteToken": secrets.token_urlsafe(24),
            },
            **options,
        )

    def location(
        self, latitude: float, longitude: float, *, title: str = "", address: str = "", **options: Any
    ) -> dict[str, Any]:
        content: dict[str, Any] = {"type": "location", "latitude": latitude, "longitude": longitude}
        if title:
            content["title"] = title
        if address:
            content["address"] = address
        return self._message(content, **options)

    def media(
        self,
        kind: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        not_ready: int = 0,
        **options: Any,
    ) -> dict[str, Any]:
        """An image, video or audio clip whose bytes the fake's content host serves."""
        message_id = self.platform.add_content(data, content_type, not_ready=not_ready)
        content: dict[str, Any] = {"id": message_id, "type": kind, "contentProvider": {"type": "line"}}
        if kind in ("image", "video"):
            content["quoteToken"] = secrets.token_urlsafe(24)
        if kind in ("video", "audio"):
            content["duration"] = 6000
        return self._event("message", message=content, **options)

    def image(self, data: bytes, *, content_type: str = "image/jpeg", **options: Any) -> dict[str, Any]:
        return self.media("image", data, content_type=content_type, **options)

    def file(self, data: bytes, file_name: str, **options: Any) -> dict[str, Any]:
        message_id = self.platform.add_content(data, "application/octet-stream")
        content = {"id": message_id, "type": "file", "fileName": file_name, "fileSize": len(data)}
        return self._event("message", message=content, **options)

    def postback(self, data: str, params: dict[str, str] | None = None, **options: Any) -> dict[str, Any]:
        postback: dict[str, Any] = {"data": data}
        if params:
            postback["params"] = params
        return self._event("postback", postback=postback, **options)

    def follow(self, *, unblocked: bool = False, **options: Any) -> dict[str, Any]:
        return self._event("follow", follow={"isUnblocked": unblocked}, **options)

    def unfollow(self, **options: Any) -> dict[str, Any]:
        return self._event("unfollow", reply=False, **options)

    def join(self, **options: Any) -> dict[str, Any]:
        """The bot was added to this user's group (the event carries no user)."""
        return self._event("join", with_user=False, **options)

    def leave(self, **options: Any) -> dict[str, Any]:
        return self._event("leave", reply=False, with_user=False, **options)

    def member_joined(self, **options: Any) -> dict[str, Any]:
        members = {"members": [{"type": "user", "userId": self.user_id}]}
        return self._event("memberJoined", with_user=False, joined=members, **options)

    def unsend(self, message_id: str, **options: Any) -> dict[str, Any]:
        content = self.platform.content.get(message_id)
        if content is not None:
            content.gone = True
        return self._event("unsend", reply=False, unsend={"messageId": message_id}, **options)

    # -- delivery -------------------------------------------------------------------------------

    async def send(self, bot_url: str, *events: dict[str, Any], redelivery: bool = False) -> int:
        return await self.platform.deliver(bot_url, *events, redelivery=redelivery)

    async def say(self, bot_url: str, text: str) -> dict[str, Any]:
        event = self.text(text)
        status = await self.send(bot_url, event)
        assert status == 200, f"bot answered {status}"
        return event


def random_bytes(size: int) -> bytes:
    return os.urandom(size)
