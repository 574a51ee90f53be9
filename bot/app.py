"""Composition root: builds storage, channels, dispatcher and relay from Settings.

The only core module allowed to know aiohttp, storage and the platform adapters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web

from bot.broadcast import BroadcastDesk, Broadcaster
from bot.catalog import Catalog
from bot.dispatcher import Dispatcher
from bot.model import InboxEvent
from bot.ports import Channel, StorageUnavailable
from bot.relay import Pacing, Relay
from bot.routing import RegionTable
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.staff import StaffDesk
from bot.understanding import ThaiUnderstanding
from handlers.console import ConsoleChannel
from handlers.webchat import WebChatChannel
from handlers.webchat import routes as webchat_routes
from storage.crypto import Keyring, install_keyring
from storage.database import create_engine, is_sqlite, sqlite_path, upgrade_async
from storage.media import FileMediaStore
from storage.repositories import SqlStore

log = logging.getLogger("tipbot")


class ConfigError(SystemExit):
    """A setting makes it unsafe or impossible to start."""


def resolve_secret(settings: Settings) -> str:
    """The secret key: from settings, or (development only) generated once and kept beside the database."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    if settings.env == "production":
        raise ConfigError("TIPBOT_SECRET_KEY is required when TIPBOT_ENV=production")
    db = sqlite_path(settings.database_url)
    folder = db.parent if db is not None else Path("var")
    path = folder / "secret.key"
    if path.exists():
        return path.read_text("utf-8").strip()
    folder.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    log.warning("TIPBOT_SECRET_KEY is not set: generated a development key in %s (keep it safe)", path)
    return key


class StoreIngest:
    """`bot.ports.Ingest`: one transaction for a request's events, then wake the dispatcher."""

    def __init__(self, store: SqlStore, wake: Callable[[], None], crash_at: str = "") -> None:
        self.store = store
        self.wake = wake
        self.crash_at = crash_at

    async def __call__(self, events: Sequence[InboxEvent]) -> int:
        new = await self.store.ingest(events, datetime.now(UTC))
        if self.crash_at == "after_ingest":
            os.kill(os.getpid(), signal.SIGKILL)
        if new:
            self.wake()
        return new


