"""Scheduled work: acknowledgement reminders, escalation to central, daily digests, and the
sweep of evidence that no tip and no draft holds; the purge of processed inbox rows (payloads,
then the rows themselves) after their retention.

Runs in every server process; each run writes its marks (reminded_at, escalated_at, the digest
date) in the same transaction as the messages it queues, so a run never repeats work, and holds a
named lock for that transaction, so two processes never run one at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.core.engine import draft_attachment_ids
from bot.core.ports import MediaStore, StorageUnavailable, Store
from bot.core.state import State
from bot.runtime.retention import Retention
from bot.runtime.staff import StaffDesk

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
        media: MediaStore | None = None,
        orphan_grace: timedelta = timedelta(hours=1),
        inbox_payload_ttl: timedelta | None = None,
        inbox_keep: timedelta | None = None,
        desk_sweep: Callable[[], Awaitable[tuple[int, int]]] | None = None,
        retention: Retention | None = None,
    ) -> None:
        self.desk_sweep = desk_sweep
        self.retention = retention
        self.inbox_payload_ttl = inbox_payload_ttl
        self.inbox_keep = inbox_keep
        self.media = media
        self.orphan_grace = orphan_grace
        self.store = store
        self.desk = desk
        self.clock = clock
        self.ack_reminder = ack_reminder
        self.digest_hour = digest_hour
        self.on_commit = on_commit

    async def tick(self) -> int:
        try:
            await self.sweep_orphans()
        except StorageUnavailable:
            raise
        except Exception:  # the sweep must not stop reminders and digests
            log.exception("orphan sweep failed")
        try:
            await self.purge_inbox()
        except StorageUnavailable:
            raise
        except Exception:  # the purge must not stop reminders and digests either
            log.exception("inbox purge failed")
        if self.desk_sweep is not None:
            try:
                links, sessions = await self.desk_sweep()
                if links or sessions:
                    log.info("desk sweep: %d sign-in links and %d sessions removed", links, sessions)
            except StorageUnavailable:
                raise
            except Exception:
                log.exception("desk sweep failed")
        if self.retention is not None:
            try:
                await self.retention.daily()
            except StorageUnavailable:
                raise
            except Exception:  # retention must not stop reminders and digests
                log.exception("retention run failed")
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

    async def sweep_orphans(self, batch: int = 500) -> int:
        """Delete evidence that belongs to no tip and that no draft holds, after the grace period.

        Such rows are left by drafts that were cancelled, replaced or declined. The rows go in
        one transaction under a named lock (one process at a time); their files after the commit,
        so a failed transaction never leaves a row without its file.
        """
        if self.media is None:
            return 0
        now = self.clock()
        async with self.store.transaction() as uow:
            if not await uow.try_lock("orphan_sweep"):
                return 0
            candidates = await uow.attachments.unlinked(now - self.orphan_grace, batch)
            held: set[int] = set()
            for contact_id in sorted({c for _, c in candidates if c is not None}):
                stored, _ = await uow.conversations.load(contact_id)
                held |= draft_attachment_ids(State.from_dict(stored))
            names = await uow.attachments.delete_unlinked([i for i, _ in candidates if i not in held])
        for name in names:
            self.media.delete(name)
        if names:
            log.info("orphan sweep removed %d attachments", len(names))
        return len(names)

    async def purge_inbox(self, batch: int = 2000, rounds: int = 10) -> tuple[int, int]:
        """Clear the raw payloads of processed inbox rows after `inbox_payload_ttl` and delete
        the rows after `inbox_keep`; returns (payloads cleared, rows deleted).

        Short transactions of `batch` rows each (a backlog is worked off over several ticks
        rather than holding the one SQLite writer for long), each under a named lock; then the
        freed pages go back to the file system (SQLite).
        """
        if self.inbox_payload_ttl is None or self.inbox_keep is None:
            return 0, 0
        cleared = deleted = 0
        for _ in range(rounds):
            now = self.clock()
            async with self.store.transaction() as uow:
                if not await uow.try_lock("inbox_purge"):
                    break
                c, d = await uow.inbox.purge(now - self.inbox_payload_ttl, now - self.inbox_keep, batch)
            cleared, deleted = cleared + c, deleted + d
            if c < batch and d < batch:
                break
        if cleared or deleted:
            await self.store.reclaim_space()
            log.info("inbox purge: %d payloads cleared, %d rows deleted", cleared, deleted)
        return cleared, deleted

    async def run(self, stop: asyncio.Event, interval: float = 60.0) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except StorageUnavailable:
                log.warning("database unavailable; scheduler skips this round")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
