"""The relay: claims due outbox rows, renders them through the catalog and sends them through
the channel adapters, retrying by error class and recording every outcome.

Talks to storage and channels only through `bot.core.ports`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from aiolimiter import AsyncLimiter

from bot import metrics
from bot.core.catalog import Catalog
from bot.core.model import Address, Outbound, OutboxItem, Reply, SendResult, SendStatus, reply_from_data
from bot.core.ports import Channel, MediaStore, StorageUnavailable, Store
from bot.runtime.scrubber import Scrubber
from bot.runtime.worker import work_loop

log = logging.getLogger("tipbot.relay")

MAX_ATTEMPTS = 15
MAX_BACKOFF = 600.0
PAUSE = timedelta(hours=1)
#: what staff get instead of an evidence file that has no safe copy
HELD_NOTICE = "staff.attachment_held"


def backoff(attempts: int, rnd: Callable[[], float] = random.random) -> float:
    """Capped exponential backoff with full jitter (at least one second)."""
    return max(1.0, rnd() * min(MAX_BACKOFF, 2.0 ** min(attempts, 12)))


class Pacing:
    """Keeps sends within a platform's rate: overall, and per chat for bulk (non-reply) messages.

    A channel opts in with `rate_per_second` / `rate_per_chat` attributes (messages per second).
    Replies to a volunteer are not slowed per chat: they answer what the volunteer just did.
    One instance is shared by everything that sends (relay, broadcaster), so the limits hold
    for the process as a whole.
    """

    def __init__(self, max_chats: int = 10_000) -> None:
        self._overall: dict[str, AsyncLimiter] = {}
        self._calls: dict[str, AsyncLimiter] = {}
        self._chats: OrderedDict[tuple[str, str], AsyncLimiter] = OrderedDict()
        self._max_chats = max_chats

    async def wait(self, channel: Channel, item: OutboxItem) -> None:
        await self.wait_chat(item.channel, channel, item.chat_id, bulk=item.kind != "reply")

    async def wait_chat(self, name: str, channel: Channel, chat_id: str, *, bulk: bool) -> None:
        overall = getattr(channel, "rate_per_second", None)
        if overall:
            limiter = self._overall.setdefault(name, AsyncLimiter(overall, 1.0))
            await limiter.acquire()
        per_chat = getattr(channel, "rate_per_chat", None)
        if per_chat and bulk:
            key = (name, chat_id)
            limiter = self._chats[key] if key in self._chats else AsyncLimiter(1, 1.0 / per_chat)
            self._chats.pop(key, None)
            self._chats[key] = limiter  # most recently used last
            while len(self._chats) > self._max_chats:
                self._chats.popitem(last=False)
            await limiter.acquire()

    async def wait_calls(self, name: str, per_second: float) -> None:
        """Pace calls of one kind (LINE multicast requests) at `per_second`."""
        if per_second > 0:
            await self._calls.setdefault(name, AsyncLimiter(per_second, 1.0)).acquire()


class Relay:
    def __init__(
        self,
        *,
        store: Store,
        channels: Mapping[str, Channel],
        catalog: Catalog,
        scope: Sequence[tuple[str, str | None]] | None = None,
        media: MediaStore | None = None,
        scrubber: Scrubber | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rnd: Callable[[], float] = random.random,
        concurrency: int = 8,
        pacing: Pacing | None = None,
        holder: str | None = None,
    ) -> None:
        self.store = store
        #: the process incarnation the rows are leased to (`bot.runtime.heartbeat.Heartbeat.incarnation`)
        self.holder = holder or uuid.uuid4().hex
        self.channels = channels
        self.catalog = catalog
        self.media = media
        # Image work never runs on the event loop; without a configured worker, a thread does it.
        self.scrubber = scrubber or Scrubber(processes=0)
        self.scope = list(scope) if scope is not None else [(name, None) for name in channels]
        self.clock = clock
        self.rnd = rnd
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()
        self._sem = asyncio.Semaphore(concurrency)
        self.pacing = pacing or Pacing()
        self._stop: asyncio.Event | None = None
        self._starting: list[tuple[int, asyncio.Future[bool]]] = []
        self._starter: asyncio.Task[None] | None = None
        self._sent: list[tuple[OutboxItem, SendResult, asyncio.Future[None]]] = []
        self._settler: asyncio.Task[None] | None = None
        #: rows left leased to this process when the database went away mid-drain
        self._unreleased: list[int] = []

    async def run(self, stop: asyncio.Event, fallback_poll: float = 1.0) -> None:
        """Send until `stop` (between sends, never in the middle of one)."""
        self._stop = stop

        async def drain() -> int:
            return await self.drain(stop)

        await work_loop(
            "relay", drain, stop=stop, wake=self.wake, idle=self.idle, fallback_poll=fallback_poll
        )

    async def drain(self, stop: asyncio.Event | None = None, limit: int = 100) -> int:
        async with self.store.transaction() as uow:
            if self._unreleased:
                await uow.outbox.release(self._unreleased, self.clock(), holder=self.holder)
                self._unreleased = []
            due = await uow.outbox.due(self.clock(), limit, self.scope, self.holder)
        if not due:
            return 0
        by_chat: OrderedDict[tuple[str, str], list[OutboxItem]] = OrderedDict()
        for item in due:
            by_chat.setdefault((item.channel, item.chat_id), []).append(item)
        stopped: list[int] = []
        blocked: list[tuple[int, list[int]]] = []
        outage: list[StorageUnavailable] = []

        async def one_chat(items: list[OutboxItem]) -> None:
            async with self._sem:
                for n, it in enumerate(items):
                    if stop is not None and stop.is_set():
                        # stop between sends, never in the middle of one
                        stopped.extend(i.id for i in items[n:] if i.id is not None)
                        return
                    try:
                        go_on = await self.deliver(it)
                    except StorageUnavailable as exc:
                        # free the rest now rather than at the lease cap (a send that went out
                        # unrecorded keeps its in-flight mark, so its resend is recorded)
                        outage.append(exc)
                        stopped.extend(i.id for i in items[n:] if i.id is not None)
                        return
                    if not go_on:
                        # keep the chat's order: later rows become due with this one
                        assert it.id is not None
                        later = [i.id for i in items[n + 1 :] if i.id is not None]
                        if later:
                            blocked.append((it.id, later))
                        return

        await asyncio.gather(*(one_chat(v) for v in by_chat.values()))
        if stopped or blocked:
            # Rows never attempted are not in doubt; rows left by a stop are free for any relay now.
            try:
                async with self.store.transaction() as uow:
                    if stopped:
                        await uow.outbox.release(stopped, self.clock(), holder=self.holder)
                    for behind, later in blocked:
                        await uow.outbox.release(later, None, holder=self.holder, behind=behind)
            except StorageUnavailable:
                self._unreleased += stopped + [i for _, later in blocked for i in later]
                raise
        if outage:
            raise outage[0]
        return len(due)

    async def _begin_send(self, item_id: int) -> bool:
        """Mark the row as being sent; False when it is no longer leased to this process.

        Marks of sends that start together (one per chat) share one transaction."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._starting.append((item_id, future))
        if self._starter is None or self._starter.done():
            self._starter = asyncio.create_task(self._mark_starts())
        return await future

    async def _mark_starts(self) -> None:
        while self._starting:
            batch, self._starting = self._starting, []
            try:
                async with self.store.transaction() as uow:
                    ours = await uow.outbox.start([i for i, _ in batch], self.holder, self.clock())
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for i, future in batch:
                if not future.done():
                    future.set_result(i in ours)

    async def deliver(self, item: OutboxItem) -> bool:
        """Send one row. True when the chat may go on to its next row."""
        assert item.id is not None
        channel = self.channels.get(item.channel)
        if channel is None:
            return False
        locale = str(item.payload.get("locale") or self.catalog.default_locale)
        messages = [self.catalog.render(reply_from_data(r), locale) for r in item.payload.get("replies", [])]
        now = self.clock()
        token = item.reply_token if item.reply_token_expires and item.reply_token_expires > now else None
        await self.pacing.wait(channel, item)
        # Only from here may the row go out: a crash before this leaves it not in doubt.
        if not await self._begin_send(item.id):
            log.warning("outbox %s was taken over by another process; not sent here", item.id)
            return False
        try:
            messages, files = await self._files(item, messages, locale)
            result = await channel.send(
                Address(item.channel, item.chat_id),
                messages,
                reply_token=token,
                retry_key=item.idempotency_key,
                attachments=files,
            )
        except Exception as exc:  # an adapter bug must not kill the relay: treat as retryable
            log.error("send raised for outbox %s: %s", item.id, type(exc).__name__, exc_info=exc)
            result = SendResult(SendStatus.RETRY, error=type(exc).__name__)
        if item.in_doubt and not result.possible_duplicate:
            # The previous sender of this row never recorded an outcome: it may have sent it
            # already. Recorded whatever this attempt gives, so a later success keeps the mark.
            log.warning("outbox %s attempted again after an unrecorded attempt (possible duplicate)", item.id)
            result = dataclasses.replace(result, possible_duplicate=True)
        self._count(item, result)
        return await self._record(item, result)

    def _count(self, item: OutboxItem, result: SendResult) -> None:
        outcome = result.status.value if result.status != SendStatus.PERMANENT else "failed"
        metrics.SENDS.labels(item.channel, outcome, metrics.error_class(result.error)).inc()
        event_at = item.payload.get("event_at")
        if result.status == SendStatus.SENT and item.kind == "reply" and isinstance(event_at, str):
            try:
                waited = (datetime.now(UTC) - datetime.fromisoformat(event_at)).total_seconds()
            except ValueError:
                return
            metrics.EVENT_TO_REPLY_SECONDS.labels(item.channel).observe(max(0.0, waited))

    async def _record(self, item: OutboxItem, result: SendResult) -> bool:
        """Settle the row; after a send, keep trying while the database is away (a lost outcome
        would make the row go out again once its lease ends)."""
        delay = 0.5
        for _ in range(40):
            try:
                return await self._settle(item, result)
            except StorageUnavailable:
                if result.status != SendStatus.SENT or (self._stop is not None and self._stop.is_set()):
                    raise
                log.warning("outbox %s sent but not yet recorded: database unavailable", item.id)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        return await self._settle(item, result)

    async def _files(
        self, item: OutboxItem, messages: list[Outbound], locale: str
    ) -> tuple[list[Outbound], dict[int, bytes] | None]:
        """Evidence files the messages carry, as copies without metadata (the original stays stored).

        A file with no safe copy (unreadable, too large, not an image) is not sent: its message
        becomes the notice that the file is held and an operator can fetch it.
        """
        wanted = [m.attachment_id for m in messages if m.attachment_id is not None]
        if not wanted or self.media is None:
            return messages, None
        files: dict[int, bytes] = {}
        async with self.store.transaction() as uow:
            found = {i: await uow.attachments.file(i) for i in wanted}
        held: set[int] = set()
        for attachment_id, stored in found.items():
            if stored is not None:
                name, mime = stored
                copy = await self.scrubber.scrub(self.media.get(name), mime)
                if copy.data is None:
                    log.info("evidence %s held for outbox %s: %s", attachment_id, item.id, copy.outcome)
                    held.add(attachment_id)
                else:
                    files[attachment_id] = copy.data
        if held:
            replies = item.payload.get("replies", [])
            messages = [
                self.catalog.render(Reply(HELD_NOTICE, reply_from_data(replies[n]).params), locale)
                if m.attachment_id in held and n < len(replies)
                else m
                for n, m in enumerate(messages)
            ]
        return messages, files

    async def _settle_sent(self, item: OutboxItem, result: SendResult) -> bool:
        """Record a sent row. Sends that finish together share one transaction (a group
        commit): the outcome is durable before this returns, as for any other outcome."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sent.append((item, result, future))
        if self._settler is None or self._settler.done():
            self._settler = asyncio.create_task(self._mark_sent())
        await future
        return True

    async def _mark_sent(self) -> None:
        while self._sent:
            batch, self._sent = self._sent, []
            try:
                now = self.clock()
                async with self.store.transaction() as uow:
                    for item, result, _ in batch:
                        assert item.id is not None
                        await uow.outbox.settle(
                            item.id,
                            status="sent",
                            attempts=item.attempts + 1,
                            now=now,
                            possible_duplicate=result.possible_duplicate,
                        )
            except Exception as exc:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, _, future in batch:
                if not future.done():
                    future.set_result(None)

    async def _settle(self, item: OutboxItem, result: SendResult) -> bool:
        assert item.id is not None
        if result.status == SendStatus.SENT:
            return await self._settle_sent(item, result)
        now = self.clock()
        attempts = item.attempts + 1
        async with self.store.transaction() as uow:
            if result.status == SendStatus.RETRY:
                if attempts >= MAX_ATTEMPTS:
                    await uow.outbox.settle(
                        item.id, status="failed", attempts=attempts, now=now, error=result.error
                    )
                    log.error("outbox %s failed after %d attempts: %s", item.id, attempts, result.error)
                    return True
                wait = result.retry_after if result.retry_after is not None else backoff(attempts, self.rnd)
                await uow.outbox.settle(
                    item.id,
                    status="pending",
                    attempts=attempts,
                    now=now,
                    next_attempt_at=now + timedelta(seconds=wait),
                    error=result.error,
                    possible_duplicate=result.possible_duplicate,
                )
                return False
            if result.status == SendStatus.PAUSED:
                # LINE's monthly limit: park the row, no hot loop; `tipbot status` shows the pause.
                await uow.outbox.settle(
                    item.id,
                    status="pending",
                    attempts=item.attempts,
                    now=now,
                    next_attempt_at=now + PAUSE,
                    error=result.error,
                )
                await uow.kv.set(f"paused.{item.channel}", (now + PAUSE).isoformat())
                return False
            if result.status == SendStatus.MIGRATED and result.new_chat_id:
                await uow.staff.migrate(item.channel, item.chat_id, result.new_chat_id)
                await uow.outbox.retarget(item.id, result.new_chat_id)
                await uow.outbox.settle(
                    item.id, status="pending", attempts=attempts, now=now, next_attempt_at=now
                )
                self.wake.set()
                return False
            if result.status == SendStatus.UNREACHABLE:
                await uow.contacts.set_reachable(item.channel, item.chat_id, False)
                if item.staff_chat_id is not None:
                    # The bot was removed from a staff group: stop alerting it.
                    await uow.staff.deactivate(item.staff_chat_id, now)
            await uow.outbox.settle(
                item.id,
                status="failed",
                attempts=attempts,
                now=now,
                error=result.error or result.status.value,
            )
            return True
