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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web, web_response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot import metrics
from bot.core.catalog import Catalog
from bot.core.cleantext import clean_event
from bot.core.forms.report import CATEGORIES
from bot.core.model import InboxEvent
from bot.core.ports import Channel, EventRejected, MediaStore, StorageUnavailable
from bot.core.related import Facts
from bot.core.related import signals as related_signals
from bot.core.routing import RegionTable, staff_warnings
from bot.core.understanding import ThaiUnderstanding
from bot.runtime.broadcast import BroadcastDesk, Broadcaster
from bot.runtime.casedesk import CaseDesk
from bot.runtime.dispatcher import Dispatcher
from bot.runtime.heartbeat import Heartbeat, default_instance
from bot.runtime.related import RelatedDesk
from bot.runtime.relay import Pacing, Relay
from bot.runtime.retention import Retention, retention_kinds
from bot.runtime.scheduler import Scheduler
from bot.runtime.scrubber import Scrubber
from bot.runtime.staff import StaffDesk
from bot.settings import Settings
from handlers.console import ConsoleChannel
from handlers.desk import DeskWeb
from handlers.ratelimit import Rate, WebChatLimits
from handlers.webchat import MENU_PAYLOADS as WEBCHAT_MENU
from handlers.webchat import UPLOAD_BODY_TIMEOUT, UPLOAD_PATH, WebChatChannel
from handlers.webchat import routes as webchat_routes
from storage.crypto import Keyring, install_keyring
from storage.database import create_engine, is_sqlite, listen, listen_payloads, sqlite_path, upgrade_async
from storage.media import FileMediaStore
from storage.reports import queue_depths
from storage.repositories import INBOX_CHANNEL, WEBCHAT_CHANNEL, SqlStore
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
    """`bot.core.ports.Ingest`: one transaction for a request's events, then wake the dispatcher.

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
            except StorageUnavailable as exc:
                # Every request of the batch is refused alike (503, or the spool); each gets its
                # own exception object, so no request sees another's traceback.
                for _, future in batch:
                    if not future.done():
                        future.set_exception(StorageUnavailable(str(exc)))
                continue
            except Exception:  # the rows, not the database: find the guilty request
                await self._isolate(batch)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(new)

    async def _isolate(self, batch: list[tuple[Sequence[InboxEvent], asyncio.Future[int]]]) -> None:
        """A shared INSERT failed for its content: store each request alone, so only the request
        that holds the offending event gets an error and every other one commits."""
        down: StorageUnavailable | None = None
        for events, future in batch:
            if future.done():
                continue
            if down is not None:  # the database went away meanwhile: no point trying each one
                future.set_exception(StorageUnavailable(str(down)))
                continue
            try:
                future.set_result(await self._store_alone(events))
            except StorageUnavailable as exc:
                down = exc
                future.set_exception(StorageUnavailable(str(exc)))
            except Exception as exc:
                future.set_exception(EventRejected(type(exc).__name__))

    async def _store_alone(self, events: Sequence[InboxEvent]) -> int:
        """One request's events; when they fail together, each event alone (the good ones are
        stored, then `EventRejected` for the request)."""
        try:
            return await self.store.ingest(events, datetime.now(UTC))
        except StorageUnavailable:
            raise
        except Exception as exc:
            if len(events) == 1:
                log.warning(
                    "%s event %s refused by the database: %s",
                    events[0].channel,
                    events[0].event_id[:80],
                    type(exc).__name__,
                )
                metrics.EVENTS_REFUSED.labels(events[0].channel).inc()
                raise EventRejected(type(exc).__name__) from None
        new, refused = 0, 0
        for event in events:
            try:
                new += await self._store_alone([event])
            except EventRejected:
                refused += 1
        if refused:
            raise EventRejected(f"{refused} of {len(events)} events")
        return new

    async def __call__(self, events: Sequence[InboxEvent]) -> int:
        if not events:
            return 0
        # The one place every channel's events pass (webhooks, polling, web and terminal chat):
        # text a database cannot store never goes further, whatever a client sent.
        events = [clean_event(e) for e in events]
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
                    new = await self._store_alone(events)
                except StorageUnavailable:
                    break
                except EventRejected as exc:
                    # The rest of the file is stored; what the database refuses for its content
                    # would block every later file, so it is logged (ids only) and dropped.
                    log.error("spool file %s: %s refused by the database", path.name, exc)
                    new = 0
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
    #: this process's identity and heartbeat: the leases its relay and broadcaster take name it
    heartbeat: Heartbeat | None = None
    #: the case desk's work (its web pages are mounted at /desk)
    casedesk: CaseDesk | None = None

    def start(self) -> None:
        if not self.autostart:
            return
        if self.heartbeat is not None:
            self.heartbeat.start()
        if self.ingest.spool is not None:
            self.tasks.append(asyncio.create_task(self.ingest.replay(self.stop), name="spool-replay"))
        if self.webchat is not None and self.settings.webchat:
            # another process's relay (a worker's too) wrote to a mailbox whose long poll waits here
            mailboxes = listen_payloads(self.store.engine, WEBCHAT_CHANNEL, self.webchat.changed, self.stop)
            self.tasks.append(asyncio.create_task(mailboxes, name="webchat-notifications"))
            self.tasks.append(asyncio.create_task(self.webchat.run(self.stop), name="webchat-uploads"))
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
        # the related-tips matcher's stop words and office patterns, before the first tip arrives
        facts = Facts("bribery", sample, None, None, "สุรินทร์", None, today)
        await asyncio.to_thread(related_signals, facts)

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
        if self.heartbeat is not None:
            await self.heartbeat.close()  # beats until the last send is recorded
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


def retention(
    settings: Settings, store: SqlStore, media: MediaStore | None, clock: Callable[[], datetime]
) -> Retention:
    """The retention kinds and their periods (see README "Retention")."""
    kinds = retention_kinds(
        closed_tips=timedelta(days=settings.retention_closed_days),
        drafts=timedelta(days=settings.retention_draft_days),
        messages=timedelta(days=settings.retention_message_days),
        inbox_payloads=settings.inbox_payload_ttl,
        inbox_rows=settings.inbox_keep,
    )
    return Retention(store=store, media=media, kinds=kinds, clock=clock)


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
    role: str = "serve",
) -> Services:
    store = await open_store(settings, migrate=migrate)
    catalog = Catalog.load(default_locale=settings.default_locale)
    regions = RegionTable.load(settings.regions_file)
    chans: dict[str, Channel] = {c.name: c for c in channels}
    webchat = None
    # The web chat's mailboxes live in the database: every process can relay to it (and serves
    # `/chat` when TIPBOT_WEBCHAT is on); `with_webchat=False` leaves it out altogether.
    if with_webchat is not False:
        webchat = WebChatChannel(
            store,
            settings.max_text_chars,
            max_media_bytes=settings.max_media_bytes,
            upload_ttl=settings.webchat_upload_ttl,
            clock=clock,
        )
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
        tg.rate_per_second = settings.telegram_rate
        await tg.start()
        closers.append(tg.close)
        chans[tg.name] = tg
    now = clock or (lambda: datetime.now(UTC))
    media = FileMediaStore(settings.media_dir)
    pacing = Pacing()
    scrubber = Scrubber(
        max_pixels=settings.evidence_max_pixels,
        memory_bytes=settings.evidence_worker_memory_mb * 1024 * 1024,
        timeout=settings.evidence_timeout,
        processes=settings.evidence_workers,
        send_files=settings.evidence_send_files,
    )
    closers.append(scrubber.close)
    heartbeat = Heartbeat(
        store=store,
        instance=settings.instance or default_instance(role, settings.port if role == "serve" else None),
        role=role,
        timeout=settings.heartbeat_timeout,
        clock=now,
    )
    relay = Relay(
        store=store,
        channels=chans,
        catalog=catalog,
        scope=scope,
        clock=now,
        media=media,
        pacing=pacing,
        scrubber=scrubber,
        holder=heartbeat.incarnation,
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
        holder=heartbeat.incarnation,
    )

    def freed() -> None:  # leases of a gone process are free: send them now
        relay.wake.set()
        broadcaster.wake.set()

    heartbeat.on_free = freed
    desk = StaffDesk(
        entropy=os.urandom,
        detail=settings.alert_detail,
        excerpt_chars=settings.alert_excerpt_chars,
        related=RelatedDesk(
            window=settings.related_window,
            cluster_window=settings.related_group_window,
            cluster_min=settings.related_group_min,
        ),
        public_url=settings.public_url,
    )
    casedesk = CaseDesk(
        store=store,
        staff=desk,
        clock=now,
        idle_timeout=settings.desk_idle_timeout,
        overdue_after=settings.ack_reminder,
        media=media,
        scrubber=scrubber,
        on_commit=relay.wake.set,
    )
    reply_first = {}
    if "line" in chans:
        from handlers.line import REPLY_TOKEN_TTL

        # a LINE answer is a free reply only while its event's token lasts: those chats go first
        reply_first["line"] = REPLY_TOKEN_TTL
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
        reply_first=reply_first,
        privacy_url=privacy_url(settings),
        story_pause=settings.story_pause,
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
        media=media,
        orphan_grace=settings.orphan_grace,
        inbox_payload_ttl=settings.inbox_payload_ttl,
        inbox_keep=settings.inbox_keep,
        desk_sweep=casedesk.sweep,
        retention=retention(settings, store, media, now),
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
        heartbeat=heartbeat,
        casedesk=casedesk,
    )


SERVICES = web.AppKey("services", Services)

#: Telegram command menu: command → catalog key of its description
TELEGRAM_COMMANDS = ("start", "report", "status", "news", "help", "cancel", "mydata", "forget")
#: the menu Telegram shows in groups: command → catalog key
TELEGRAM_GROUP_COMMANDS = (
    ("join", "commands.group.join"),
    ("leave", "commands.group.leave"),
    ("tips", "commands.group.tips"),
    ("desk", "commands.group.desk"),
    ("help", "commands.group.help"),
)
RICH_MENU_LABELS = ("button.report", "button.my_tips", "richmenu.notices", "button.help")


def webchat_strings(catalog: Catalog, settings: Settings) -> dict[str, dict[str, Any]]:
    """Per locale, what the chat page shows of its own: its labels (`webchat.*`), the menu (the
    rich menu's labels and commands) and its limits."""
    out: dict[str, dict[str, Any]] = {}
    for loc, messages in catalog.messages.items():
        page: dict[str, Any] = {k: v for k, v in messages.items() if k.startswith("webchat.")}
        page["menu"] = [
            {"label": catalog.text(key, loc), "payload": payload}
            for key, payload in zip(RICH_MENU_LABELS, WEBCHAT_MENU, strict=True)
        ]
        page["max_text_chars"] = settings.max_text_chars
        page["max_media_bytes"] = settings.max_media_bytes
        page["too_large"] = catalog.text(
            "media.too_large", loc, {"mb": settings.max_media_bytes // (1024 * 1024)}
        )
        out[loc] = page
    return out


class StoreKeyValue:
    """`bot.core.ports.KeyValueStore` on the database (e.g. the Telegram polling offset)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    async def get(self, key: str) -> str | None:
        async with self.store.transaction() as uow:
            return await uow.kv.get(key)

    async def set(self, key: str, value: str) -> None:
        async with self.store.transaction() as uow:
            await uow.kv.set(key, value)


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
    metrics_bind = parse_bind(settings.metrics_bind)
    # aiohttp answers a request it cannot parse itself, before any middleware: without this its
    # `Server` header would name the framework and its version to whoever probes the port.
    web_response.SERVER_SOFTWARE = SERVER_NAME  # type: ignore[attr-defined]  # the name it reads
    guard = Guard(settings.http_body_timeout)
    draining = Draining()
    app = web.Application(
        client_max_size=settings.max_body_bytes, middlewares=[guard.middleware, draining.middleware]
    )
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
        await _warn_staff_gaps(services)
        metrics_site = await _serve_metrics(metrics_bind, services, settings) if metrics_bind else None
        yield
        if metrics_site is not None:
            await metrics_site.cleanup()
        await services.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/", _root)
    return app


async def _warn_staff_gaps(services: Services) -> None:
    """At start-up, say which regions (or the central office) have no staff chat to alert."""
    try:
        async with services.store.transaction() as uow:
            active = await uow.staff.regions()
    except StorageUnavailable:
        return
    for line in staff_warnings(active):
        log.warning("%s", line)


def server_options(settings: Settings) -> dict[str, Any]:
    """How the server treats connections: `web.run_app` and `web.AppRunner` take these keywords
    (a `TestServer` in its `start_server`).

    No access log: it would record volunteers' IP addresses next to the time they wrote. An idle
    connection is closed after the keep-alive timeout, and aiohttp counts a connection whose
    request head has not arrived in full as idle, so a head sent a byte at a time is cut off
    too. A body left unread after an early answer (401, 413) is drained no longer than a body
    may take to arrive, then the connection is closed.
    """
    return {
        "access_log": None,
        "keepalive_timeout": settings.http_keepalive_timeout,
        "lingering_time": settings.http_body_timeout,
        "logger": _server_log(),
    }


class RefusedRequestLog(logging.Filter):
    """aiohttp logs a request it refuses before any handler (a malformed request line or header)
    with the client's address and a traceback quoting the bytes it could not parse: keep only
    the kind of error, at INFO (internet noise, not a fault of ours)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Error handling request"):
            error = record.exc_info[1] if record.exc_info else None
            record.msg = "request refused before any handler: %s"
            record.args = (type(error).__name__ if error is not None else "error",)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def _server_log() -> logging.Logger:
    server_log = logging.getLogger("tipbot.http")
    if not any(isinstance(f, RefusedRequestLog) for f in server_log.filters):
        server_log.addFilter(RefusedRequestLog())
    return server_log


#: the `Server` header of every answer: no framework or version for a scanner to match
SERVER_NAME = "tipbot"
#: what every answer carries (the chat page adds its own policy and caching)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # JSON, webhooks, health and errors load nothing and are never framed
    "Content-Security-Policy": (
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    # answers are per request (health, a chat's messages): no cache or proxy keeps a copy
    "Cache-Control": "no-store",
}


def harden(response: web.StreamResponse) -> None:
    """The security headers, where the handler did not choose its own."""
    if response.prepared:
        return
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["Server"] = SERVER_NAME


class BodyTooSlow(Exception):
    """The request body did not arrive in full within the body timeout."""


class Guard:
    """The edge every request and answer of the app passes: a deadline for the request body,
    the security headers on every answer (404s, 405s, 413s and errors included), and errors that
    show no traceback and log no client address."""

    def __init__(self, body_timeout: float) -> None:
        self.body_timeout = body_timeout

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            response = await self._within_deadline(request, handler)
        except web.HTTPException as exc:
            harden(exc)
            raise
        except BodyTooSlow:
            return await self._too_slow(request)
        except ConnectionError:
            # the client went away mid-request (mostly mid-body): nobody to answer, nothing to fix
            log.debug("client went away during %s %s", request.method, _route(request))
            response = web.Response(status=400, text="connection lost")
            response.force_close()
        except Exception:
            # aiohttp's own 500 would log the client's address; the route is enough to debug
            log.exception("unhandled error on %s %s", request.method, _route(request))
            response = web.Response(status=500, text="internal error")
            response.force_close()
        harden(response)
        return response

    async def _within_deadline(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """The handler, cut short if the body has not arrived in full `body_timeout` after the head.

        Only the arrival counts: a handler may take longer (a long poll, a commit) once the
        body is in; a handler waiting for a body that trickles in is what the deadline stops.
        """
        if not request.body_exists or request.content.is_eof():
            return await handler(request)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(None) as deadline:

                def expire() -> None:
                    if not request.content.is_eof():
                        deadline.reschedule(loop.time())

                # an evidence file from a phone may take minutes on a slow line; nothing else may
                allowed = UPLOAD_BODY_TIMEOUT if request.path == UPLOAD_PATH else self.body_timeout
                timer = loop.call_later(max(allowed, self.body_timeout), expire)
                try:
                    return await handler(request)
                finally:
                    timer.cancel()
        except TimeoutError:
            if deadline.expired():
                raise BodyTooSlow from None
            raise

    async def _too_slow(self, request: web.Request) -> web.StreamResponse:
        response = web.Response(status=408, text="request body too slow")
        response.force_close()
        harden(response)
        # Sent here, then the connection is closed at once: left to aiohttp, the rest of the slow
        # body would still be read (its lingering close) before the connection is let go.
        with contextlib.suppress(ConnectionError):
            await response.prepare(request)
            await response.write_eof()
        request.protocol.force_close()
        return response


def _route(request: web.Request) -> str:
    """The route's pattern (never the path as sent, which a client may fill with anything)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "?"


def parse_bind(value: str) -> tuple[str, int] | None:
    """`host:port` (`[::1]:9108` for IPv6) of a listener; None when empty (no listener)."""
    value = value.strip()
    if not value:
        return None
    host, sep, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"TIPBOT_METRICS_BIND must be host:port or empty, not {value!r}")
    return host, int(port)


async def _serve_metrics(
    bind: tuple[str, int], services: Services, settings: Settings
) -> web.AppRunner | None:
    """The Prometheus listener, on its own address and port and never on the public one."""
    app = web.Application(middlewares=[Guard(settings.http_body_timeout).middleware])
    app[SERVICES] = services
    app.router.add_get("/metrics", _metrics)
    runner = web.AppRunner(app, **server_options(settings))
    await runner.setup()
    host, port = bind
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        # Tips come before their counters: a taken port is reported and serving goes on.
        log.error("metrics not served: cannot listen on %s:%d (%s)", host, port, exc.strerror or exc)
        await runner.cleanup()
        return None
    log.info("metrics served on %s:%d", host, port)
    return runner


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
    from handlers.telegram import TelegramChannel
    from handlers.telegram_polling import poll_updates
    from handlers.telegram_setup import set_commands

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


def privacy_pages(settings: Settings, catalog: Catalog) -> dict[str, str]:
    """The privacy notice in each language, saying the retention this server runs with."""
    from handlers.privacy import render_page

    params = {
        "closed_days": settings.retention_closed_days,
        "draft_days": settings.retention_draft_days,
        "message_days": settings.retention_message_days,
        "payload_hours": round(settings.inbox_payload_ttl.total_seconds() / 3600),
        "inbox_days": settings.inbox_keep.days,
        "controller": settings.controller_contact,
    }
    pages = {}
    for loc in ("th", "en"):

        def text(key: str, loc: str = loc) -> str:
            if key == "privacy.page.contact" and not settings.controller_contact.strip():
                key = "privacy.page.contact_unset"
            return catalog.text(key, loc, params)

        pages[loc] = render_page(text, loc, "en" if loc == "th" else "th")
    return pages


def privacy_url(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + "/privacy"


def _mount(app: web.Application, services: Services) -> None:
    """Routes that need the built services are added on startup (the router is still open)."""
    s = services.settings
    from handlers.privacy import privacy_routes

    app.router.add_routes(privacy_routes(privacy_pages(s, services.catalog), s.default_locale))
    if services.webchat is not None and s.webchat:
        strings = webchat_strings(services.catalog, s)
        limits = WebChatLimits(
            session=Rate(s.webchat_session_rate, s.webchat_session_burst),
            address=Rate(s.webchat_address_rate, s.webchat_address_burst),
            max_keys=s.webchat_limiter_keys,
            proxy_hops=s.trusted_proxy_hops,
        )
        app.router.add_routes(
            webchat_routes(
                services.webchat, services.ingest, strings, max_text_chars=s.max_text_chars, limits=limits
            )
        )
    if services.casedesk is not None:
        desk_web = DeskWeb(
            services.casedesk,
            services.catalog,
            public_url=s.public_url,
            signin=Rate(s.desk_signin_rate, s.desk_signin_burst),
            proxy_hops=s.trusted_proxy_hops,
            categories=tuple(CATEGORIES),
            provinces={p.name_th: p.region for p in services.regions.provinces},
        )
        app.router.add_routes(desk_web.routes())
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


async def run_console(
    settings: Settings, name: str, stdin: TextIO, stdout: TextIO, *, poll: float = 1.0
) -> int:
    """`tipbot chat`: one terminal conversation through the whole pipeline.

    While it waits for a line, what arrives for this chat (staff alerts, an `/ask` question, a
    status notice, queued by other processes) is shown every `poll` seconds, then the prompt again.
    """
    console = ConsoleChannel(stdout, max_text_chars=settings.max_text_chars)
    services = await build_services(
        settings,
        channels=[console],
        scope=[(console.name, name)],
        only_channels=[console.name],
        with_webchat=False,
        role="chat",
    )
    if services.heartbeat is not None:
        services.heartbeat.start()  # its leases, too, are free at once if it dies
    interactive = stdin.isatty()
    turn = asyncio.Lock()  # the poller never prints in the middle of a turn's answers

    async def show_arrivals() -> None:
        while True:
            await asyncio.sleep(poll)
            async with turn:
                before = console.sent
                with contextlib.suppress(StorageUnavailable, TimeoutError):
                    await services.settle()
                if interactive and console.sent != before:
                    stdout.write("> ")
                    stdout.flush()

    poller: asyncio.Task[None] | None = None
    try:
        # Deliver what was already waiting for this chat (e.g. alerts to a staff console).
        await services.settle()
        if console.sent == 0:
            await services.ingest([console.event(name, "/start")])
            await services.settle()
        poller = asyncio.create_task(show_arrivals())
        while True:
            if interactive:
                stdout.write("> ")
                stdout.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            if not line.strip():
                continue
            async with turn:
                if not interactive:
                    stdout.write("> " + line.rstrip("\n") + "\n")
                if len(line.rstrip("\n")) > settings.max_text_chars:
                    # refused whole, never cut: the story step joins several messages
                    stdout.write(
                        f"! message too long ({len(line.rstrip())} characters, at most "
                        f"{settings.max_text_chars}): nothing was sent; split it into several messages\n"
                    )
                    continue
                try:
                    await services.ingest([console.event(name, line)])
                except StorageUnavailable:
                    stdout.write("! database unavailable\n")
                    continue
                except EventRejected:
                    stdout.write("! message refused by the database\n")
                    continue
                await services.settle(timeout=30)
    finally:
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
        await services.close()
    return 0


async def run_worker(settings: Settings) -> int:
    """`tipbot worker`: the dispatcher and the relay without a web server (no web chat, no
    scheduler), until SIGTERM or SIGINT; stops between events and between sends."""
    # a worker always works, even when it shares TIPBOT_WORKERS=false with webhook-only servers
    services = await build_services(
        settings.model_copy(update={"workers": True, "webchat": False}), role="worker"
    )
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
