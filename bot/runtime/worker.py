"""The loop the dispatcher and the relay share: drain, then sleep until woken (or a short poll)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.core.ports import StorageUnavailable

log = logging.getLogger("tipbot.worker")


async def work_loop(
    name: str,
    drain: Callable[[], Awaitable[int]],
    *,
    stop: asyncio.Event,
    wake: asyncio.Event,
    idle: asyncio.Event,
    fallback_poll: float,
) -> None:
    """Drain until nothing is left, then wait for `wake` (set in-process right after a commit).

    The fallback poll only picks up rows written by other processes and rows whose retry time
    has come; the hot path never sleeps. A database outage backs off up to 30 s.
    """
    backoff = 0.5
    while not stop.is_set():
        wake.clear()
        try:
            worked = await drain()
            backoff = 0.5
        except StorageUnavailable:
            log.warning("database unavailable; %s backing off %.1fs", name, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
            continue
        if worked:
            continue
        idle.set()
        waiter = asyncio.ensure_future(wake.wait())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({waiter, stopper}, timeout=fallback_poll, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        stopper.cancel()
        idle.clear()
