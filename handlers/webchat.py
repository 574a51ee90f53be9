"""Web chat channel: a small phone-friendly page at /chat, speaking through the same
inbox → engine → outbox → relay path as LINE and Telegram. No business rules, no Thai text here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any, Literal

import fontpkg_noto_sans_thai
from aiohttp import web

from bot.core.cleantext import clean_text
from bot.core.model import (
    Address,
    FetchedMedia,
    Inbound,
    InboundKind,
    InboxEvent,
    Location,
    MediaGone,
    MediaRef,
    MediaTooLarge,
    Outbound,
    SendResult,
    SendStatus,
    WebChatEntry,
)
from bot.core.ports import EventRejected, Ingest, StorageUnavailable, Store
from handlers.ratelimit import WebChatLimits, refused

log = logging.getLogger("handlers.webchat")

SESSION = re.compile(r"^[0-9a-f]{32}$")
EVENT_ID = re.compile(r"^[0-9A-Za-z-]{8,64}$")
#: where the page uploads evidence; its body may take longer than other requests' (see `Guard`)
UPLOAD_PATH = "/chat/api/upload"
#: seconds an upload's body may take to arrive (a 20 MB photo on a slow phone line)
UPLOAD_BODY_TIMEOUT = 300.0
#: the chat page loads only from this server, talks only to it, is never framed and posts
#: nowhere else; its script and style are files (below), so no inline code is allowed
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
#: the page's own files under /chat/static/ and their types: nothing else there is served
FONT = "NotoSansThai.ttf"
ASSETS = {"chat.js": "text/javascript", "chat.css": "text/css", FONT: "font/ttf"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    kind: str
    etag: str


def _asset(name: str, kind: str) -> Asset:
    if name == FONT:
        # Noto Sans Thai from its PyPI package (OFL): Thai reads right on a device without a
        # Thai font, and nothing is fetched from a font CDN
        body = (fontpkg_noto_sans_thai.ROOT / "files" / "NotoSansThai[wdth,wght].ttf").read_bytes()
    else:
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


#: the menu the page always shows: the same global commands as LINE's rich menu panels
#: (report, my tips, notices, help), so a tap works at every step like the word typed
MENU_PAYLOADS: tuple[str, ...] = ("menu:report", "menu:status", "menu:notices", "menu:help")
#: how many of a session's latest messages a reloaded page gets back
HISTORY_LIMIT = 300
#: what the page may call a file it uploads (evidence kinds the pipeline knows)
UPLOAD_KINDS = ("image", "video", "audio", "file")


def session_tag(session: str) -> str:
    """The short tag a new message's notification names (the first 16 hex of the SHA-256 the
    storage keys a session by), so a process wakes only the long polls of that session."""
    return hashlib.sha256(session.encode("ascii")).hexdigest()[:16]


class WebChatChannel:
    """Delivers bot messages to per-browser mailboxes in the database, which the page long-polls.

    Any process may send (its relay) and any may answer the page (its `/chat` routes): the rows
    are shared, and a new row wakes the waiting polls in this process at once and in others by
    a PostgreSQL notification (`changed`).
    """

    name = "webchat"

    def __init__(
        self,
        store: Store,
        max_text_chars: int = 5000,
        *,
        max_media_bytes: int = 20 * 1024 * 1024,
        upload_ttl: timedelta = timedelta(minutes=10),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.max_text_chars = max_text_chars
        self.max_media_bytes = max_media_bytes
        self.upload_ttl = upload_ttl
        self.clock = clock or (lambda: datetime.now(UTC))
        self._waiters: dict[str, set[asyncio.Event]] = {}

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
        if kind == "media" and isinstance(payload.get("upload"), str):
            kinds: dict[str, Literal["image", "video", "audio", "file"]] = {
                "image": "image",
                "video": "video",
                "audio": "audio",
            }
            media_kind = kinds.get(str(payload.get("kind")), "file")
            size = payload.get("size")
            return Inbound(
                kind=InboundKind.MEDIA,
                media=MediaRef(
                    kind=media_kind,
                    platform_ref=payload["upload"],
                    file_name=str(payload.get("name", ""))[:200],
                    claimed_mime=str(payload.get("mime", ""))[:100],
                    claimed_size=size if isinstance(size, int) else None,
                ),
                **common,
            )
        return None

    async def acknowledge(self, inbound: Inbound) -> None:
        return None

    async def fetch_media(self, media: MediaRef) -> FetchedMedia:
        """The uploaded bytes, from the holding table (any process may have taken the upload).

        They stay there until the dispatcher has settled the event (`release_media`), so a retried
        event finds them again; `upload_ttl` removes any a crash left behind.
        """
        try:
            async with self.store.transaction() as uow:
                data = await uow.webchat.peek(media.platform_ref)
        except StorageUnavailable as exc:
            raise ConnectionError("database unavailable") from exc
        if data is None:
            raise MediaGone(media.file_name)
        if len(data) > self.max_media_bytes:
            raise MediaTooLarge(str(len(data)))
        return FetchedMedia(data, media.claimed_mime)

    async def release_media(self, media: MediaRef) -> None:
        """The dispatcher settled the event: the held upload goes (its bytes are in the evidence
        store if a draft took it; otherwise nothing of it is kept)."""
        async with self.store.transaction() as uow:
            await uow.webchat.drop(media.platform_ref)

    async def send(
        self,
        address: Address,
        messages: Sequence[Outbound],
        *,
        reply_token: str | None,
        retry_key: str,
        attachments: Mapping[int, bytes] | None = None,
    ) -> SendResult:
        bodies = [
            {
                "text": m.text,
                "buttons": [{"label": b.label, "payload": b.payload} for b in m.buttons],
                "location": m.request_location,
            }
            for m in messages
        ]
        if not bodies:
            return SendResult(SendStatus.SENT)
        try:
            async with self.store.transaction() as uow:
                # None: a send retried after a crash, already in the mailbox (shown once)
                await uow.webchat.post(address.chat_id, "bot", retry_key, bodies, self.clock())
        except StorageUnavailable:
            return SendResult(SendStatus.RETRY, retry_after=2.0, error="database unavailable")
        self.changed(session_tag(address.chat_id))
        return SendResult(SendStatus.SENT)

    # ---- mailbox reading ------------------------------------------------------------------------
    def changed(self, tag: str | None) -> None:
        """Wake the long polls of one session (by its tag), or all of them (None: after a lost
        notification connection anything may have been missed)."""
        groups = self._waiters.values() if tag is None else [self._waiters.get(tag, set())]
        for group in groups:
            for event in group:
                event.set()

    async def messages_after(self, session: str, after: int) -> list[dict[str, Any]]:
        async with self.store.transaction() as uow:
            entries = await uow.webchat.after(session, after, HISTORY_LIMIT)
        return [_shown(e) for e in entries]

    async def wait_for(self, session: str, after: int, timeout: float) -> list[dict[str, Any]]:
        tag = session_tag(session)
        event = asyncio.Event()
        self._waiters.setdefault(tag, set()).add(event)
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                # registered before reading: a row committed meanwhile still sets the event
                event.clear()
                found = await self.messages_after(session, after)
                left = deadline - asyncio.get_running_loop().time()
                if found or left <= 0:
                    return found
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), left)
        finally:
            group = self._waiters.get(tag)
            if group is not None:
                group.discard(event)
                if not group:
                    del self._waiters[tag]

    async def purge(self) -> int:
        """Delete uploads older than `upload_ttl` (none is kept beyond it, taken or not)."""
        async with self.store.transaction() as uow:
            return await uow.webchat.purge_uploads(self.clock() - self.upload_ttl)

    async def run(self, stop: asyncio.Event, interval: float = 60.0) -> None:
        """Purge expired uploads every `interval` until `stop`."""
        while not stop.is_set():
            try:
                await self.purge()
            except StorageUnavailable:
                log.warning("web chat uploads not purged: database unavailable")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)


def _shown(entry: WebChatEntry) -> dict[str, Any]:
    """What the page gets of one history entry (its own messages carry the page's id)."""
    out: dict[str, Any] = {"seq": entry.seq, "role": entry.role, **entry.body}
    if entry.at is not None:
        out["at"] = entry.at.isoformat()
    if entry.role == "me":
        out["id"] = entry.key
    out.setdefault("text", "")
    out.setdefault("buttons", [])
    return out


def routes(
    channel: WebChatChannel,
    ingest: Ingest,
    strings: Mapping[str, Mapping[str, Any]],
    *,
    max_text_chars: int = 5000,
    limits: WebChatLimits | None = None,
) -> list[web.RouteDef]:
    """`strings` maps a locale to the page's own labels (the `webchat.*` catalog keys, the menu);
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
        charset = None if found.kind.startswith("font/") else "utf-8"
        return web.Response(body=found.body, content_type=found.kind, charset=charset, headers=headers)

    async def store(
        session: str, event_id: str, payload: dict[str, Any], mine: dict[str, Any] | None
    ) -> web.StreamResponse:
        """The event into the inbox and what the volunteer sent into the session's history.

        The history line is written first, so that a reloaded page shows the volunteer's message
        before the bot's answer to it; it is taken back when the inbox refuses the event.
        """
        payload["session"] = session
        payload["at"] = datetime.now(UTC).isoformat()
        written = False
        if mine is not None:
            # With the database away the event may still be spooled: the history line is then
            # missing (the page showed it already), the message itself is not lost.
            with contextlib.suppress(StorageUnavailable):
                async with channel.store.transaction() as uow:
                    await uow.webchat.post(session, "me", event_id, [mine], channel.clock())
                written = True
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
        except (StorageUnavailable, EventRejected) as exc:
            if written:
                with contextlib.suppress(StorageUnavailable):
                    async with channel.store.transaction() as uow:
                        await uow.webchat.remove(session, event_id)
            if isinstance(exc, StorageUnavailable):
                return web.json_response({"error": "unavailable"}, status=503)
            return web.json_response({"error": "rejected"}, status=422)
        if written:
            channel.changed(session_tag(session))
        return web.json_response({"ok": True, "id": event_id})

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
        mine: dict[str, Any] | None = None
        kind = payload.get("type")
        if kind in ("text", "button") and isinstance(payload.get("text"), str) and payload["text"].strip():
            mine = {"text": clean_text(payload["text"])}
        elif (
            kind == "location"
            and isinstance(payload.get("lat"), int | float)
            and isinstance(payload.get("lon"), int | float)
        ):
            mine = {"place": [float(payload["lat"]), float(payload["lon"])]}
        return await store(session, event_id, payload, mine)

    async def upload(request: web.Request) -> web.StreamResponse:
        """A photo or file as the request body (the page streams it, showing progress), with the
        session, the page's id, the file's name and kind in the query."""
        session = request.query.get("session", "")
        if not SESSION.match(session):
            return web.json_response({"error": "bad_session"}, status=400)
        if limits is not None and (refusal := await limits.check(request, session)) is not None:
            return refused(refusal)
        event_id = request.query.get("id", "")
        if not EVENT_ID.match(event_id):
            return web.json_response({"error": "bad_id"}, status=400)
        too_large = web.json_response(
            {"error": "too_large", "max_mb": channel.max_media_bytes // (1024 * 1024)}, status=413
        )
        if request.content_length is not None and request.content_length > channel.max_media_bytes:
            return too_large
        data = bytearray()
        async for chunk in request.content.iter_chunked(64 * 1024):
            data.extend(chunk)
            if len(data) > channel.max_media_bytes:
                return too_large
        if not data:
            return web.json_response({"error": "empty"}, status=400)
        kind = request.query.get("kind", "file")
        kind = kind if kind in UPLOAD_KINDS else "file"
        name = clean_text(request.query.get("name", ""))[:200]
        mime = request.headers.get("Content-Type", "")[:100]
        token = secrets.token_hex(16)
        try:
            async with channel.store.transaction() as uow:
                await uow.webchat.stage(session, token, bytes(data), channel.clock())
        except StorageUnavailable:
            return web.json_response({"error": "unavailable"}, status=503)
        payload: dict[str, Any] = {
            "type": "media",
            "upload": token,
            "kind": kind,
            "name": name,
            "mime": mime,
            "size": len(data),
            "locale": request.query.get("locale", ""),
        }
        return await store(session, event_id, payload, {"file": name, "kind": kind, "size": len(data)})

    async def poll(request: web.Request) -> web.StreamResponse:
        session = request.query.get("session", "")
        if not SESSION.match(session):
            return web.json_response({"error": "bad_session"}, status=400)
        try:
            after = int(request.query.get("after", "0"))
            wait = min(25.0, max(0.0, float(request.query.get("wait", "20"))))
        except ValueError:
            return web.json_response({"error": "bad_query"}, status=400)
        try:
            found = await channel.wait_for(session, after, wait)
        except StorageUnavailable:
            return web.json_response({"error": "unavailable"}, status=503)
        return web.json_response({"messages": found})

    async def labels(request: web.Request) -> web.StreamResponse:
        lang = request.query.get("lang", "th")
        return web.json_response(dict(strings.get(lang) or strings.get("th") or {}))

    return [
        web.get("/chat", page),
        web.get("/chat/static/{name}", asset),
        web.get("/chat/api/strings", labels),
        web.post("/chat/api/send", send),
        web.post(UPLOAD_PATH, upload),
        web.get("/chat/api/messages", poll),
    ]
