"""Web chat channel: a small phone-friendly page at /chat, speaking through the same
inbox → engine → outbox → relay path as LINE and Telegram. No business rules, no Thai text here.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from aiohttp import web

from bot.core.model import (
    Address,
    FetchedMedia,
    Inbound,
    InboundKind,
    InboxEvent,
    Location,
    MediaGone,
    MediaRef,
    Outbound,
    SendResult,
    SendStatus,
)
from bot.core.ports import EventRejected, Ingest, StorageUnavailable
from handlers.ratelimit import WebChatLimits, refused

SESSION = re.compile(r"^[0-9a-f]{32}$")
EVENT_ID = re.compile(r"^[0-9A-Za-z-]{8,64}$")
MAILBOX_LIMIT = 500
#: the chat page loads only from this server, talks only to it, is never framed and posts
#: nowhere else; its script and style are files (below), so no inline code is allowed
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
#: the page's own files under /chat/static/ and their types: nothing else there is served
ASSETS = {"chat.js": "text/javascript", "chat.css": "text/css"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    kind: str
    etag: str


def _asset(name: str, kind: str) -> Asset:
    body = resources.files("handlers").joinpath("static", name).read_bytes()
    return Asset(body, kind, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def session_event_id(session: str, event_id: str) -> str:
    """The inbox key of a web chat message: the page's id within its session.

    The inbox is unique per channel and event id; a bare page id would let one browser's id
    suppress another's message. The session is hashed (the tag is not a credential: logs
    carry event ids, and a session id is the only proof of a web chat identity); the page's
    retries of one message keep their id and still dedupe.
    """
    return hashlib.sha256(session.encode("ascii")).hexdigest()[:16] + ":" + event_id


class WebChatChannel:
    """Delivers bot messages to per-browser mailboxes that the page long-polls."""

    name = "webchat"

    def __init__(self, max_text_chars: int = 5000) -> None:
        self.max_text_chars = max_text_chars
        self._boxes: dict[str, deque[dict[str, Any]]] = {}
        # Start from the clock so a restarted server's sequence numbers stay above those the
        # page already saw (the page asks for "messages after N").
        self._seq = int(time.time() * 1000)
        self._changed = asyncio.Condition()

    # ---- Channel protocol ------------------------------------------------------------------
    def to_inbound(self, event_id: str, payload: Mapping[str, Any]) -> Inbound | None:
        session = str(payload.get("session", ""))
        if not SESSION.match(session):
            return None
        occurred = datetime.fromisoformat(str(payload["at"])) if payload.get("at") else datetime.now(UTC)
        common: dict[str, Any] = {
            "channel": self.name,
            "chat_id": session,
            "event_id": event_id,
            "occurred_at": occurred,
            "message_id": event_id,
            "locale_hint": payload.get("locale") if payload.get("locale") in ("th", "en") else None,
        }
        kind = payload.get("type")
        if kind == "button" and isinstance(payload.get("button"), str):
            return Inbound(
                kind=InboundKind.BUTTON,
                button=payload["button"][:300],
                text=str(payload.get("text", ""))[:200],
                **common,
            )
        if kind == "location":
            try:
                loc = Location(float(payload["lat"]), float(payload["lon"]))
            except (KeyError, TypeError, ValueError):
                return None
            return Inbound(kind=InboundKind.LOCATION, location=loc, **common)
        if kind == "follow":
            return Inbound(kind=InboundKind.FOLLOW, **common)
        if kind == "text" and isinstance(payload.get("text"), str):
            return Inbound(kind=InboundKind.TEXT, text=payload["text"][: self.max_text_chars], **common)
        return None

    async def acknowledge(self, inbound: Inbound) -> None:
        return None

    async def fetch_media(self, media: MediaRef) -> FetchedMedia:
        raise MediaGone("the web chat does not take files")

    async def send(
        self,
        address: Address,
        messages: Sequence[Outbound],
        *,
        reply_token: str | None,
        retry_key: str,
        attachments: Mapping[int, bytes] | None = None,
    ) -> SendResult:
        box = self._boxes.setdefault(address.chat_id, deque(maxlen=MAILBOX_LIMIT))
        if any(m.get("key") == retry_key for m in box):
            return SendResult(SendStatus.SENT)  # a retried send after a crash: already shown
        async with self._changed:
            for i, m in enumerate(messages):
                self._seq += 1
                box.append(
                    {
                        "seq": self._seq,
                        "key": retry_key if i == 0 else f"{retry_key}:{i}",
                        "text": m.text,
                        "buttons": [{"label": b.label, "payload": b.payload} for b in m.buttons],
                        "location": m.request_location,
                    }
                )
            self._changed.notify_all()
        return SendResult(SendStatus.SENT)

    # ---- mailbox reading ------------------------------------------------------------------------
    def messages_after(self, session: str, after: int) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in m.items() if k != "key"}
            for m in self._boxes.get(session, ())
            if m["seq"] > after
        ]

    async def wait_for(self, session: str, after: int, timeout: float) -> list[dict[str, Any]]:
        found = self.messages_after(session, after)
        if found or timeout <= 0:
            return found
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: bool(self.messages_after(session, after)))
        except TimeoutError:
            pass
        return self.messages_after(session, after)


def routes(
    channel: WebChatChannel,
    ingest: Ingest,
    strings: Mapping[str, Mapping[str, str]],
    *,
    max_text_chars: int = 5000,
    limits: WebChatLimits | None = None,
) -> list[web.RouteDef]:
    """`strings` maps a locale to the page's own labels (the `webchat.*` catalog keys);
    `limits`, when given, refuses posts beyond the per-session and per-address rates (429)."""

    html = resources.files("handlers").joinpath("static/chat.html").read_text("utf-8")
    assets = {name: _asset(name, kind) for name, kind in ASSETS.items()}

    async def page(request: web.Request) -> web.StreamResponse:
        return web.Response(
            text=html,
            content_type="text/html",
            headers={
                "Content-Security-Policy": PAGE_POLICY,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                "X-Frame-Options": "DENY",
                "Cache-Control": "no-cache",
            },
        )

    async def asset(request: web.Request) -> web.StreamResponse:
        found = assets.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        # Revalidated on every load (a cheap 304): a new release's page never runs an old script.
        headers = {"ETag": found.etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        asked = request.headers.get("If-None-Match", "")
        if any(tag.strip().removeprefix("W/") in (found.etag, "*") for tag in asked.split(",")):
            return web.Response(status=304, headers=headers)
        return web.Response(body=found.body, content_type=found.kind, charset="utf-8", headers=headers)

    async def send(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
            return web.json_response({"error": "bad_json"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "bad_json"}, status=400)
        session = str(body.get("session", ""))
        if not SESSION.match(session):
            return web.json_response({"error": "bad_session"}, status=400)
        if limits is not None and (refusal := await limits.check(request, session)) is not None:
            return refused(refusal)
        event_id = str(body.get("id") or uuid.uuid4())
        if not EVENT_ID.match(event_id):
            return web.json_response({"error": "bad_id"}, status=400)
        text = body.get("text")
        if isinstance(text, str) and len(text) > max_text_chars:
            return web.json_response({"error": "too_long", "max": max_text_chars}, status=413)
        # Scalars only: nothing a browser nests reaches the database (or its JSON encoder).
        payload = {
            k: body[k]
            for k in ("type", "text", "button", "lat", "lon", "locale")
            if k in body and isinstance(body[k], str | int | float | bool)
        }
        payload["session"] = session
        payload["at"] = datetime.now(UTC).isoformat()
        try:
            await ingest(
                [
                    InboxEvent(
                        channel="webchat",
                        event_id=session_event_id(session, event_id),
                        chat_id=session,
                        occurred_at=datetime.now(UTC),
                        payload=payload,
                    )
                ]
            )
        except StorageUnavailable:
            return web.json_response({"error": "unavailable"}, status=503)
        except EventRejected:
            return web.json_response({"error": "rejected"}, status=422)
        return web.json_response({"ok": True, "id": event_id})

    async def poll(request: web.Request) -> web.StreamResponse:
        session = request.query.get("session", "")
        if not SESSION.match(session):
            return web.json_response({"error": "bad_session"}, status=400)
        try:
            after = int(request.query.get("after", "0"))
            wait = min(25.0, max(0.0, float(request.query.get("wait", "20"))))
        except ValueError:
            return web.json_response({"error": "bad_query"}, status=400)
        return web.json_response({"messages": await channel.wait_for(session, after, wait)})

    async def labels(request: web.Request) -> web.StreamResponse:
        lang = request.query.get("lang", "th")
        return web.json_response(dict(strings.get(lang) or strings.get("th") or {}))

    return [
        web.get("/chat", page),
        web.get("/chat/static/{name}", asset),
        web.get("/chat/api/strings", labels),
        web.post("/chat/api/send", send),
        web.get("/chat/api/messages", poll),
    ]
