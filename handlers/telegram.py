"""Telegram channel: webhook intake, Update → Inbound, Outbound → Bot API calls.

Owns the Bot API wire details (secret header, update_id, keyboards, error classes, file limits).
Must not know business rules, conversation state, storage or user-facing text. Long polling lives in
`handlers.telegram_polling`, webhook and command-menu setup in `handlers.telegram_setup`.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import warnings
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar
from urllib.parse import urlencode

from aiohttp import web
from telegram import (
    Bot,
    CallbackQuery,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LinkPreviewOptions,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import (
    BadRequest,
    ChatMigrated,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

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
from handlers.text import split_text as split_units
from handlers.webhook import parse_json, read_capped

log = logging.getLogger(__name__)

CHANNEL: Final = "telegram"
WEBHOOK_PATH: Final = "/webhooks/telegram"
SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
ALLOWED_UPDATES: Final = ("message", "edited_message", "callback_query", "my_chat_member")

#: sendMessage text limit. Counted in UTF-16 code units, the stricter reading of "characters"
#: (Thai is one unit per character either way; emoji outside the BMP count twice here).
MAX_TEXT_UNITS: Final = 4096
MAX_CALLBACK_DATA_BYTES: Final = 64
#: the Bot API's getFile ceiling; larger files cannot be downloaded by a cloud bot at all
BOT_API_DOWNLOAD_LIMIT: Final = 20 * 1024 * 1024
#: observed (undocumented) inline keyboard maximum
MAX_INLINE_BUTTONS: Final = 100
#: labels up to this length share a keyboard row with a short neighbour
SHORT_LABEL: Final = 16

_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_SURROGATES = re.compile("[\ud800-\udfff]")
_ADDRESSED_COMMAND = re.compile(r"\s*(?P<command>/[A-Za-z0-9_]{1,32})@(?P<bot>[A-Za-z0-9_]{1,64})(?=\s|$)")
_MESSAGE_KEYS = ("message", "edited_message", "channel_post", "edited_channel_post", "business_message")
_MEMBER_KEYS = ("my_chat_member", "chat_member", "chat_join_request")
_JOINED = {ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}
_GONE = {ChatMemberStatus.LEFT, ChatMemberStatus.BANNED}
_PHOTO_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


class TelegramChannel:
    """The Telegram Bot API as a `bot.core.ports.Channel`, built on a PTB `Bot` used as a plain client."""

    name: str = CHANNEL
    #: Telegram's flood guidance: about 30 messages/s overall and 1/s per chat for bulk sends
    rate_per_second: float = 30.0
    rate_per_chat: float = 1.0

    def __init__(
        self,
        *,
        token: str,
        webhook_secret: str | None,
        api_base_url: str = "https://api.telegram.org",
        max_media_bytes: int = BOT_API_DOWNLOAD_LIMIT,
        request_timeout: float = 10.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        bot_id, sep, rest = token.partition(":")
        if not (sep and bot_id.isdigit() and rest):
            raise ValueError("a Telegram bot token looks like '<bot id>:<secret>'")
        if webhook_secret and not _SECRET_PATTERN.fullmatch(webhook_secret):
            # Telegram refuses such a secret in setWebhook; fail at startup rather than at the first update
            raise ValueError("the webhook secret must be 1-256 characters of A-Z a-z 0-9 _ -")
        # PTB 22 builds every RetryAfter by reading its own deprecated int form, which warns
        # (an error under `-W error`) on each 429. Opting in to the timedelta form avoids it and
        # is the form PTB 23 will return; an operator's explicit setting is left alone.
        os.environ.setdefault("PTB_TIMEDELTA", "true")
        self._token = token
        self.bot_id = bot_id
        self._secret = webhook_secret.encode("ascii") if webhook_secret else None
        self._api_base_url = api_base_url.rstrip("/")
        self.max_media_bytes = min(max_media_bytes, BOT_API_DOWNLOAD_LIMIT)
        self._request_timeout = request_timeout
        self._clock = clock or (lambda: datetime.now(UTC))
        self._bot: Bot | None = None
        self._updates_request: HTTPXRequest | None = None
        self._log_filter = _PrivacyFilter(token)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Build the client and check the token with getMe."""
        if self._bot is not None:
            return
        timeout = self._request_timeout
        request = HTTPXRequest(read_timeout=timeout, write_timeout=timeout, connect_timeout=timeout)
        # getUpdates gets its own one-connection pool so a long poll never starves sends
        self._updates_request = HTTPXRequest(connection_pool_size=1, connect_timeout=timeout)
        # before Bot(): its constructor already logs the token-bearing base URL at DEBUG
        for name in _PRIVATE_LOGGERS:
            logging.getLogger(name).addFilter(self._log_filter)
        bot = Bot(
            self._token,
            base_url=f"{self._api_base_url}/bot",
            base_file_url=f"{self._api_base_url}/file/bot",
            request=request,
            get_updates_request=self._updates_request,
        )
        try:
            await bot.initialize()
        except BaseException:
            # a failed getMe leaves the bot uninitialised, so Bot.shutdown() would skip the pools
            await request.shutdown()
            await self._updates_request.shutdown()
            self._updates_request = None
            raise
        self._bot = bot

    async def close(self) -> None:
        bot, self._bot = self._bot, None
        if bot is not None:
            await bot.shutdown()
        for name in _PRIVATE_LOGGERS:
            logging.getLogger(name).removeFilter(self._log_filter)

    @property
    def bot(self) -> Bot:
        """The started PTB client (for webhook and command setup)."""
        if self._bot is None:
            raise RuntimeError("TelegramChannel.start() has not been awaited")
        return self._bot

    def secret_matches(self, given: str | None) -> bool:
        """Constant-time check of the webhook secret header; False when no secret is configured."""
        if self._secret is None or given is None:
            return False
        # Compare bytes: compare_digest on a non-ASCII str raises TypeError (a 500 instead of a 403).
        # "replace" cannot produce a match: '?' is outside the secret alphabet.
        return hmac.compare_digest(given.encode("utf-8", "replace"), self._secret)

    def inbox_event(self, update: object) -> InboxEvent:
        """Validate one raw Update and shape it for the inbox (webhook and polling share this)."""
        return to_inbox_event(self.bot_id, update, self._clock())

    # -- inbound ---------------------------------------------------------------------------------

    def to_inbound(self, event_id: str, payload: Mapping[str, Any]) -> Inbound | None:
        try:
            update = Update.de_json(dict(payload), self._bot)
        except Exception as exc:
            log.warning("telegram %s: unparseable update (%s)", event_id, type(exc).__name__)
            return None
        if update.message is not None:
            return self._from_message(event_id, update.message)
        if update.edited_message is not None:
            return self._from_edit(event_id, update.edited_message)
        if update.callback_query is not None:
            return self._from_callback(event_id, update.callback_query)
        if update.my_chat_member is not None:
            return self._from_membership(event_id, update.my_chat_member)
        return None

    def _from_message(self, event_id: str, message: Message) -> Inbound | None:
        def inbound(kind: InboundKind, **fields: Any) -> Inbound:
            return self._inbound(event_id, message, kind, message_id=str(message.message_id), **fields)

        if message.text is not None:
            text = message.text
            addressed = _ADDRESSED_COMMAND.match(text)
            if addressed is not None:
                if not self._is_me(addressed["bot"]):
                    return None  # a command for another bot in the same group
                # "/cmd@thisbot args" is how group menus send "/cmd args"
                text = addressed["command"] + text[addressed.end() :]
            command, _, argument = text.strip().partition(" ")
            if command == "/start" and message.chat.type == ChatType.PRIVATE:
                argument = argument.strip()
                if not argument:
                    return inbound(InboundKind.FOLLOW)
                # a deep-link payload (e.g. an invite code) is the core's to interpret
                return inbound(InboundKind.TEXT, text=f"/start {argument}")
            # in a group, /start is a command like /help: the core answers it there
            return inbound(InboundKind.TEXT, text=text)
        media = _media_of(message)
        if media is not None:
            return inbound(InboundKind.MEDIA, media=media, text=message.caption or "")
        if message.location is not None:
            venue = message.venue
            return inbound(
                InboundKind.LOCATION,
                location=Location(
                    latitude=message.location.latitude,
                    longitude=message.location.longitude,
                    title=venue.title if venue else "",
                    address=venue.address if venue else "",
                ),
            )
        if message.sticker is not None:
            return inbound(InboundKind.STICKER)
        # contacts, polls, dice, service messages: nothing the engine can use; a shared contact
        # card is somebody's phone number, which we must not pick up by accident
        return None

    def _is_me(self, username: str) -> bool:
        """Whether a /command@username is addressed to this bot (unknown before `start()`)."""
        if self._bot is None:
            return True
        return username.casefold() == (self._bot.username or "").casefold()

    def _from_edit(self, event_id: str, message: Message) -> Inbound | None:
        text = message.text if message.text is not None else message.caption
        if text is None:
            # live-location updates also arrive as edits; they are not corrections
            return None
        message_id = str(message.message_id)
        return self._inbound(
            event_id,
            message,
            InboundKind.EDIT,
            text=text,
            message_id=message_id,
            ref_message_id=message_id,
            occurred_at=message.edit_date or message.date,
        )

    def _from_callback(self, event_id: str, query: CallbackQuery) -> Inbound | None:
        if query.message is None or query.data is None:
            return None  # inline-mode or game callbacks: we never send those buttons
        chat = query.message.chat
        return Inbound(
            channel=CHANNEL,
            chat_id=str(chat.id),
            kind=InboundKind.BUTTON,
            event_id=event_id,
            # the message date is when our keyboard was sent, not when it was tapped
            occurred_at=self._clock(),
            chat_kind=_chat_kind(chat.type),
            button=query.data,
            message_id=str(query.message.message_id),
            locale_hint=_locale(query.from_user.language_code),
            ack_ref=query.id,
        )

    def _from_membership(self, event_id: str, change: ChatMemberUpdated) -> Inbound | None:
        old, new = change.old_chat_member.status, change.new_chat_member.status
        chat = change.chat
        if chat.type == ChatType.PRIVATE:
            if new == ChatMemberStatus.BANNED:
                kind = InboundKind.UNFOLLOW
            elif new == ChatMemberStatus.MEMBER and old == ChatMemberStatus.BANNED:
                kind = InboundKind.FOLLOW
            else:
                return None
        elif new in _JOINED and old in _GONE:
            kind = InboundKind.JOINED_GROUP
        elif new in _GONE and old not in _GONE:
            kind = InboundKind.LEFT_GROUP
        else:
            return None  # promotions, restrictions: no change in reachability
        return Inbound(
            channel=CHANNEL,
            chat_id=str(chat.id),
            kind=kind,
            event_id=event_id,
            occurred_at=_aware(change.date),
            chat_kind=_chat_kind(chat.type),
            locale_hint=_locale(change.from_user.language_code),
        )

    def _inbound(self, event_id: str, message: Message, kind: InboundKind, **fields: Any) -> Inbound:
        sender = message.from_user
        fields.setdefault("occurred_at", message.date)
        fields["occurred_at"] = _aware(fields["occurred_at"])
        return Inbound(
            channel=CHANNEL,
            chat_id=str(message.chat.id),
            kind=kind,
            event_id=event_id,
            chat_kind=_chat_kind(message.chat.type),
            locale_hint=_locale(sender.language_code) if sender else None,
            **fields,
        )

    async def acknowledge(self, inbound: Inbound) -> None:
        if not inbound.ack_ref or self._bot is None:
            return
        try:
            await self._bot.answer_callback_query(inbound.ack_ref)
        except TelegramError as exc:
            # an expired query (older than ~15 s after a restart) cannot be answered; harmless
            log.info("telegram %s: callback not answered (%s)", inbound.event_id, type(exc).__name__)

    # -- media -----------------------------------------------------------------------------------

    async def fetch_media(self, media: MediaRef) -> FetchedMedia:
        limit = self.max_media_bytes
        if media.claimed_size is not None and media.claimed_size > limit:
            raise MediaTooLarge(f"{media.claimed_size} bytes claimed, limit {limit}")
        bot = self.bot
        try:
            remote = await bot.get_file(media.platform_ref)
        except BadRequest as exc:
            message = exc.message.lower()
            if "too big" in message:
                raise MediaTooLarge("over the Bot API download limit") from None
            if "temporarily" in message:
                raise MediaNotReady(_redact(str(exc), self._token)) from None
            raise MediaGone(_redact(str(exc), self._token)) from None
        except TelegramError as exc:
            raise MediaNotReady(f"{type(exc).__name__}: {_redact(str(exc), self._token)}") from None
        if remote.file_size is not None and remote.file_size > limit:
            raise MediaTooLarge(f"{remote.file_size} bytes, limit {limit}")
        try:
            data = bytes(await remote.download_as_bytearray())
        except InvalidToken:
            # the download URL answers 404 once the file link has expired
            raise MediaGone("file link expired") from None
        except TelegramError as exc:
            raise MediaNotReady(f"{type(exc).__name__}: {_redact(str(exc), self._token)}") from None
        if len(data) > limit:
            raise MediaTooLarge(f"{len(data)} bytes, limit {limit}")
        return FetchedMedia(data=data, claimed_mime=media.claimed_mime)

    # -- outbound --------------------------------------------------------------------------------

    async def send(
        self,
        address: Address,
        messages: Sequence[Outbound],
        *,
        reply_token: str | None,
        retry_key: str,
        attachments: Mapping[int, bytes] | None = None,
    ) -> SendResult:
        # reply_token and retry_key have no Telegram counterpart: sends are free and not idempotent
        bot = self.bot
        chat_id = address.chat_id
        calls: list[Callable[[], Awaitable[object]]] = []
        for outbound in messages:
            if outbound.attachment_id is not None:
                data = (attachments or {}).get(outbound.attachment_id)
                if data is None:
                    return SendResult(SendStatus.PERMANENT, error="attachment bytes not supplied")
                calls.append(_file_call(bot, chat_id, outbound.attachment_id, data))
            for text, markup in render(outbound):
                calls.append(_text_call(bot, chat_id, text, markup))
        for sent, call in enumerate(calls):
            try:
                await call()
            except TelegramError as exc:
                result = classify(exc, token=self._token)
                if sent:
                    # the relay resends the whole row: the parts already delivered will repeat
                    result = SendResult(
                        status=result.status,
                        retry_after=result.retry_after,
                        error=f"{result.error} (after {sent} of {len(calls)} parts)",
                        new_chat_id=result.new_chat_id,
                        possible_duplicate=True,
                    )
                return result
        return SendResult(SendStatus.SENT)

    async def get_updates_raw(
        self, offset: int | None, poll_seconds: int, allowed_updates: Sequence[str] | None
    ) -> list[Any]:
        """getUpdates returning raw dicts, so polling stores exactly what a webhook would.

        `Bot.get_updates` parses (and on failure logs the whole batch, user text included);
        parameters go in the query string, which the Bot API accepts like form fields.
        """
        bot, request = self.bot, self._updates_request
        if request is None:
            raise RuntimeError("TelegramChannel.start() has not been awaited")
        params: dict[str, str] = {"timeout": str(poll_seconds)}
        if offset is not None:
            params["offset"] = str(offset)
        if allowed_updates is not None:
            params["allowed_updates"] = json.dumps(list(allowed_updates))
        result = await request.post(
            url=f"{bot.base_url}/getUpdates?{urlencode(params)}",
            read_timeout=poll_seconds + self._request_timeout,
        )
        return result if isinstance(result, list) else []


