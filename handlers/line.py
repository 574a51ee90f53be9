"""LINE channel: webhook verification and parsing, Inbound mapping, rendering and sending.

Owns everything LINE-specific (signatures, event shapes, message limits, retry keys, error classes).
Must not know conversations, storage, or any user-facing wording: text arrives already rendered.
The rich menu lives in `handlers.line_richmenu`.
"""

from __future__ import annotations

import base64
import dataclasses
import email.utils
import hashlib
import hmac
import json
import logging
import re
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import aiohttp
from aiohttp import web
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    FlexBox,
    FlexBubble,
    FlexButton,
    FlexMessage,
    FlexText,
    LocationAction,
    Message,
    MulticastRequest,
    PostbackAction,
    PushMessageRequest,
    QuickReply,
    QuickReplyItem,
    ReplyMessageRequest,
    ShowLoadingAnimationRequest,
    TextMessage,
)
from linebot.v3.messaging.exceptions import ApiException

from bot.core.model import (
    LOCATION_PAYLOAD,
    Address,
    ChatKind,
    FetchedMedia,
    Inbound,
    InboundKind,
    InboxEvent,
    Location,
    MediaGone,
    MediaNotReady,
    MediaRef,
    MediaTooLarge,
    Outbound,
    RenderedButton,
    SendResult,
    SendStatus,
)
from bot.core.ports import EventRejected, Ingest, StorageUnavailable
from handlers.text import split_text, truncate_graphemes, utf16_len
from handlers.webhook import parse_json, read_capped

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/line"
SIGNATURE_HEADER = "X-Line-Signature"
#: inbox id prefix of a stored event that lacked LINE's required fields (see to_inbox_event)
INVALID_PREFIX = "invalid:"
MAX_EVENT_ID = 100  # ULIDs are 26 characters; anything far longer is not a LINE id

MAX_MESSAGES_PER_CALL = 5
MAX_MULTICAST_RECIPIENTS = 500
MAX_TEXT_UNITS = 5000  # UTF-16 code units
MAX_QUICK_REPLY_ITEMS = 13
MAX_LABEL_GRAPHEMES = 20
MAX_POSTBACK_DATA = 300
MAX_DISPLAY_TEXT = 300
MAX_CHAT_BAR_TEXT = 14
MAX_ALT_TEXT = 400  # characters of a Flex message's altText (notifications, chat list)
#: LINE refuses a bubble over 30 KB of JSON; a card bigger than this goes as plain text instead
MAX_BUBBLE_BYTES = 28_000
# LINE accepts a reply token for about a minute after delivery; 50 s from the event leaves room
# for the relay's own latency, and a redelivered event simply falls back to push.
REPLY_TOKEN_TTL = timedelta(seconds=50)
# Label of a location button the caller asked for without naming it: a symbol, so no language.
LOCATION_SYMBOL = "📍"

_RETRY_KEY_NAMESPACE = uuid.UUID("6f1c3c0e-8e55-4d0b-9a7a-2b6f0f5c9d11")
# LINE ids (users U…, groups C…, rooms R…) and 32-hex tokens must never reach error strings or logs.
_SECRET_LIKE = re.compile(r"\b[UCR][0-9a-f]{32}\b|\b[0-9a-fA-F]{32,}\b")


def _scrub(text: str, limit: int = 300) -> str:
    return _SECRET_LIKE.sub("<redacted>", text)[:limit]


# ---------------------------------------------------------------------------------------------
# Webhook payload helpers (shared by the webhook and to_inbound; both must survive any input).


def compute_signature(channel_secret: str, body: bytes) -> str:
    """``X-Line-Signature`` for ``body``: base64 HMAC-SHA256 keyed with the channel secret."""
    digest = hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _chat_of(event: Mapping[str, Any]) -> tuple[str | None, ChatKind]:
    source = _dict(event.get("source"))
    group = _str(source.get("groupId")) or _str(source.get("roomId"))
    if group is not None:
        return group, "group"
    return _str(source.get("userId")), "private"