@dataclass
class Services:
    settings: Settings
    store: SqlStore
    catalog: Catalog
    regions: RegionTable
    channels: dict[str, Channel]
    dispatcher: Dispatcher
    relay: Relay
    ingest: StoreIngest
    broadcaster: Broadcaster
    webchat: WebChatChannel | None = None
    scheduler: Scheduler | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    closers: list[Callable[[], Any]] = field(default_factory=list)
    #: False when something else drives the work with `settle()` (the terminal chat, tests)
    autostart: bool = True

    def start(self) -> None:
        if not self.autostart:
            return
        # Load the Thai dictionaries now rather than on the first volunteer's message.
        self.tasks.append(asyncio.create_task(self._warm_up(), name="warm-up"))
        self.tasks.append(asyncio.create_task(self.dispatcher.run(self.stop), name="dispatcher"))
        self.tasks.append(asyncio.create_task(self.relay.run(self.stop), name="relay"))
        self.tasks.append(asyncio.create_task(self.broadcaster.run(self.stop), name="broadcaster"))
        if self.scheduler is not None:
            interval = self.settings.scheduler_interval
            self.tasks.append(asyncio.create_task(self.scheduler.run(self.stop, interval), name="scheduler"))

    async def _warm_up(self) -> None:
        today = datetime.now(UTC).date()
        sample = "นายก อบต. จ.สุรินทร์ 500 บาท เมื่อวาน"
        await asyncio.to_thread(self.dispatcher.understanding.extract, sample, today)

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until nothing is due in the inbox or outbox (for the terminal chat and tests)."""
        async with asyncio.timeout(timeout):
            while True:
                worked = await self.dispatcher.drain()
                worked += await self.broadcaster.drain()
                worked += await self.relay.drain()
                if not worked:
                    return

    async def close(self) -> None:
        self.stop.set()
        self.dispatcher.wake.set()
        self.relay.wake.set()
        self.broadcaster.wake.set()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for closer in reversed(self.closers):
            result = closer()
            if asyncio.iscoroutine(result):
                await result
        await self.store.engine.dispose()


async def open_store(settings: Settings, *, migrate: bool | None = None) -> SqlStore:
    """Keyring, migrations (automatic on the embedded SQLite) and the store, for CLI commands."""
    install_keyring(
        Keyring(resolve_secret(settings), [k.get_secret_value() for k in settings.old_secret_keys])
    )
    if migrate if migrate is not None else is_sqlite(settings.database_url):
        await upgrade_async(settings.database_url)
    return SqlStore(create_engine(settings.database_url))


async def build_services(
    settings: Settings,
    *,
    channels: Sequence[Channel] = (),
    scope: Sequence[tuple[str, str | None]] | None = None,
    only_channels: Sequence[str] | None = None,
    with_webchat: bool = True,
    migrate: bool | None = None,
    clock: Callable[[], datetime] | None = None,
    autostart: bool = True,
) -> Services:
    store = await open_store(settings, migrate=migrate)
    catalog = Catalog.load(default_locale=settings.default_locale)
    regions = RegionTable.load(settings.regions_file)
    chans: dict[str, Channel] = {c.name: c for c in channels}
    webchat = None
    if with_webchat:
        webchat = WebChatChannel(settings.max_text_chars)
        chans[webchat.name] = webchat
    closers: list[Callable[[], Any]] = []
    if settings.line_enabled and "line" not in chans:
        from handlers.line import LineChannel

        assert settings.line_channel_secret
        assert settings.line_channel_access_token
        line = LineChannel(
            channel_secret=settings.line_channel_secret.get_secret_value(),
            access_token=settings.line_channel_access_token.get_secret_value(),
            api_base_url=settings.line_api_base_url,
            data_api_base_url=settings.line_data_api_base_url,
            max_media_bytes=settings.max_media_bytes,
        )
        await line.start()
        closers.append(line.close)
        chans[line.name] = line
    if settings.telegram_enabled and "telegram" not in chans:
        from handlers.telegram import TelegramChannel

        assert settings.telegram_bot_token
        tg = TelegramChannel(
            token=settings.telegram_bot_token.get_secret_value(),
            webhook_secret=settings.telegram_webhook_secret.get_secret_value()
            if settings.telegram_webhook_secret
            else None,
            api_base_url=settings.telegram_api_base_url,
            max_media_bytes=settings.max_media_bytes,
        )
        await tg.start()
        closers.append(tg.close)
        chans[tg.name] = tg
    now = clock or (lambda: datetime.now(UTC))
    media = FileMediaStore(settings.media_dir)
    pacing = Pacing()
    relay = Relay(
        store=store, channels=chans, catalog=catalog, scope=scope, clock=now, media=media, pacing=pacing
    )
    broadcaster = Broadcaster(
        store=store,
        channels={n: c for n, c in chans.items() if only_channels is None or n in only_channels},
        catalog=catalog,
        regions=regions,
        pacing=pacing,
        clock=now,
        line_quota=settings.line_monthly_quota,
        rsvp_reminder=settings.rsvp_reminder,
        lease=settings.broadcast_lease,
        in_flight=settings.broadcast_in_flight,
        on_commit=relay.wake.set,
    )
    desk = StaffDesk(
        entropy=os.urandom, detail=settings.alert_detail, excerpt_chars=settings.alert_excerpt_chars
    )
    dispatcher = Dispatcher(
        store=store,
        channels=chans,
        media=media,
        regions=regions,
        understanding=ThaiUnderstanding(regions),
        draft_ttl=settings.draft_ttl,
        default_locale=settings.default_locale,
        excerpt_chars=settings.alert_excerpt_chars,
        max_media_bytes=settings.max_media_bytes,
        only_channels=only_channels,
        on_commit=relay.wake.set,
        clock=now,
        desk=desk,
        broadcasts=BroadcastDesk(
            regions=regions, channels=list(chans), line_quota=settings.line_monthly_quota, entropy=os.urandom
        ),
        on_broadcast=broadcaster.wake.set,
    )
    ingest = StoreIngest(store, dispatcher.wake.set, settings.crash_at)
    scheduler = Scheduler(
        store=store,
        desk=desk,
        clock=now,
        ack_reminder=settings.ack_reminder,
        digest_hour=settings.digest_hour,
        on_commit=relay.wake.set,
    )
    return Services(
        settings=settings,
        store=store,
        catalog=catalog,
        regions=regions,
        channels=chans,
        dispatcher=dispatcher,
        relay=relay,
        broadcaster=broadcaster,
        ingest=ingest,
        webchat=webchat,
        closers=closers,
        autostart=autostart,
        scheduler=scheduler,
    )


SERVICES = web.AppKey("services", Services)

#: Telegram command menu: command → catalog key of its description
TELEGRAM_COMMANDS = ("start", "report", "status", "news", "help", "cancel")
#: the menu Telegram shows in groups: command → catalog key
TELEGRAM_GROUP_COMMANDS = (
    ("join", "commands.group.join"),
    ("leave", "commands.group.leave"),
    ("tips", "commands.group.tips"),
    ("help", "commands.group.help"),
)
RICH_MENU_LABELS = ("button.report", "button.my_tips", "richmenu.notices", "button.help")


class StoreKeyValue:
    """`bot.ports.KeyValueStore` on the database (e.g. the Telegram polling offset)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    async def get(self, key: str) -> str | None:
        async with self.store.transaction() as uow:
            return await uow.kv_get(key)

    async def set(self, key: str, value: str) -> None:
        async with self.store.transaction() as uow:
            await uow.kv_set(key, value)