# -- inbox shape ----------------------------------------------------------------------------------


def to_inbox_event(bot_id: str, update: object, now: datetime) -> InboxEvent:
    """Shape one raw Update for the inbox; ValueError when it is not an Update at all."""
    if not isinstance(update, dict):
        raise ValueError("an update is a JSON object")
    update_id = update.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool) or update_id < 0:
        raise ValueError("an update carries an integer update_id")
    payload = minimise(update)
    return InboxEvent(
        channel=CHANNEL,
        event_id=f"{bot_id}:{update_id}",
        chat_id=_raw_chat_id(payload),
        occurred_at=_raw_date(payload) or now,
        payload=payload,
    )


def minimise(update: dict[str, Any]) -> dict[str, Any]:
    """A copy of the update without names, usernames and contact cards (data minimisation).

    `first_name` stays as "" because PTB requires the key; `language_code` shrinks to its
    primary subtag, which is all the locale hint needs.
    """
    root: dict[str, Any] = {}
    stack: list[tuple[Any, Any]] = [(update, root)]
    # iterative: a deeply nested (but valid) JSON body must not blow the stack here
    while stack:
        source, target = stack.pop()
        items: Iterator[tuple[Any, Any]] = (
            iter(source.items()) if isinstance(source, dict) else iter(enumerate(source))
        )
        for key, value in items:
            if isinstance(source, dict):
                if key in _DROPPED_KEYS:
                    continue
                if key in _BLANKED_KEYS and isinstance(value, str):
                    value = ""
                elif key == "language_code" and isinstance(value, str):
                    value = _locale(value) or ""
            if isinstance(value, dict | list):
                child: Any = {} if isinstance(value, dict) else [None] * len(value)
                stack.append((value, child))
                value = child
            elif isinstance(value, str):
                # JSON may escape lone surrogates, which no database or cipher can encode
                value = _SURROGATES.sub("\ufffd", value)
            target[key] = value
    return root


