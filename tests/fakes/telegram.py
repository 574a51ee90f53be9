"""A fake Telegram Bot API on 127.0.0.1 (PTB's wire format), with users who send real-shaped updates.

Knows the Bot API only, never tipbot: tests script faults, deliver updates and read what was recorded.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import ClientSession, ClientTimeout, web

from tests.fakes.ratelimit import DEFAULT_TOLERANCE, TokenBucket

DEFAULT_TOKEN = "7012345678:AAHfakeTokenForTests_0123456789abcdef"
SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument"})
DOWNLOAD_LIMIT = 20 * 1024 * 1024
MAX_TEXT = 4096
MAX_CAPTION = 1024
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
#: "not able to broadcast more than about 30 messages per second" (Bot FAQ)
MESSAGES_PER_SECOND = 30.0


@dataclass
class Delivery:
    """One message the bot sent successfully."""

    chat_id: str
    method: str
    message_id: int
    text: str | None = None
    caption: str | None = None
    reply_markup: dict[str, Any] | None = None
    file: bytes | None = None
    link_preview_disabled: bool = False
    parse_mode: str | None = None
    at: float = 0.0


@dataclass
class WebhookState:
    url: str
    secret_token: str | None
    allowed_updates: list[str] | None
    max_connections: int = 40


@dataclass
class Fault:
    """What the next send answers instead of success (status 0 = only a delay)."""

    status: int
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    delay: float = 0.0
    #: only sends to this chat meet the fault (None: the next send to any chat)
    chat_id: str | None = None


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    size: int
    path: str


class ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters or {}


class FakeTelegram:
    """The Bot API for one bot: `async with FakeTelegram() as fake:` then point PTB at `fake.api_base_url`."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        username: str = "tipbot_test_bot",
        chat_rate_limit: float | None = None,
        rate_limit: float | None = MESSAGES_PER_SECOND,
        rate_tolerance: float = DEFAULT_TOLERANCE,
        clock: Callable[[], float] = time.monotonic,
        latency: float = 0.0,
    ) -> None:
        """``rate_limit``: sends per second over all chats (token bucket, None: unlimited);
        ``rate_tolerance``: the arrival jitter it forgives (see `TokenBucket`);
        ``latency``: every Bot API answer comes this many seconds late (after the work)."""
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.username = username
        #: messages per second per chat before answering 429 (None: unlimited)
        self.chat_rate_limit = chat_rate_limit
        #: sends per second over all chats before answering 429 (None: unlimited)
        self.rate_limit = rate_limit
        self.rate_tolerance = rate_tolerance
        #: delay before each Bot API answer, in seconds (the work is done first)
        self.latency = latency
        self._clock = clock
        self._bucket = self._new_bucket()
        # records
        self.calls: list[str] = []
        self.deliveries: list[Delivery] = []
        self.attempts: Counter[str] = Counter()
        #: sends refused with 429 by the overall or the per-chat limit, per chat (not scripted faults)
        self.rate_limited: Counter[str] = Counter()
        self.answered_callbacks: list[dict[str, Any]] = []
        self.edited_markups: list[dict[str, Any]] = []
        self.commands: dict[str | None, list[tuple[str, str]]] = {}  # default scope, by language
        self.group_commands: dict[str | None, list[tuple[str, str]]] = {}  # all_group_chats scope
        self.webhook: WebhookState | None = None
        self.webhook_posts: list[tuple[int, int]] = []  # (update_id, HTTP status)
        self.downloads: list[bytes] = []  # file bytes served to the bot
        self.dropped_pending = 0
        # state
        self._faults: deque[Fault] = deque()
        self._files: dict[str, StoredFile] = {}
        self._paths: dict[str, StoredFile] = {}
        self._file_numbers = itertools.count(1)
        self._update_ids = itertools.count(510_000_001)
        self._message_ids: Counter[str] = Counter()
        self._last_send: dict[str, float] = {}
        self._blocked: set[str] = set()
        self._open_callbacks: set[str] = set()
        self._queue: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self.port = 0

    # -- server ------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        self._session = ClientSession(timeout=ClientTimeout(total=30))

    async def close(self) -> None:
        self._closing = True
        self._arrived.set()  # release long polls so the server can stop at once
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base_url(self) -> str:
        """What `TelegramChannel(api_base_url=...)` needs; PTB appends /bot<token> and /file/bot<token>."""
        return f"http://127.0.0.1:{self.port}"

    # -- scripting ---------------------------------------------------------------------------------

    def fail_next_sends(
        self,
        count: int = 1,
        *,
        retry_after: int | None = None,
        blocked: bool = False,
        migrate_to: int | None = None,
        server_error: bool = False,
        bad_request: str | None = None,
        delay: float | None = None,
        after: int = 0,
        chat_id: int | str | None = None,
    ) -> None:
        """Make `count` send calls fail one way (or, with only `delay`, answer late).

        `after` lets that many sends succeed first, e.g. to fail the second part of a long text,
        or, with `retry_after`, a burst of 429s in the middle of a run:
        ``fail_next_sends(5, retry_after=2, after=40)``. `chat_id` limits the faults (and the
        sends counted by `after`) to that chat; other chats are served normally. Calls queue up.
        """
        if retry_after is not None:
            fault = Fault(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        elif blocked:
            fault = Fault(403, "Forbidden: bot was blocked by the user")
        elif migrate_to is not None:
            fault = Fault(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": migrate_to},
            )
        elif server_error:
            fault = Fault(500, "Internal Server Error")
        elif bad_request is not None:
            fault = Fault(400, f"Bad Request: {bad_request}")
        elif delay is not None:
            fault = Fault(0, "", delay=delay)
        else:
            raise ValueError("choose a fault")
        if delay is not None:
            fault.delay = delay
        chat = None if chat_id is None else str(chat_id)
        self._faults.extend(Fault(0, "", chat_id=chat) for _ in range(after))
        self._faults.extend(
            Fault(fault.status, fault.description, fault.parameters, fault.delay, chat) for _ in range(count)
        )

    def set_rate_limit(self, rate: float | None) -> None:
        """Change the overall send rate (None: unlimited); the bucket starts full."""
        self.rate_limit = rate
        self._bucket = self._new_bucket()

    def _new_bucket(self) -> TokenBucket | None:
        if self.rate_limit is None:
            return None
        return TokenBucket(self.rate_limit, tolerance=self.rate_tolerance, clock=self._clock)

    def register_file(
        self, data: bytes, *, declared_size: int | None = None, folder: str = "documents", suffix: str = "bin"
    ) -> StoredFile:
        """Make bytes downloadable via getFile; `declared_size` pretends the file is that big."""
        number = next(self._file_numbers)
        stored = StoredFile(
            file_id=f"BQACAgUAAxkBAAI{number:06d}{secrets.token_hex(12)}",
            file_unique_id=f"AgAD{number:06d}",
            data=data,
            size=len(data) if declared_size is None else declared_size,
            path=f"{folder}/file_{number}.{suffix}",
        )
        self._files[stored.file_id] = stored
        self._paths[stored.path] = stored
        return stored

    def user(
        self,
        user_id: int | None = None,
        *,
        first_name: str = "สมชาย",
        last_name: str | None = "ใจดี",
        username: str | None = "somchai_test",
        language_code: str | None = "th",
    ) -> FakeTelegramUser:
        return FakeTelegramUser(
            self,
            user_id if user_id is not None else 100_000_000 + secrets.randbelow(800_000_000),
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )

    # -- updates -----------------------------------------------------------------------------------

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def next_message_id(self, chat_id: int | str) -> int:
        self._message_ids[str(chat_id)] += 1
        return self._message_ids[str(chat_id)]

    def queue_update(self, update: dict[str, Any]) -> None:
        """Keep an update for getUpdates (polling mode)."""
        self._queue.append(update)
        arrived, self._arrived = self._arrived, asyncio.Event()
        arrived.set()

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        return list(self._queue)

    async def post_update(self, update: dict[str, Any], url: str, secret: str | None) -> int:
        """POST one update like Telegram's webhook delivery; returns the HTTP status."""
        assert self._session is not None
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        async with self._session.post(url, json=update, headers=headers) as response:
            await response.read()
            self.webhook_posts.append((update["update_id"], response.status))
            return response.status

    async def deliver(self, update: dict[str, Any]) -> int | None:
        """Deliver as Telegram would: to the webhook when one is set, else into the getUpdates queue."""
        if self.webhook is not None:
            return await self.post_update(update, self.webhook.url, self.webhook.secret_token)
        self.queue_update(update)
        return None

    # -- records -----------------------------------------------------------------------------------

    def sent_to(self, chat_id: int | str) -> list[Delivery]:
        return [d for d in self.deliveries if d.chat_id == str(chat_id)]

    def delivery_counts(self) -> Counter[str]:
        """Messages sent successfully per chat id (text, photo or document each count one)."""
        return Counter(d.chat_id for d in self.deliveries)

    def texts_to(self, chat_id: int | str) -> list[str]:
        return [d.text for d in self.sent_to(chat_id) if d.text is not None]

    def is_blocked(self, chat_id: int | str) -> bool:
        return str(chat_id) in self._blocked

    def open_callback(self, query_id: str) -> None:
        self._open_callbacks.add(query_id)

    def set_blocked(self, chat_id: int | str, blocked: bool) -> None:
        if blocked:
            self._blocked.add(str(chat_id))
        else:
            self._blocked.discard(str(chat_id))

    # -- HTTP --------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _answer_error(ApiError(401, "Unauthorized"))
        method = request.match_info["method"]
        self.calls.append(method)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _answer_error(ApiError(404, "Not Found"))
        try:
            params, files = await _parameters(request)
            result = await handler(params, files)
        except ApiError as exc:
            response = _answer_error(exc)
        else:
            response = web.json_response({"ok": True, "result": result})
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        return response

    async def _download(self, request: web.Request) -> web.Response:
        stored = self._paths.get(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None:
            return _answer_error(ApiError(404, "Not Found"))
        self.downloads.append(stored.data)
        return web.Response(body=stored.data, content_type="application/octet-stream")

    # -- methods -----------------------------------------------------------------------------------

    def bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "tipbot", "username": self.username}

    async def _m_getMe(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        return {
            **self.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _m_sendMessage(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        chat_id = await self._admit_send(params)
        text = params.get("text", "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if _utf16_length(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        markup = _reply_markup(params)
        preview = _json_param(params, "link_preview_options") or {}
        return self._record(
            chat_id,
            "sendMessage",
            text=text,
            reply_markup=markup,
            link_preview_disabled=bool(preview.get("is_disabled"))
            or params.get("disable_web_page_preview") == "true",
            parse_mode=params.get("parse_mode"),
        )

    async def _m_sendPhoto(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        return await self._send_file("sendPhoto", "photo", params, files)

    async def _m_sendDocument(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        return await self._send_file("sendDocument", "document", params, files)

    async def _send_file(
        self, method: str, field_name: str, params: dict[str, str], files: dict[str, bytes]
    ) -> Any:
        chat_id = await self._admit_send(params)
        data = files.get(field_name)
        if data is None:
            reference = params.get(field_name, "")
            stored = self._files.get(reference)
            if stored is None:
                raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
            data = stored.data
        caption = params.get("caption")
        if caption is not None and _utf16_length(caption) > MAX_CAPTION:
            raise ApiError(400, "Bad Request: message caption is too long")
        stored = self.register_file(data, folder="photos" if field_name == "photo" else "documents")
        extra: dict[str, Any]
        if field_name == "photo":
            extra = {
                "photo": [
                    {
                        "file_id": stored.file_id,
                        "file_unique_id": stored.file_unique_id,
                        "width": 800,
                        "height": 600,
                        "file_size": stored.size,
                    }
                ]
            }
        else:
            extra = {
                "document": {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_name": params.get("filename", "file"),
                    "file_size": stored.size,
                }
            }
        return self._record(
            chat_id, method, caption=caption, reply_markup=_reply_markup(params), file=data, extra=extra
        )

    async def _admit_send(self, params: dict[str, str]) -> str:
        """Checks every send shares: a chat, the overall rate, scripted faults, blocks, the chat's rate.

        A send the overall limit refuses does no work and takes no scripted fault (so `after=`
        in `fail_next_sends` counts only sends that got past the limit).
        """
        chat_id = params.get("chat_id", "")
        if not chat_id:
            raise ApiError(400, "Bad Request: chat_id is empty")
        self.attempts[chat_id] += 1
        if self._bucket is not None and not self._bucket.take():
            self.rate_limited[chat_id] += 1
            wait = self._bucket.wait_whole_seconds()
            raise ApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
        fault = self._next_fault(chat_id)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status:
                raise ApiError(fault.status, fault.description, fault.parameters)
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if self.chat_rate_limit is not None:
            now = self._clock()
            last = self._last_send.get(chat_id)
            if last is not None and now - last < 1 / self.chat_rate_limit:
                self.rate_limited[chat_id] += 1
                raise ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
            self._last_send[chat_id] = now
        return chat_id

    def _next_fault(self, chat_id: str) -> Fault | None:
        for fault in self._faults:
            if fault.chat_id in (None, chat_id):
                self._faults.remove(fault)
                return fault
        return None

    def _record(
        self,
        chat_id: str,
        method: str,
        *,
        text: str | None = None,
        caption: str | None = None,
        reply_markup: dict[str, Any] | None = None,
        file: bytes | None = None,
        link_preview_disabled: bool = False,
        parse_mode: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        message_id = self.next_message_id(chat_id)
        self.deliveries.append(
            Delivery(
                chat_id=chat_id,
                method=method,
                message_id=message_id,
                text=text,
                caption=caption,
                reply_markup=reply_markup,
                file=file,
                link_preview_disabled=link_preview_disabled,
                parse_mode=parse_mode,
                at=time.monotonic(),
            )
        )
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": _chat(int(chat_id)),
            "from": self.bot_user(),
            **(extra or {}),
        }
        if text is not None:
            message["text"] = text
        if caption is not None:
            message["caption"] = caption
        if reply_markup is not None and "inline_keyboard" in reply_markup:
            message["reply_markup"] = reply_markup
        return message

    async def _m_answerCallbackQuery(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        query_id = params.get("callback_query_id", "")
        if query_id not in self._open_callbacks:
            raise ApiError(
                400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
            )
        self._open_callbacks.discard(query_id)
        self.answered_callbacks.append({"id": query_id, "text": params.get("text")})
        return True

    async def _m_editMessageReplyMarkup(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        self.edited_markups.append(
            {
                "chat_id": params.get("chat_id"),
                "message_id": params.get("message_id"),
                "reply_markup": _reply_markup(params),
            }
        )
        return True

    async def _m_getFile(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        stored = self._files.get(params.get("file_id", ""))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if stored.size > DOWNLOAD_LIMIT:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.path,
        }

    async def _m_setWebhook(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        url = params.get("url", "")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET.fullmatch(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if params.get("drop_pending_updates") == "true":
            self._drop_pending()
        if not url:
            self.webhook = None
            return True
        self.webhook = WebhookState(
            url=url,
            secret_token=secret,
            allowed_updates=_json_param(params, "allowed_updates"),
            max_connections=int(params.get("max_connections", "40")),
        )
        return True

    async def _m_deleteWebhook(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        if params.get("drop_pending_updates") == "true":
            self._drop_pending()
        self.webhook = None
        return True

    def _drop_pending(self) -> None:
        self.dropped_pending += len(self._queue)
        self._queue.clear()

    async def _m_getWebhookInfo(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook.url if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self.webhook is not None:
            info["max_connections"] = self.webhook.max_connections
            if self.webhook.allowed_updates is not None:
                info["allowed_updates"] = self.webhook.allowed_updates
        return info

    async def _m_getUpdates(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        self._refuse_while_webhook()
        offset = int(params.get("offset", "0"))
        limit = min(max(int(params.get("limit", "100")), 1), 100)
        timeout = float(params.get("timeout", "0"))
        allowed = _json_param(params, "allowed_updates")
        if offset > 0:
            # "All updates with update_id less than offset will be marked as confirmed"
            self._queue = [u for u in self._queue if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        while True:
            self._refuse_while_webhook()  # also ends a long poll that a setWebhook overtook
            ready = [u for u in self._queue if _allowed(u, allowed)][:limit]
            remaining = deadline - time.monotonic()
            if ready or remaining <= 0 or self._closing:
                return ready
            arrived = self._arrived
            try:
                await asyncio.wait_for(arrived.wait(), remaining)
            except TimeoutError:
                return []

    def _refuse_while_webhook(self) -> None:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active;"
                " use deleteWebhook to delete the webhook first",
            )

    async def _m_setMyCommands(self, params: dict[str, str], files: dict[str, bytes]) -> Any:
        commands = _json_param(params, "commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be a list of at most 100 BotCommand")
        parsed: list[tuple[str, str]] = []
        for entry in commands:
            command, description = entry.get("command", ""), entry.get("description", "")
            if not _COMMAND.fullmatch(command):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
            parsed.append((command, description))
        scope = (_json_param(params, "scope") or {}).get("type", "default")
        menus = {"default": self.commands, "all_group_chats": self.group_commands}.get(scope)
        if menus is None:
            raise ApiError(400, f"Bad Request: scope {scope} is not supported by this fake")
        language = params.get("language_code") or None
        if language is not None and not re.fullmatch(r"[a-z]{2}", language):
            raise ApiError(400, "Bad Request: LANG_CODE_INVALID")
        menus[language] = parsed
        return True


class FakeTelegramUser:
    """A Telegram account talking to the bot; each method returns one complete Update dict."""

    def __init__(
        self,
        fake: FakeTelegram,
        user_id: int,
        *,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
    ) -> None:
        self.fake = fake
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.last_message_id: int | None = None
        #: the group this view of the account talks in (None: the private chat with the bot)
        self.group: dict[str, Any] | None = None

    @property
    def chat_id(self) -> int:
        # a private chat's id is the user's id
        return int(self.group["id"]) if self.group is not None else self.id

    def in_group(self, group_id: int, title: str = "ปปท. เขต 3") -> FakeTelegramUser:
        """The same account speaking in a group: messages, taps and edits go to that group."""
        member = FakeTelegramUser(
            self.fake,
            self.id,
            first_name=self.first_name,
            last_name=self.last_name,
            username=self.username,
            language_code=self.language_code,
        )
        member.group = _group_chat(group_id, title)
        return member

    def home_chat(self) -> dict[str, Any]:
        return dict(self.group) if self.group is not None else self.private_chat()

    def user_dict(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def private_chat(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.username:
            chat["username"] = self.username
        return chat

    def _message(self, chat: dict[str, Any] | None = None, **content: Any) -> dict[str, Any]:
        chat = chat or self.home_chat()
        message_id = self.fake.next_message_id(chat["id"])
        if chat["id"] == self.chat_id:
            self.last_message_id = message_id
        return {
            "update_id": self.fake.next_update_id(),
            "message": {
                "message_id": message_id,
                "from": self.user_dict(),
                "chat": chat,
                "date": int(time.time()),
                **content,
            },
        }

    # -- what a person does ------------------------------------------------------------------------

    def says(self, text: str) -> dict[str, Any]:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_length(command)}]
        return self._message(**content)

    def starts(self, payload: str | None = None) -> dict[str, Any]:
        """Opens the bot (or a t.me/<bot>?start=<payload> deep link)."""
        return self.says("/start" if payload is None else f"/start {payload}")

    def says_in_group(self, group_id: int, title: str, text: str) -> dict[str, Any]:
        return self._message(chat=_group_chat(group_id, title), text=text)

    def taps(self, data: str, *, message_id: int | None = None) -> dict[str, Any]:
        """Taps an inline button carrying `data` under a message the bot sent to this chat."""
        message = self._bot_message(message_id)
        query_id = str(secrets.randbits(63))
        self.fake.open_callback(query_id)
        return {
            "update_id": self.fake.next_update_id(),
            "callback_query": {
                "id": query_id,
                "from": self.user_dict(),
                "message": message,
                "chat_instance": str(-secrets.randbits(62)),
                "data": data,
            },
        }

    def shares_location(self, latitude: float, longitude: float) -> dict[str, Any]:
        return self._message(location={"latitude": latitude, "longitude": longitude})

    def sends_venue(self, latitude: float, longitude: float, title: str, address: str) -> dict[str, Any]:
        location = {"latitude": latitude, "longitude": longitude}
        return self._message(
            location=location, venue={"location": location, "title": title, "address": address}
        )

    def sends_photo(self, data: bytes, *, caption: str | None = None) -> dict[str, Any]:
        """A compressed photo: Telegram offers several sizes; the largest carries `data`."""
        sizes = []
        for width, height, scaled in ((90, 68, data[:64]), (320, 240, data[:512]), (1280, 960, data)):
            stored = self.fake.register_file(scaled, folder="photos", suffix="jpg")
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "width": width,
                    "height": height,
                    "file_size": stored.size,
                }
            )
        content: dict[str, Any] = {"photo": sizes}
        if caption is not None:
            content["caption"] = caption
        return self._message(**content)

    def sends_document(
        self,
        data: bytes,
        *,
        file_name: str = "evidence.pdf",
        mime_type: str = "application/pdf",
        declared_size: int | None = None,
    ) -> dict[str, Any]:
        stored = self.fake.register_file(data, declared_size=declared_size)
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": stored.size,
        }
        return self._message(document=document)

    def sends_voice(self, data: bytes, *, seconds: int = 3) -> dict[str, Any]:
        stored = self.fake.register_file(data, folder="voice", suffix="oga")
        voice = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": seconds,
            "mime_type": "audio/ogg",
            "file_size": stored.size,
        }
        return self._message(voice=voice)

    def sends_video(self, data: bytes, *, seconds: int = 5) -> dict[str, Any]:
        stored = self.fake.register_file(data, folder="videos", suffix="mp4")
        video = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": 640,
            "height": 360,
            "duration": seconds,
            "mime_type": "video/mp4",
            "file_size": stored.size,
        }
        return self._message(video=video)

    def sends_sticker(self) -> dict[str, Any]:
        stored = self.fake.register_file(b"RIFF....WEBP", folder="stickers", suffix="webp")
        sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
            "file_size": stored.size,
        }
        return self._message(sticker=sticker)

    def sends_contact(self, phone_number: str, first_name: str = "ผู้ติดต่อ") -> dict[str, Any]:
        return self._message(
            contact={"phone_number": phone_number, "first_name": first_name, "user_id": self.id}
        )

    def edits(self, message_id: int, text: str) -> dict[str, Any]:
        now = int(time.time())
        return {
            "update_id": self.fake.next_update_id(),
            "edited_message": {
                "message_id": message_id,
                "from": self.user_dict(),
                "chat": self.home_chat(),
                "date": now - 30,
                "edit_date": now,
                "text": text,
            },
        }

    def blocks_bot(self) -> dict[str, Any]:
        self.fake.set_blocked(self.id, True)
        return self._member_change(self.private_chat(), old="member", new="kicked")

    def unblocks_bot(self) -> dict[str, Any]:
        self.fake.set_blocked(self.id, False)
        return self._member_change(self.private_chat(), old="kicked", new="member")

    def adds_bot_to_group(self, group_id: int, title: str = "ปปท. เขต 3") -> dict[str, Any]:
        return self._member_change(_group_chat(group_id, title), old="left", new="member")

    def removes_bot_from_group(self, group_id: int, title: str = "ปปท. เขต 3") -> dict[str, Any]:
        return self._member_change(_group_chat(group_id, title), old="member", new="left")

    def _member_change(self, chat: dict[str, Any], *, old: str, new: str) -> dict[str, Any]:
        bot = self.fake.bot_user()

        def member(status: str) -> dict[str, Any]:
            entry: dict[str, Any] = {"status": status, "user": bot}
            if status == "kicked":
                entry["until_date"] = 0
            return entry

        return {
            "update_id": self.fake.next_update_id(),
            "my_chat_member": {
                "chat": chat,
                "from": self.user_dict(),
                "date": int(time.time()),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            },
        }

    def _bot_message(self, message_id: int | None) -> dict[str, Any]:
        sent = self.fake.sent_to(self.chat_id)
        chosen = next((d for d in reversed(sent) if message_id in (None, d.message_id)), None)
        message: dict[str, Any] = {
            "message_id": chosen.message_id
            if chosen
            else (message_id or self.fake.next_message_id(self.chat_id)),
            "from": self.fake.bot_user(),
            "chat": self.home_chat(),
            "date": int(time.time()) - 5,
            "text": chosen.text if chosen and chosen.text else "…",
        }
        if chosen and chosen.reply_markup and "inline_keyboard" in chosen.reply_markup:
            message["reply_markup"] = chosen.reply_markup
        return message


# -- wire helpers -------------------------------------------------------------------------------------


async def _parameters(request: web.Request) -> tuple[dict[str, str], dict[str, bytes]]:
    """Bot API parameters from the query string, a form, a multipart body or JSON."""
    params: dict[str, str] = dict(request.query)
    files: dict[str, bytes] = {}
    if request.content_type == "application/json":
        body = await request.json()
        for key, value in body.items():
            params[key] = value if isinstance(value, str) else json.dumps(value)
    elif request.body_exists:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = value.file.read()
            else:
                params[key] = str(value)
    # PTB uploads a file as `attach://<name>` in the field and the bytes under <name>
    for key, value in list(params.items()):
        if value.startswith("attach://") and value[9:] in files:
            files[key] = files.pop(value[9:])
            del params[key]
    return params, files


def _json_param(params: Mapping[str, str], key: str) -> Any:
    raw = params.get(key)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"Bad Request: can't parse {key} JSON object") from exc


def _reply_markup(params: Mapping[str, str]) -> dict[str, Any] | None:
    markup = _json_param(params, "reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard", markup.get("keyboard"))
    if rows is None:
        return markup  # ReplyKeyboardRemove, ForceReply
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError(
            400, 'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array'
        )
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not str(button.get("text", "")).strip():
                raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode("utf-8")) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


def _answer_error(exc: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": exc.status, "description": exc.description}
    if exc.parameters:
        body["parameters"] = exc.parameters
    return web.json_response(body, status=exc.status)


def _allowed(update: Mapping[str, Any], allowed: list[str] | None) -> bool:
    if not allowed:
        return True
    return any(kind in update for kind in allowed)


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "user"}
    return _group_chat(chat_id, "group")


def _group_chat(chat_id: int, title: str) -> dict[str, Any]:
    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id, "type": kind, "title": title}


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