def telegram_commands(catalog: Catalog) -> dict[str, list[tuple[str, str]]]:
    menus = {
        loc: [(c, catalog.text(f"commands.{c}", loc)) for c in TELEGRAM_COMMANDS] for loc in ("th", "en")
    }
    menus["default"] = menus[catalog.default_locale]
    return menus


def create_app(
    settings: Settings, *, services_factory: Callable[..., Any] | None = None, telegram_polling: bool = False
) -> web.Application:
    """The aiohttp application: health, web chat and the platform webhooks."""
    if settings.telegram_enabled and not telegram_polling and settings.telegram_webhook_secret is None:
        # Without a secret anyone could post updates; refuse rather than fail open.
        raise ConfigError(
            "TIPBOT_TELEGRAM_WEBHOOK_SECRET is required for the Telegram webhook (or use --telegram-polling)"
        )
    app = web.Application(client_max_size=settings.max_body_bytes)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        services = await (services_factory or build_services)(settings)
        app[SERVICES] = services
        _mount(app, services)
        services.start()
        if "telegram" in services.channels and services.autostart:
            await _start_telegram(services, polling=telegram_polling)
        log.info("tipbot serving channels: %s", ", ".join(sorted(services.channels)))
        yield
        await services.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/", _root)
    return app


async def _start_telegram(services: Services, *, polling: bool) -> None:
    from handlers.telegram import TelegramChannel, poll_updates, set_commands

    tg = services.channels["telegram"]
    assert isinstance(tg, TelegramChannel)
    try:
        await set_commands(tg, telegram_commands(services.catalog))
        catalog = services.catalog
        groups = {
            loc: [(c, catalog.text(k, loc)) for c, k in TELEGRAM_GROUP_COMMANDS] for loc in ("th", "en")
        }
        groups["default"] = groups[catalog.default_locale]
        await set_commands(tg, groups, groups=True)
    except Exception as exc:  # the command menu is a convenience; never block serving over it
        log.warning("could not set the Telegram command menu: %s", type(exc).__name__)
    if polling:
        task = poll_updates(tg, services.ingest, StoreKeyValue(services.store), stop=services.stop)
        services.tasks.append(asyncio.create_task(task, name="telegram-polling"))


def _mount(app: web.Application, services: Services) -> None:
    """Routes that need the built services are added on startup (the router is still open)."""
    s = services.settings
    if services.webchat is not None:
        strings = {
            loc: {k: v for k, v in services.catalog.messages[loc].items() if k.startswith("webchat.")}
            for loc in services.catalog.messages
        }
        app.router.add_routes(
            webchat_routes(services.webchat, services.ingest, strings, max_text_chars=s.max_text_chars)
        )
    if "line" in services.channels:
        from handlers.line import LineChannel
        from handlers.line import webhook_routes as line_routes

        line = services.channels["line"]
        assert isinstance(line, LineChannel)
        app.router.add_routes(line_routes(line, services.ingest, max_body_bytes=s.max_body_bytes))
    if "telegram" in services.channels:
        from handlers.telegram import TelegramChannel
        from handlers.telegram import webhook_routes as tg_routes

        tg = services.channels["telegram"]
        assert isinstance(tg, TelegramChannel)
        app.router.add_routes(tg_routes(tg, services.ingest, max_body_bytes=s.max_body_bytes))


async def _healthz(request: web.Request) -> web.StreamResponse:
    services = request.app.get(SERVICES)
    ok = services is not None and await services.store.ping()
    body: dict[str, Any] = {"status": "ok" if ok else "unavailable", "database": ok}
    if services is not None:
        body["channels"] = sorted(services.channels)
    return web.json_response(body, status=200 if ok else 503)


async def _root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/chat")


async def run_console(settings: Settings, name: str, stdin: TextIO, stdout: TextIO) -> int:
    """`tipbot chat`: one terminal conversation through the whole pipeline."""
    console = ConsoleChannel(stdout, max_text_chars=settings.max_text_chars)
    services = await build_services(
        settings,
        channels=[console],
        scope=[(console.name, name)],
        only_channels=[console.name],
        with_webchat=False,
    )
    interactive = stdin.isatty()
    try:
        # Deliver what was already waiting for this chat (e.g. alerts to a staff console).
        await services.settle()
        if console.sent == 0:
            await services.ingest([console.event(name, "/start")])
            await services.settle()
        while True:
            if interactive:
                stdout.write("> ")
                stdout.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            if not line.strip():
                continue
            if not interactive:
                stdout.write("> " + line.rstrip("\n") + "\n")
            try:
                await services.ingest([console.event(name, line)])
            except StorageUnavailable:
                stdout.write("! database unavailable\n")
                continue
            await services.settle(timeout=30)
    finally:
        await services.close()
    return 0