_DROPPED_KEYS = frozenset({"last_name", "username", "is_premium", "added_to_attachment_menu", "vcard"})
_BLANKED_KEYS = frozenset({"first_name", "phone_number"})


def _raw_chat_id(update: Mapping[str, Any]) -> str:
    for key in (*_MESSAGE_KEYS, *_MEMBER_KEYS):
        chat = _dig(update, key, "chat")
        if chat is not None:
            return _id_text(chat.get("id"))
    query = update.get("callback_query")
    if isinstance(query, dict):
        chat = _dig(query, "message", "chat")
        if chat is not None:
            return _id_text(chat.get("id"))
    for value in update.values():
        # other private interactions (inline queries, payments): the user's id is the private chat id
        sender = value.get("from") if isinstance(value, dict) else None
        if isinstance(sender, dict):
            return _id_text(sender.get("id"))
    return ""


def _raw_date(update: Mapping[str, Any]) -> datetime | None:
    for key in _MESSAGE_KEYS:
        message = update.get(key)
        if isinstance(message, dict):
            return _timestamp(message.get("edit_date")) or _timestamp(message.get("date"))
    for key in _MEMBER_KEYS:
        change = update.get(key)
        if isinstance(change, dict):
            return _timestamp(change.get("date"))
    return None  # callbacks carry no time of their own


