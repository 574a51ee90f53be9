"""Telegram long polling: getUpdates into the inbox when there is no public URL for a webhook.

Owns the stored offset and the backoff; the updates are shaped by `handlers.telegram` exactly as a
webhook would store them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from contextlib import suppress
from typing import Final, TypeVar

from telegram.error import Conflict, NetworkError, RetryAfter, TelegramError

from bot.core.model import InboxEvent
from bot.core.ports import EventRejected, Ingest, KeyValueStore, StorageUnavailable
from handlers.telegram import ALLOWED_UPDATES, TelegramChannel, retry_after_seconds
from handlers.telegram_setup import delete_webhook

# the channel's logger, so that operators filter one name for everything Telegram
log = logging.getLogger("handlers.telegram")

OFFSET_KEY: Final = "telegram.offset"

T = TypeVar("T")


class _Stopped(Exception):
    pass


async def poll_updates(
    channel: TelegramChannel,
    ingest: Ingest,
    offsets: KeyValueStore,
    *,
    stop: asyncio.Event,
    timeout: int = 30,
    allowed_updates: Sequence[str] | None = ALLOWED_UPDATES,
    max_backoff: float = 30.0,
) -> None:
    """Long-poll getUpdates into `ingest` (development without a public URL) until `stop` is set.

    The offset is stored only after `ingest` returns, so a crash re-fetches rather than loses.
    """
    backoff = _Backoff(max_backoff)
    while True:
        try:
            await _unless_stopped(stop, delete_webhook(channel))
            break
        except _Stopped:
            return
        except TelegramError as exc:
            log.warning("telegram polling: deleteWebhook failed (%s)", type(exc).__name__)
            if await _sleep_or_stop(stop, backoff.next()):
                return
    last = await _stored_offset(offsets)
    while not stop.is_set():
        offset = None if last is None else last + 1
        try:
            raw = await _unless_stopped(stop, channel.get_updates_raw(offset, timeout, allowed_updates))
        except _Stopped:
            return
        except RetryAfter as exc:
            if await _sleep_or_stop(stop, retry_after_seconds(exc)):
                return
            continue
        except TelegramError as exc:
            # Conflict: a webhook was set again or another poller runs; back off and retry
            level = logging.WARNING if isinstance(exc, Conflict | NetworkError) else logging.ERROR
            log.log(level, "telegram polling: getUpdates failed (%s)", type(exc).__name__)
            if await _sleep_or_stop(stop, backoff.next()):
                return
            continue
        events: list[InboxEvent] = []
        newest = last
        for item in raw:
            try:
                event = channel.inbox_event(item)
            except ValueError:
                log.warning("telegram polling: skipped an item that is not an Update")
                continue
            events.append(event)
            update_id = item["update_id"]
            newest = update_id if newest is None else max(newest, update_id)
        try:
            if events:
                await ingest(events)
            if newest is not None and newest != last:
                await offsets.set(OFFSET_KEY, str(newest))
                last = newest
        except EventRejected as exc:
            # the batch's other updates are stored; refetching cannot store the refused one
            log.warning("telegram polling: %s", exc)
            if newest is not None and newest != last:
                try:
                    await offsets.set(OFFSET_KEY, str(newest))
                    last = newest
                except StorageUnavailable:
                    pass  # fetched again next round; the stored ones dedupe
        except StorageUnavailable:
            log.warning("telegram polling: storage unavailable, fetching the same updates again")
            if await _sleep_or_stop(stop, backoff.next()):
                return
            continue
        backoff.reset()


async def _stored_offset(offsets: KeyValueStore) -> int | None:
    stored = await offsets.get(OFFSET_KEY)
    if stored is None:
        return None
    try:
        return int(stored)
    except ValueError:
        log.error("telegram polling: stored offset is not a number; starting from the queue head")
        return None


class _Backoff:
    def __init__(self, ceiling: float) -> None:
        self._ceiling = ceiling
        self._delay = 0.5

    def next(self) -> float:
        self._delay = min(self._delay * 2, self._ceiling)
        return self._delay

    def reset(self) -> None:
        self._delay = 0.5


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep, waking early when stopped; True when stopped."""
    with suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()


async def _unless_stopped(stop: asyncio.Event, work: Awaitable[T]) -> T:
    """Await `work`, abandoning it when `stop` is set first (a long poll may take 30 s)."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stopper):
            if not pending.done():
                pending.cancel()
        with suppress(asyncio.CancelledError):
            await stopper
    if not task.done() or task.cancelled():
        with suppress(asyncio.CancelledError, TelegramError):
            await task
        raise _Stopped
    return task.result()
