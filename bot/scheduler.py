"""Scheduled work: acknowledgement reminders, escalation to central, daily digests.

Runs in every server process; each run writes its marks (reminded_at, escalated_at, the digest
date) in the same transaction as the messages it queues, so a run never repeats work, and holds a
named lock for that transaction, so two processes never run one at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.ports import StorageUnavailable, Store
from bot.staff import StaffDesk

log = logging.getLogger("tipbot.scheduler")


class Scheduler:
    def __init__(
        self,
        *,
        store: Store,
        desk: StaffDesk,
        clock: Callable[[], datetime],
        ack_reminder: timedelta,
        digest_hour: int,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.desk = desk
        self.clock = clock
        self.ack_reminder = ack_reminder
        self.digest_hour = digest_hour
        self.on_commit = on_commit

    async def tick(self) -> int:
        now = self.clock()
        async with self.store.transaction() as uow:
            if not await uow.try_lock("scheduler"):
                log.debug("scheduler tick skipped: another process is running one")
                return 0
            sent = await self.desk.remind(uow, now, self.ack_reminder)
            if self.digest_hour >= 0:
                sent += await self.desk.digest(uow, now, self.digest_hour, self.ack_reminder)
        if sent:
            log.info("scheduler queued %d staff messages", sent)
            self.on_commit()
        return sent

    async def run(self, stop: asyncio.Event, interval: float = 60.0) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except StorageUnavailable:
                log.warning("database unavailable; scheduler skips this round")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