def _dig(mapping: Mapping[str, Any], *keys: str) -> dict[str, Any] | None:
    value: Any = mapping
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value if isinstance(value, dict) else None


def _id_text(value: object) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else ""


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _chat_kind(chat_type: str) -> ChatKind:
    return "private" if chat_type == ChatType.PRIVATE else "group"


def _locale(language_code: str | None) -> str | None:
    if not language_code:
        return None
    primary = language_code.replace("_", "-").split("-", 1)[0].lower()
    return primary if primary.isascii() and primary.isalpha() and 2 <= len(primary) <= 3 else None


def _media_of(message: Message) -> MediaRef | None:
    if message.photo:
        # PhotoSize arrays are ordered small to large; pick by size in case a client differs
        largest = max(message.photo, key=lambda size: (size.file_size or 0, size.width * size.height))
        return MediaRef(
            kind="image",
            platform_ref=largest.file_id,
            claimed_mime="image/jpeg",  # Telegram re-encodes photos as JPEG
            claimed_size=largest.file_size,
        )
    if message.animation is not None:
        # animations also fill message.document; they are short videos
        anim = message.animation
        return MediaRef("video", anim.file_id, anim.file_name or "", anim.mime_type or "", anim.file_size)
    if message.video is not None:
        video = message.video
        return MediaRef("video", video.file_id, video.file_name or "", video.mime_type or "", video.file_size)
    if message.video_note is not None:
        note = message.video_note
        return MediaRef("video", note.file_id, "", "video/mp4", note.file_size)
    if message.voice is not None:
        voice = message.voice
        return MediaRef("audio", voice.file_id, "", voice.mime_type or "audio/ogg", voice.file_size)
    if message.audio is not None:
        audio = message.audio
        return MediaRef("audio", audio.file_id, audio.file_name or "", audio.mime_type or "", audio.file_size)
    if message.document is not None:
        # a document keeps the original bytes (and metadata), whatever its type
        doc = message.document
        return MediaRef("file", doc.file_id, doc.file_name or "", doc.mime_type or "", doc.file_size)
    return None


