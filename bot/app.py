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
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot import metrics
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
from storage.database import create_engine, is_sqlite, listen, sqlite_path, upgrade_async
from storage.media import FileMediaStore
from storage.reports import queue_depths
from storage.repositories import INBOX_CHANNEL, SqlStore
from storage.spool import Spool, SpoolError

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
    """`bot.ports.Ingest`: one transaction for a request's events, then wake the dispatcher.

    With a spool, events that the database cannot take are written to disk instead (and the
    request is answered 200); while spooled files wait, new events queue behind them so each
    chat's events keep their order.
    """

    def __init__(
        self,
        store: SqlStore,
        wake: Callable[[], None],
        crash_at: str = "",
        spool: Spool | None = None,
    ) -> None:
        self.store = store
        self.wake = wake
        self.crash_at = crash_at
        self.spool = spool
        self.spooled = asyncio.Event()
        self._waiting: list[tuple[Sequence[InboxEvent], asyncio.Future[int]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def _commit(self, events: Sequence[InboxEvent]) -> int:
        """Group commit: requests that arrive while a transaction is running share the next one.

        A lone request is stored at once (no added wait); under load one INSERT and one commit
        serve many requests, each still answered only after the commit that holds its events.
        """
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append((events, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            events = [e for evs, _ in batch for e in evs]
            try:
                new = await self.store.ingest(events, datetime.now(UTC))
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(new)

    async def __call__(self, events: Sequence[InboxEvent]) -> int:
        if not events:
            return 0
        channel = events[0].channel
        started = time.monotonic()
        if self.spool is not None and self.spool.pending():
            return await self._to_spool(events, channel)
        try:
            new = await self._commit(events)
        except StorageUnavailable:
            if self.spool is None:
                metrics.EVENTS_REFUSED.labels(channel).inc(len(events))
                raise
            return await self._to_spool(events, channel)
        metrics.INGEST_SECONDS.labels(channel).observe(time.monotonic() - started)
        if self.crash_at == "after_ingest":
            os.kill(os.getpid(), signal.SIGKILL)
        if new:
            self.wake()
        return new

    async def _to_spool(self, events: Sequence[InboxEvent], channel: str) -> int:
        assert self.spool is not None
        try:
            await asyncio.to_thread(self.spool.put, events)
        except OSError as exc:
            metrics.EVENTS_REFUSED.labels(channel).inc(len(events))
            log.error("spool write failed (%s): %d events refused", type(exc).__name__, len(events))
            raise StorageUnavailable("spool") from exc
        metrics.EVENTS_SPOOLED.labels(channel).inc(len(events))
        log.warning("database unavailable: %d %s events spooled to disk", len(events), channel)
        self.spooled.set()
        return len(events)

    async def replay(self, stop: asyncio.Event, interval: float = 2.0) -> None:
        """Move spooled events into the inbox, oldest first, whenever the database answers."""
        assert self.spool is not None
        while not stop.is_set():
            self.spooled.clear()
            for path in self.spool.files():
                try:
                    events = await asyncio.to_thread(self.spool.read, path)
                except FileNotFoundError:
                    continue  # another process sharing the folder replayed it
                except Exception as exc:  # an unreadable file is kept for the operator
                    log.error("spool file %s unreadable: %s", path.name, type(exc).__name__)
                    continue
                try:
                    new = await self.store.ingest(events, datetime.now(UTC))
                except StorageUnavailable:
                    break
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                log.info("replayed %d spooled events (%d new)", len(events), new)
                self.wake()
            metrics.SPOOL_FILES.set(self.spool.pending())
            waiter = asyncio.ensure_future(self.spooled.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()


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
        if self.ingest.spool is not None:
            self.tasks.append(asyncio.create_task(self.ingest.replay(self.stop), name="spool-replay"))
        if not self.settings.workers:
            return  # webhooks only: `tipbot worker` processes do the rest, woken by NOTIFY
        # Load the Thai dictionaries now rather than on the first volunteer's message.
        self.tasks.append(asyncio.create_task(self._warm_up(), name="warm-up"))
        wake = self.dispatcher.wake.set
        listener = listen(self.store.engine, INBOX_CHANNEL, wake, self.stop)
        self.tasks.append(asyncio.create_task(listener, name="inbox-notifications"))
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

    async def _log_leftovers(self) -> None:
        """What a stopped process leaves for the next one (all of it durable)."""
        try:
            depths = await queue_depths(self.store)
        except StorageUnavailable:
            log.warning("stopped; database unavailable, queues unknown")
            return
        spooled = self.ingest.spool.pending() if self.ingest.spool is not None else 0
        log.info(
            "stopped: inbox pending %d, outbox pending %d, spooled files %d",
            depths["inbox"].get("pending", 0),
            depths["outbox"].get("pending", 0),
            spooled,
        )

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
        if self.tasks:
            await self._log_leftovers()
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
    return SqlStore(create_engine(settings.database_url), outbox_lease=settings.outbox_lease)


async def build_services(
    settings: Settings,
    *,
    channels: Sequence[Channel] = (),
    scope: Sequence[tuple[str, str | None]] | None = None,
    only_channels: Sequence[str] | None = None,
    with_webchat: bool | None = None,
    migrate: bool | None = None,
    clock: Callable[[], datetime] | None = None,
    autostart: bool = True,
) -> Services:
    store = await open_store(settings, migrate=migrate)
    catalog = Catalog.load(default_locale=settings.default_locale)
    regions = RegionTable.load(settings.regions_file)
    chans: dict[str, Channel] = {c.name: c for c in channels}
    webchat = None
    if settings.webchat if with_webchat is None else with_webchat:
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
        # Events of a channel this process does not serve stay pending for one that does
        # (e.g. web chat events while several processes share the database).
        only_channels=only_channels if only_channels is not None else sorted(chans),
        on_commit=relay.wake.set,
        clock=now,
        desk=desk,
        broadcasts=BroadcastDesk(
            regions=regions, channels=list(chans), line_quota=settings.line_monthly_quota, entropy=os.urandom
        ),
        on_broadcast=broadcaster.wake.set,
    )
    spool = Spool(settings.spool_dir) if settings.spool_dir is not None else None
    ingest = StoreIngest(store, dispatcher.wake.set, settings.crash_at, spool)
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
    if settings.spool_dir is not None:
        try:
            Spool(settings.spool_dir).check()
        except SpoolError as exc:
            # Refuse to start: a broken spool would silently drop events during an outage.
            raise ConfigError(str(exc)) from exc
    draining = Draining()
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[draining.middleware])
    app[DRAINING] = draining
    app.on_shutdown.append(draining.begin)

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
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/", _root)
    return app


class Draining:
    """Graceful shutdown of the web side: once SIGTERM arrives (aiohttp has stopped listening and
    calls `on_shutdown`), requests still arriving on open connections get 503 so the platform
    redelivers them elsewhere; requests already inside a handler finish their commit."""

    def __init__(self) -> None:
        self.active = False
        self.in_flight = 0

    async def begin(self, app: web.Application) -> None:
        self.active = True
        log.info("shutting down: refusing new requests, %d in flight finish first", self.in_flight)

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if self.active:
            return web.Response(
                status=503, text="shutting down", headers={"Retry-After": "5", "Connection": "close"}
            )
        self.in_flight += 1
        try:
            return await handler(request)
        finally:
            self.in_flight -= 1


DRAINING = web.AppKey("draining", Draining)


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


async def _metrics(request: web.Request) -> web.StreamResponse:
    """Prometheus text format; counters are this process's, queue and tip gauges the database's."""
    services = request.app.get(SERVICES)
    if services is not None:
        try:
            depths = await queue_depths(services.store)
        except StorageUnavailable:
            depths = None
        if depths is not None:
            metrics.QUEUE_DEPTH.clear()
            metrics.TIPS.clear()
            for queue in ("inbox", "outbox"):
                for status, n in depths[queue].items():
                    metrics.QUEUE_DEPTH.labels(queue, status).set(n)
            for (region, status), n in depths["tips"].items():
                metrics.TIPS.labels(region, status).set(n)
        if services.ingest.spool is not None:
            metrics.SPOOL_FILES.set(services.ingest.spool.pending())
    body = generate_latest(metrics.REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(request: web.Request) -> web.StreamResponse:
    services = request.app.get(SERVICES)
    draining = request.app.get(DRAINING)
    if draining is not None and draining.active:
        return web.json_response({"status": "stopping", "database": None}, status=503)
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


async def run_worker(settings: Settings) -> int:
    """`tipbot worker`: the dispatcher and the relay without a web server (no web chat, no
    scheduler), until SIGTERM or SIGINT; stops between events and between sends."""
    # a worker always works, even when it shares TIPBOT_WORKERS=false with webhook-only servers
    services = await build_services(settings.model_copy(update={"workers": True}), with_webchat=False)
    services.scheduler = None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, services.stop.set)
    services.start()
    log.info("tipbot worker running for channels: %s", ", ".join(sorted(services.channels)) or "none")
    try:
        await services.stop.wait()
        log.info("worker stopping: finishing the event and the send in progress")
    finally:
        await services.close()
    return 0