def _occurred_at(event: Mapping[str, Any]) -> datetime | None:
    stamp = event.get("timestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, int | float):
        return None
    try:
        return datetime.fromtimestamp(stamp / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _canonical_hash(raw: Any) -> str:
    if isinstance(raw, dict):
        # isRedelivery is the only field a redelivery changes; leave it out so copies collide.
        raw = {k: v for k, v in raw.items() if k != "deliveryContext"}
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


#: the event types LINE documents today (anything else is logged when it arrives)
KNOWN_EVENTS = frozenset(
    {
        "message", "messageEdited", "postback", "unsend", "follow", "unfollow", "join", "leave",
        "memberJoined", "memberLeft", "beacon", "accountLink", "things", "videoPlayComplete",
        "activated", "deactivated", "botSuspended", "botResumed", "membership", "module",
    }
)  # fmt: skip


def to_inbox_event(raw: Any, *, now: datetime | None = None) -> InboxEvent:
    """Wrap one raw webhook event for the inbox, whatever its shape."""
    payload: dict[str, Any] = raw if isinstance(raw, dict) else {"invalid": raw}
    event_type = str(payload.get("type"))[:40]
    event_id = payload.get("webhookEventId")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_EVENT_ID:
        # Stored rather than skipped: every delivered event is kept (nothing silently dropped, a
        # record of schema drift) and to_inbound maps it to None, so it is marked ignored.
        # The synthetic id hashes the content, so a redelivered copy still dedupes in the inbox.
        event_id = INVALID_PREFIX + _canonical_hash(raw)
        log.warning("line webhook: event without webhookEventId stored as %s", event_id[:20])
    elif event_type not in KNOWN_EVENTS:
        # Kept with its dedupe key; to_inbound maps what it can field by field and marks the
        # rest ignored. (The SDK's models are not built here: the webhook answers faster, and
        # the mapping never needed them.)
        log.info("line webhook: unknown %r event %s", event_type, event_id)
    chat_id, _ = _chat_of(payload)
    occurred = _occurred_at(payload) or now or datetime.now(UTC)
    return InboxEvent(
        channel="line", event_id=event_id, chat_id=chat_id or "", occurred_at=occurred, payload=payload
    )


# ---------------------------------------------------------------------------------------------


class LineChannel:
    """The LINE Messaging API as a `bot.core.ports.Channel`."""

    name: str = "line"
    #: LINE's rate limit for the multicast endpoint (requests per second, per channel)
    multicast_per_second: float = 200.0
    #: user ids per multicast call
    max_multicast: int = MAX_MULTICAST_RECIPIENTS

    def __init__(
        self,
        *,
        channel_secret: str,
        access_token: str,
        api_base_url: str = "https://api.line.me",
        data_api_base_url: str = "https://api-data.line.me",
        max_media_bytes: int = 20 * 1024 * 1024,
        request_timeout: float = 10.0,
        loading_indicator: bool = False,
    ) -> None:
        if not channel_secret or not access_token:
            raise ValueError("LINE needs a channel secret and an access token")
        self._secret = channel_secret
        self._token = access_token
        self._api_base_url = api_base_url.rstrip("/")
        self._data_api_base_url = data_api_base_url.rstrip("/")
        self.max_media_bytes = max_media_bytes
        self.request_timeout = request_timeout
        self.loading_indicator = loading_indicator
        self._client: AsyncApiClient | None = None
        self._blob_client: AsyncApiClient | None = None
        self._api: AsyncMessagingApi | None = None
        self._blob: AsyncMessagingApiBlob | None = None
        # Retry keys whose first part already went out on a reply token in this process: a retry of
        # the same send must not answer "invalid reply token" and then push that part a second time.
        self._replied: OrderedDict[str, None] = OrderedDict()

    def __repr__(self) -> str:
        return f"LineChannel(api={self._api_base_url!r})"

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the SDK clients; they open an aiohttp session, so this needs the running loop."""
        if self._client is not None:
            return
        self._client = AsyncApiClient(Configuration(host=self._api_base_url, access_token=self._token))
        # Content and rich-menu images live on a separate host (api-data.line.me).
        self._blob_client = AsyncApiClient(
            Configuration(host=self._data_api_base_url, access_token=self._token)
        )
        self._api = AsyncMessagingApi(self._client)
        self._blob = AsyncMessagingApiBlob(self._blob_client)

    async def close(self) -> None:
        clients, self._client, self._blob_client = (self._client, self._blob_client), None, None
        self._api = self._blob = None
        for client in clients:
            if client is not None:
                await client.close()

    async def __aenter__(self) -> LineChannel:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def api(self) -> AsyncMessagingApi:
        if self._api is None:
            raise RuntimeError("LineChannel.start() was not awaited")
        return self._api

    @property
    def blob_api(self) -> AsyncMessagingApiBlob:
        if self._blob is None:
            raise RuntimeError("LineChannel.start() was not awaited")
        return self._blob

    # -- inbound --------------------------------------------------------------------------------

    def verify_signature(self, body: bytes, signature: str | None) -> bool:
        """Constant-time check of ``X-Line-Signature`` over the raw body bytes."""
        if not signature:
            return False
        expected = compute_signature(self._secret, body).encode("ascii")
        return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))

    def to_inbound(self, event_id: str, payload: Mapping[str, Any]) -> Inbound | None:
        try:
            return self._to_inbound(event_id, payload)
        except Exception as exc:  # a stored payload must never crash the dispatcher
            # Type name only: exception texts can quote the payload, i.e. a reporter's words.
            log.warning("line event %s could not be mapped: %s", event_id[:60], type(exc).__name__)
            return None

    def _to_inbound(self, event_id: str, event: Mapping[str, Any]) -> Inbound | None:
        if event_id.startswith(INVALID_PREFIX):
            return None  # kept for the record only: LINE never sends an event without these fields
        event_type = event.get("type")
        chat_id, chat_kind = _chat_of(event)
        occurred_at = _occurred_at(event)
        if chat_id is None or occurred_at is None or not isinstance(event_type, str):
            return None
        standby = event.get("mode") == "standby"
        reply_token = None if standby else _str(event.get("replyToken"))
        common: dict[str, Any] = {
            "channel": self.name,
            "chat_id": chat_id,
            "chat_kind": chat_kind,
            "event_id": event_id,
            "occurred_at": occurred_at,
            "reply_token": reply_token,
            "reply_token_expires": occurred_at + REPLY_TOKEN_TTL if reply_token else None,
            "standby": standby,
        }
        if event_type == "message":
            return self._message_inbound(_dict(event.get("message")), common)
        if event_type == "messageEdited":
            message = _dict(event.get("message"))
            text, message_id = _str(message.get("text")), _str(message.get("id"))
            if text is None or message_id is None:
                return None
            return Inbound(
                kind=InboundKind.EDIT, text=text, message_id=message_id, ref_message_id=message_id, **common
            )
        if event_type == "postback":
            postback = _dict(event.get("postback"))
            data = postback.get("data")
            if not isinstance(data, str):
                return None
            params = _dict(postback.get("params"))
            picked = next((params[k] for k in ("datetime", "date", "time") if _str(params.get(k))), "")
            return Inbound(kind=InboundKind.BUTTON, button=data, text=picked, **common)
        if event_type == "unsend":
            ref = _str(_dict(event.get("unsend")).get("messageId"))
            if ref is None:
                return None
            return Inbound(kind=InboundKind.UNSEND, ref_message_id=ref, **common)
        simple = {
            "follow": InboundKind.FOLLOW,
            "unfollow": InboundKind.UNFOLLOW,
            "join": InboundKind.JOINED_GROUP,
            "leave": InboundKind.LEFT_GROUP,
        }
        if event_type in simple:
            return Inbound(kind=simple[event_type], **common)
        # memberJoined/memberLeft, beacon, accountLink, videoPlayComplete, future types: nothing
        # the engine acts on.
        return None

    def _message_inbound(self, message: dict[str, Any], common: dict[str, Any]) -> Inbound | None:
        message_type, message_id = message.get("type"), _str(message.get("id"))
        if message_id is None:
            return None
        if message_type == "text":
            text = message.get("text")
            if not isinstance(text, str):
                return None
            return Inbound(kind=InboundKind.TEXT, text=text, message_id=message_id, **common)
        if message_type in ("image", "video", "audio", "file"):
            provider = _dict(message.get("contentProvider")).get("type", "line")
            if provider != "line":
                # Content hosted elsewhere (sent through a LINE partner app) cannot be fetched
                # through the content API and is an arbitrary URL: never download it.
                return Inbound(kind=InboundKind.IGNORED, message_id=message_id, **common)
            size = message.get("fileSize")
            kind: Literal["image", "video", "audio", "file"] = message_type
            media = MediaRef(
                kind=kind,
                platform_ref=message_id,
                file_name=_str(message.get("fileName")) or "",
                claimed_size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            )
            return Inbound(kind=InboundKind.MEDIA, media=media, message_id=message_id, **common)
        if message_type == "location":
            latitude, longitude = _number(message.get("latitude")), _number(message.get("longitude"))
            if latitude is None or longitude is None:
                return None
            location = Location(
                latitude=latitude,
                longitude=longitude,
                title=_str(message.get("title")) or "",
                address=_str(message.get("address")) or "",
            )
            return Inbound(kind=InboundKind.LOCATION, location=location, message_id=message_id, **common)
        if message_type == "sticker":
            return Inbound(kind=InboundKind.STICKER, message_id=message_id, **common)
        return None

    async def acknowledge(self, inbound: Inbound) -> None:
        """Show LINE's typing dots in 1:1 chats while the bot works (only if enabled)."""
        if not self.loading_indicator or self._api is None:
            return
        if inbound.chat_kind != "private" or inbound.standby or inbound.reply_token is None:
            return
        try:
            await self._api.show_loading_animation(
                ShowLoadingAnimationRequest(chat_id=inbound.chat_id, loading_seconds=5),
                _request_timeout=self.request_timeout,
            )
        except Exception as exc:  # cosmetic: never delays or fails the event
            log.debug("line loading indicator failed: %s", type(exc).__name__)

    async def fetch_media(self, media: MediaRef) -> FetchedMedia:
        if media.claimed_size is not None and media.claimed_size > self.max_media_bytes:
            raise MediaTooLarge(f"claimed {media.claimed_size} bytes")
        try:
            # The SDK reads the whole body before returning (its streaming mode is broken for the
            # async client), so the size limit is checked on headers and bytes afterwards.
            response = await self.blob_api.get_message_content_with_http_info(
                media.platform_ref, _request_timeout=self.request_timeout
            )
        except ApiException as exc:
            if exc.status in (404, 410):
                raise MediaGone(f"LINE {exc.status}") from None
            if exc.status == 429 or (exc.status or 0) >= 500:
                # The port has no "transient" error; not ready is the one that means "try later".
                raise MediaNotReady(f"LINE {exc.status}") from None
            raise MediaGone(f"LINE {exc.status}: {_api_error_message(exc)}") from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise MediaNotReady(type(exc).__name__) from None
        if response.status_code == 202 or response.data is None:
            raise MediaNotReady("LINE is still preparing the content")
        headers = response.headers or {}
        length = headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > self.max_media_bytes:
            raise MediaTooLarge(f"Content-Length {length}")
        data = bytes(response.data)
        if len(data) > self.max_media_bytes:
            raise MediaTooLarge(f"{len(data)} bytes")
        mime = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        return FetchedMedia(data=data, claimed_mime=mime)

    # -- outbound -------------------------------------------------------------------------------

    def render(self, messages: Sequence[Outbound]) -> list[Message]:
        """Outbound → LINE messages. A card (summary, receipt, alert, status, notice) is a Flex
        bubble with its buttons inside it (they stay, unlike quick replies); any other text is
        text messages, with the quick replies of the last other message with buttons on the very
        last message (LINE shows no others). A card too big for a bubble goes as text."""
        rendered: list[Message] = []
        quick: Outbound | None = None
        for outbound in messages:
            bubble = flex_card(outbound) if outbound.card else None
            if bubble is not None:
                rendered.append(bubble)
                continue
            rendered.extend(TextMessage(text=part) for part in split_text(outbound.text, MAX_TEXT_UNITS))
            if outbound.buttons or outbound.request_location:
                quick = outbound
        if rendered and quick is not None:
            items = _quick_reply_items(quick)
            if items:
                rendered[-1].quick_reply = QuickReply(items=items)
        return rendered

    async def send(
        self,
        address: Address,
        messages: Sequence[Outbound],
        *,
        reply_token: str | None,
        retry_key: str,
        attachments: Mapping[int, bytes] | None = None,
    ) -> SendResult:
        # attachments are ignored: LINE only sends media by public HTTPS URL, never by upload.
        try:
            rendered = self.render(messages)
        except (ValueError, TypeError) as exc:
            return SendResult(SendStatus.PERMANENT, error=f"cannot render: {type(exc).__name__}")
        if not rendered:
            return SendResult(SendStatus.PERMANENT, error="nothing to send")
        batches = [
            rendered[i : i + MAX_MESSAGES_PER_CALL] for i in range(0, len(rendered), MAX_MESSAGES_PER_CALL)
        ]
        base_key = _as_retry_uuid(retry_key)
        first = 0
        if reply_token and str(base_key) in self._replied:
            first = 1
        elif reply_token:
            outcome = await self._reply(reply_token, batches[0])
            if outcome is None:
                self._remember_reply(str(base_key))
                first = 1
            elif outcome.status is not SendStatus.PERMANENT or "reply token" not in outcome.error.lower():
                return outcome
            # else: used or expired token, push everything instead
        for index in range(first, len(batches)):
            # Each push call needs its own key, stable across retries of this send.
            key = base_key if index == 0 else uuid.uuid5(base_key, f"part-{index}")
            outcome = await self._push(address.chat_id, batches[index], str(key))
            if outcome is not None:
                return outcome
        return SendResult(SendStatus.SENT)

    def _remember_reply(self, key: str) -> None:
        self._replied[key] = None
        while len(self._replied) > 10_000:
            self._replied.popitem(last=False)

    async def _reply(self, reply_token: str, batch: list[Message]) -> SendResult | None:
        try:
            await self.api.reply_message_with_http_info(
                ReplyMessageRequest(reply_token=reply_token, messages=batch),
                _request_timeout=self.request_timeout,
            )
        except Exception as exc:  # classified below; unknown ones re-raise
            outcome = _classify(exc)
            if isinstance(exc, TimeoutError | aiohttp.ServerDisconnectedError):
                # The reply may have gone out; a retry finds the token used and pushes instead,
                # so record that the volunteer may see it twice.
                outcome = dataclasses.replace(outcome, possible_duplicate=True)
            return outcome
        return None

    async def multicast(
        self, chat_ids: Sequence[str], messages: Sequence[Outbound], *, retry_key: str
    ) -> SendResult:
        """Send the same messages to up to 500 LINE user ids in one multicast call.

        Exactly one request per call, so a caller pacing calls at `multicast_per_second` stays
        within LINE's limit: messages that render to more than 5 LINE messages are refused
        (PERMANENT) rather than split over several calls. Repeated ids are sent once. The call
        carries ``X-Line-Retry-Key`` (``retry_key``, mapped to a stable UUID when it is not one),
        so a retry after a timeout or 5xx cannot deliver twice: LINE's 409 "retry key already
        accepted" means an earlier attempt got through and counts as SENT. A retry must pass the
        same ids and messages. Other errors are classified like `send`: 429 → RETRY with
        ``retry_after`` (monthly limit → PAUSED), 5xx and timeouts → RETRY, other 4xx → PERMANENT.
        Group and room ids are not allowed by LINE (400 → PERMANENT); blocked users count as sent.
        """
        recipients = list(dict.fromkeys(chat_ids))
        if not recipients:
            return SendResult(SendStatus.PERMANENT, error="no recipients")
        if len(recipients) > self.max_multicast:
            return SendResult(
                SendStatus.PERMANENT, error=f"{len(recipients)} recipients, at most {self.max_multicast}"
            )
        try:
            rendered = self.render(messages)
        except (ValueError, TypeError) as exc:
            return SendResult(SendStatus.PERMANENT, error=f"cannot render: {type(exc).__name__}")
        if not rendered:
            return SendResult(SendStatus.PERMANENT, error="nothing to send")
        if len(rendered) > MAX_MESSAGES_PER_CALL:
            return SendResult(
                SendStatus.PERMANENT,
                error=f"{len(rendered)} LINE messages, at most {MAX_MESSAGES_PER_CALL} in one multicast",
            )
        try:
            await self.api.multicast_with_http_info(
                MulticastRequest(to=recipients, messages=rendered),
                x_line_retry_key=str(_as_retry_uuid(retry_key)),
                _request_timeout=self.request_timeout,
            )
        except ApiException as exc:
            if exc.status == 409:
                # "The retry key is already accepted": an earlier attempt got through.
                return SendResult(SendStatus.SENT)
            return _classify(exc)
        except Exception as exc:  # classified; unknown ones re-raise
            return _classify(exc)
        return SendResult(SendStatus.SENT)

    async def _push(self, to: str, batch: list[Message], retry_key: str) -> SendResult | None:
        try:
            await self.api.push_message_with_http_info(
                PushMessageRequest(to=to, messages=batch),
                x_line_retry_key=retry_key,
                _request_timeout=self.request_timeout,
            )
        except ApiException as exc:
            if exc.status == 409:
                # "The retry key is already accepted": an earlier attempt got through.
                return None
            return _classify(exc)
        except Exception as exc:
            return _classify(exc)
        return None


def alt_text(text: str) -> str:
    """A Flex message's altText (what notifications and the chat list show): the text's start,
    whole lines where they fit, at most `MAX_ALT_TEXT` characters."""
    flat = text.strip()
    if len(flat) <= MAX_ALT_TEXT:
        return flat or "…"
    cut = flat[: MAX_ALT_TEXT - 1]
    if "\n" in cut:
        cut = cut[: cut.rindex("\n")]
    return cut.rstrip() + "…"


def _postback(button: RenderedButton) -> PostbackAction | None:
    label = truncate_graphemes(button.label.strip(), MAX_LABEL_GRAPHEMES)
    if not label or button.payload == LOCATION_PAYLOAD:
        return None
    if len(button.payload) > MAX_POSTBACK_DATA:
        # LINE would reject the whole message; losing one button beats losing the text.
        log.warning("line: dropped a button whose payload is over %d chars", MAX_POSTBACK_DATA)
        return None
    display = button.label if utf16_len(button.label) <= MAX_DISPLAY_TEXT else label
    return PostbackAction(label=label, data=button.payload, display_text=display)


def flex_card(outbound: Outbound) -> FlexMessage | None:
    """A card as a Flex bubble: its first line as the title, the rest as wrapped text, its
    buttons as postback buttons in the footer; None when it would not fit in one bubble (or
    has no text), so the caller sends it as text instead."""
    lines = outbound.text.strip().split("\n")
    if not lines or not lines[0].strip():
        return None
    title, rest = lines[0].strip(), "\n".join(lines[1:]).strip()
    contents: list[Any] = [FlexText(text=title, weight="bold", size="md", wrap=True)]
    for paragraph in (p.strip() for p in rest.split("\n\n")):
        if paragraph:
            contents.append(FlexText(text=paragraph, size="sm", wrap=True, margin="md"))
    actions = [a for a in (_postback(b) for b in outbound.buttons) if a is not None]
    footer = (
        FlexBox(
            layout="vertical",
            spacing="sm",
            contents=[
                FlexButton(action=a, style="primary" if i == 0 else "secondary", height="sm")
                for i, a in enumerate(actions)
            ],
        )
        if actions
        else None
    )
    bubble = FlexBubble(body=FlexBox(layout="vertical", contents=contents), footer=footer)
    size = len(json.dumps(bubble.to_dict(), ensure_ascii=False).encode("utf-8"))
    if size > MAX_BUBBLE_BYTES:
        return None
    return FlexMessage(alt_text=alt_text(outbound.text), contents=bubble)


def _quick_reply_items(outbound: Outbound) -> list[QuickReplyItem]:
    buttons = list(outbound.buttons)
    if outbound.request_location and not any(b.payload == LOCATION_PAYLOAD for b in buttons):
        buttons.append(RenderedButton(label=LOCATION_SYMBOL, payload=LOCATION_PAYLOAD))
    items: list[QuickReplyItem] = []
    for button in buttons:
        label = truncate_graphemes(button.label.strip(), MAX_LABEL_GRAPHEMES)
        if not label:
            continue
        if button.payload == LOCATION_PAYLOAD:
            items.append(QuickReplyItem(action=LocationAction(label=label)))
            continue
        if len(button.payload) > MAX_POSTBACK_DATA:
            # LINE would reject the whole message; losing one button beats losing the text.
            log.warning("line: dropped a button whose payload is over %d chars", MAX_POSTBACK_DATA)
            continue
        display = button.label if utf16_len(button.label) <= MAX_DISPLAY_TEXT else label
        items.append(
            QuickReplyItem(action=PostbackAction(label=label, data=button.payload, display_text=display))
        )
    return items[:MAX_QUICK_REPLY_ITEMS]


def _as_retry_uuid(retry_key: str) -> uuid.UUID:
    # LINE accepts only UUIDs as retry keys; any other stable string maps to a stable UUID.
    try:
        return uuid.UUID(retry_key)
    except ValueError:
        return uuid.uuid5(_RETRY_KEY_NAMESPACE, retry_key)


def _api_error_message(exc: ApiException) -> str:
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        doc = json.loads(body) if body else {}
    except ValueError:
        return _scrub(str(body))
    if not isinstance(doc, dict):
        return ""
    text = str(doc.get("message", ""))
    details = doc.get("details")
    if isinstance(details, list):
        notes = [f"{d.get('property', '')}: {d.get('message', '')}" for d in details if isinstance(d, dict)]
        if notes:
            text += " (" + "; ".join(notes) + ")"
    return _scrub(text)


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _classify(exc: BaseException) -> SendResult:
    """Map a failed call to what the relay should do with the message."""
    if isinstance(exc, ApiException):
        status = exc.status or 0
        message = _api_error_message(exc)
        error = f"LINE {status}: {message}" if message else f"LINE {status}"
        if status == 429:
            if "monthly limit" in message.lower():
                return SendResult(SendStatus.PAUSED, error=error)
            return SendResult(SendStatus.RETRY, retry_after=_retry_after(exc.headers), error=error)
        if status >= 500 or status == 0:
            return SendResult(SendStatus.RETRY, error=error)
        return SendResult(SendStatus.PERMANENT, error=error)
    if isinstance(exc, TimeoutError):
        return SendResult(SendStatus.RETRY, error="timeout")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return SendResult(SendStatus.RETRY, error=f"connection: {type(exc).__name__}")
    if isinstance(exc, ValueError | TypeError):
        # The SDK validates requests before sending (pydantic); the same input will fail again.
        return SendResult(SendStatus.PERMANENT, error=f"invalid request: {type(exc).__name__}")
    raise exc


# ---------------------------------------------------------------------------------------------
# Webhook


def webhook_routes(
    channel: LineChannel, ingest: Ingest, *, max_body_bytes: int = 1024 * 1024
) -> list[web.RouteDef]:
    """``POST /webhooks/line``: verify, then store every event of the request in one ingest call."""

    async def receive(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > max_body_bytes:
            return web.Response(status=413, text="body too large")
        body = await read_capped(request, max_body_bytes)
        if body is None:
            return web.Response(status=413, text="body too large")
        # Verified on the raw bytes before any parsing: a re-serialised body would never match,
        # and unauthenticated input must not reach the JSON parser or the database.
        if not channel.verify_signature(body, request.headers.get(SIGNATURE_HEADER)):
            log.warning("line webhook: bad or missing signature (%d bytes)", len(body))
            return web.Response(status=401, text="invalid signature")
        try:
            document = parse_json(body)
        except (ValueError, RecursionError):
            return web.Response(status=400, text="invalid JSON")
        events = document.get("events") if isinstance(document, dict) else None
        if not isinstance(events, list):
            return web.Response(status=400, text="no events")
        if not events:
            return web.Response(status=200, text="OK")  # LINE's "verify" button sends no events
        now = datetime.now(UTC)
        inbox = [to_inbox_event(raw, now=now) for raw in events]
        try:
            await ingest(inbox)
        except StorageUnavailable:
            # Non-2xx makes LINE redeliver (when redelivery is on); a 200 here would lose the events.
            log.warning("line webhook: storage unavailable, %d events refused", len(inbox))
            return web.Response(status=503, text="storage unavailable", headers={"Retry-After": "5"})
        except EventRejected as exc:
            # the request's other events are stored; a redelivery could not store this one either
            log.warning("line webhook: %s", exc)
            return web.Response(status=422, text="event refused")
        log.info("line webhook: %d events stored", len(inbox))
        return web.Response(status=200, text="OK")

    return [web.post(WEBHOOK_PATH, receive)]