# -- rendering ------------------------------------------------------------------------------------

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove

# A reply keyboard (the location request) stays on the phone until a message removes it, and
# its typed labels (cancel, back) would still act steps later; inline keyboards cannot remove it.
_REMOVE_KEYBOARD = ReplyKeyboardRemove()


def render(outbound: Outbound) -> list[tuple[str, Markup | None]]:
    """Telegram messages for one Outbound: text parts, the keyboard on the last one.

    An Outbound without buttons takes down any reply keyboard still shown.
    """
    parts = split_text(outbound.text)
    markup = keyboard(outbound.buttons)
    if not parts:
        if markup is not None:
            log.warning("telegram: keyboard without text dropped (the Bot API needs text)")
        return []
    rendered: list[tuple[str, Markup | None]] = [(part, None) for part in parts]
    rendered[-1] = (parts[-1], markup if outbound.buttons else _REMOVE_KEYBOARD)
    return rendered


def keyboard(buttons: Sequence[RenderedButton]) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | None:
    """Inline buttons, or a reply keyboard when one button asks for the location."""
    labelled = [button for button in buttons if button.label.strip()]
    location = next((b for b in labelled if b.payload == LOCATION_PAYLOAD), None)
    if location is not None:
        # inline buttons cannot request a location; a typed label counts as the tap for the core
        others = [KeyboardButton(b.label) for b in labelled if b is not location]
        rows = [[KeyboardButton(location.label, request_location=True)], *_rows(others)]
        return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)
    inline: list[InlineKeyboardButton] = []
    for button in labelled:
        size = len(button.payload.encode("utf-8"))
        if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
            # the server would reject the whole message; losing one choice is the lesser harm
            log.error("telegram: button dropped, callback_data is %d bytes (limit 64)", size)
            continue
        inline.append(InlineKeyboardButton(button.label, callback_data=button.payload))
    if len(inline) > MAX_INLINE_BUTTONS:
        log.error("telegram: %d buttons, only the first %d sent", len(inline), MAX_INLINE_BUTTONS)
        inline = inline[:MAX_INLINE_BUTTONS]
    return InlineKeyboardMarkup(_rows(inline)) if inline else None


B = TypeVar("B", InlineKeyboardButton, KeyboardButton)


def _rows(buttons: Sequence[B]) -> list[list[B]]:
    """One button per row; two neighbours share a row when both labels are short."""
    rows: list[list[B]] = []
    index = 0
    while index < len(buttons):
        pair = buttons[index : index + 2]
        if len(pair) == 2 and all(len(b.text) <= SHORT_LABEL for b in pair):
            rows.append(list(pair))
            index += 2
        else:
            rows.append([buttons[index]])
            index += 1
    return rows


def split_text(text: str, limit: int = MAX_TEXT_UNITS) -> list[str]:
    """Parts of at most `limit` UTF-16 units, cut only between grapheme clusters.

    Lone surrogates (which cannot be encoded) become U+FFFD; whitespace-only parts are dropped
    because Telegram rejects them.
    """
    return [part for part in split_units(_SURROGATES.sub("\ufffd", text), limit) if part.strip()]


def _text_call(bot: Bot, chat_id: str, text: str, markup: Markup | None) -> Callable[[], Awaitable[object]]:
    async def call() -> object:
        # no parse_mode: user-supplied text must never turn into markup or a 400
        return await bot.send_message(
            chat_id,
            text,
            reply_markup=markup,
            link_preview_options=_NO_PREVIEW,
        )

    return call


def _file_call(bot: Bot, chat_id: str, attachment_id: int, data: bytes) -> Callable[[], Awaitable[object]]:
    async def call() -> object:
        if data.startswith(_PHOTO_MAGIC) and len(data) <= 10 * 1024 * 1024:
            # sendPhoto re-encodes the image, which also strips its metadata
            return await bot.send_photo(chat_id, data)
        return await bot.send_document(chat_id, data, filename=f"attachment-{attachment_id}")

    return call


# no previews: a link in a message must not make Telegram fetch it or show a lookalike card
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def classify(exc: TelegramError, *, token: str = "") -> SendResult:
    """Map a Bot API error to what the relay should do next."""
    error = f"{type(exc).__name__}: {_redact(exc.message, token)}"
    if isinstance(exc, RetryAfter):
        return SendResult(SendStatus.RETRY, retry_after=retry_after_seconds(exc), error=error)
    if isinstance(exc, ChatMigrated):
        return SendResult(SendStatus.MIGRATED, new_chat_id=str(exc.new_chat_id), error=error)
    if isinstance(exc, Forbidden):
        return SendResult(SendStatus.UNREACHABLE, error=error)
    if isinstance(exc, InvalidToken):
        return SendResult(SendStatus.PAUSED, error=error)
    # BadRequest subclasses NetworkError: it must be tested first and never retried
    if isinstance(exc, BadRequest | EndPointNotFound):
        return SendResult(SendStatus.PERMANENT, error=error)
    if isinstance(exc, TimedOut):
        # the request may have reached Telegram; there is no idempotency key to tell
        return SendResult(SendStatus.RETRY, error=error, possible_duplicate=True)
    return SendResult(SendStatus.RETRY, error=error)


def retry_after_seconds(exc: RetryAfter) -> float:
    """Seconds to wait, from either the int or the timedelta form of `RetryAfter.retry_after`.

    With PTB_TIMEDELTA unset or false, PTB 22 warns when the int form is read; the warning is
    about PTB's future return type, which this function already handles, so it is muted here
    (a synchronous block: no other task can run while the filter is changed).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: int | timedelta = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _redact(text: str, token: str) -> str:
    return text.replace(token, "<token>") if token else text


# -- log hygiene ----------------------------------------------------------------------------------

#: httpx logs request URLs (they contain the token); PTB's client logs request parameters at DEBUG
_PRIVATE_LOGGERS = ("httpx", "telegram.Bot")


class _PrivacyFilter(logging.Filter):
    """Keeps the bot token and message contents out of third-party log records."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "telegram.Bot" and record.levelno <= logging.DEBUG:
            return False
        message = record.getMessage()
        if self._token in message:
            record.msg, record.args = message.replace(self._token, "<token>"), None
        return True


# -- webhook --------------------------------------------------------------------------------------


def webhook_routes(
    channel: TelegramChannel, ingest: Ingest, *, max_body_bytes: int = 1024 * 1024
) -> list[web.RouteDef]:
    """`POST /webhooks/telegram`: verify the secret, store the update, then answer 200."""

    async def receive(request: web.Request) -> web.Response:
        # the secret first: nothing from an unauthenticated sender is read, parsed or stored;
        # with no secret configured every request is refused (fail closed)
        if not channel.secret_matches(request.headers.get(SECRET_HEADER)):
            return web.Response(status=403)
        body = await read_capped(request, max_body_bytes)
        if body is None:
            return web.Response(status=413)
        try:
            update = parse_json(body)
            event = channel.inbox_event(update)
        except (ValueError, RecursionError):
            log.warning("telegram webhook: body is not an Update")
            return web.Response(status=400)
        try:
            await ingest([event])
        except StorageUnavailable:
            log.warning("telegram %s: storage unavailable, Telegram will redeliver", event.event_id)
            return web.Response(status=503)
        except EventRejected as exc:
            log.warning("telegram %s: refused by the database (%s)", event.event_id, exc)
            return web.Response(status=422)
        log.debug("telegram %s: stored", event.event_id)
        return web.Response(status=200)

    return [web.post(WEBHOOK_PATH, receive)]
