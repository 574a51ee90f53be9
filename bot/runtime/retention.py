"""Retention: what is erased after how long, as a registry of kinds, run once a day.

Each `Kind` says how much of it is due (`tipbot retention run --dry-run`, `tipbot status`) and
erases one batch in one transaction. Other areas add their own kinds to the list
`retention_kinds` returns (or pass `extra=`), and code that keeps data derived from a tip's
content adds an eraser to `TIP_ERASERS`: every erasure of a tip's content (a reporter's
withdrawal, or retention) calls each one in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.core import audit
from bot.core.ports import MediaStore, Store, UnitOfWork

log = logging.getLogger("tipbot.retention")

#: called with (uow, tip id, now) whenever a tip's content is erased, in that transaction
TipEraser = Callable[[UnitOfWork, int, datetime], Awaitable[None]]

#: The one place to hook "a tip's content was erased": e.g. the related-tips index removes the
#: tip's blind-index entries here. Append at start-up (the composition root), never per request.
TIP_ERASERS: list[TipEraser] = []

#: kv key of the (Thai) date of the last daily run: the day is claimed before the run
DAY_KEY = "retention_day"


async def erase_tip(
    uow: UnitOfWork, tip_id: int, now: datetime, erasers: Sequence[TipEraser] | None = None
) -> list[str]:
    """Erase a tip's content (statistics stay) and run every eraser; returns evidence file names
    to delete after the commit."""
    files = await uow.erasure.erase_tip(tip_id, now)
    await uow.related.forget(tip_id)  # the blind index holds keyed hashes of the content
    for eraser in TIP_ERASERS if erasers is None else erasers:
        await eraser(uow, tip_id, now)
    return files


@dataclass(frozen=True, slots=True)
class Batch:
    erased: int
    files: list[str] = field(default_factory=list)
    #: where the next batch starts; None when this kind is done for this run
    cursor: int | None = None


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    #: how many items are due now (for --dry-run and `tipbot status`)
    due: Callable[[UnitOfWork, datetime], Awaitable[int]]
    #: erase at most `limit` items from `cursor` on, in the caller's transaction
    erase: Callable[[UnitOfWork, datetime, int, int], Awaitable[Batch]]


def _done_when_short(erased: int, limit: int, cursor: int) -> int | None:
    return cursor + 1 if erased >= limit else None


def retention_kinds(
    *,
    closed_tips: timedelta,
    drafts: timedelta,
    messages: timedelta,
    inbox_payloads: timedelta,
    inbox_rows: timedelta,
    erasers: Sequence[TipEraser] | None = None,
    extra: Sequence[Kind] = (),
) -> list[Kind]:
    """The standard kinds, in the order they run, then `extra`."""

    async def closed_due(uow: UnitOfWork, now: datetime) -> int:
        return await uow.erasure.count_closed_tips(now - closed_tips)

    async def closed_erase(uow: UnitOfWork, now: datetime, limit: int, cursor: int) -> Batch:
        tips = await uow.erasure.closed_tips(now - closed_tips, limit)
        files: list[str] = []
        for tip in tips:
            files += await erase_tip(uow, tip.id, now, erasers)
            await uow.tips.add_event(tip.id, actor="system", action="retention_erased", at=now)
            await uow.audit.append(
                audit.SYSTEM, "retention", audit.TIP_ERASED, tip.case_code, "retention", now
            )
        return Batch(len(tips), files, _done_when_short(len(tips), limit, cursor))

    async def drafts_due(uow: UnitOfWork, now: datetime) -> int:
        n, after = 0, 0
        while True:
            found = await uow.erasure.idle_drafts(now - drafts, after, 1000)
            n += sum(1 for _, contact in found if contact >= 0)
            if len(found) < 1000:
                return n
            after = found[-1][0]

    async def drafts_erase(uow: UnitOfWork, now: datetime, limit: int, cursor: int) -> Batch:
        found = await uow.erasure.idle_drafts(now - drafts, cursor, limit)
        files: list[str] = []
        cleared = 0
        for _, contact in found:
            if contact >= 0:
                files += await uow.erasure.clear_draft(contact, now)
                cleared += 1
        return Batch(cleared, files, found[-1][0] if len(found) >= limit else None)

    async def messages_due(uow: UnitOfWork, now: datetime) -> int:
        return await uow.erasure.count_old_messages(now - messages)

    async def messages_erase(uow: UnitOfWork, now: datetime, limit: int, cursor: int) -> Batch:
        n = await uow.erasure.old_messages(now - messages, limit)
        return Batch(n, [], _done_when_short(n, limit, cursor))

    async def webchat_due(uow: UnitOfWork, now: datetime) -> int:
        return await uow.webchat.count_older_than(now - messages)

    async def webchat_erase(uow: UnitOfWork, now: datetime, limit: int, cursor: int) -> Batch:
        # the web chat's history is what its browsers were shown: kept as long as sent messages
        return Batch(await uow.webchat.erase_older_than(now - messages), [], None)

    async def invites_due(uow: UnitOfWork, now: datetime) -> int:
        return await uow.erasure.count_expired_invites(now)

    async def invites_erase(uow: UnitOfWork, now: datetime, limit: int, cursor: int) -> Batch:
        n = await uow.erasure.expired_invites(now, limit)
        return Batch(n, [], _done_when_short(n, limit, cursor))

    async def inbox_due(uow: UnitOfWork, now: datetime) -> int:
        payloads, rows = await uow.erasure.count_inbox(now - inbox_payloads, now - inbox_rows)
        return payloads + rows

    async def inbox_erase(uow: UnitOfWork, now: datetime, limit: int, cursor: int) -> Batch:
        # raw payloads of processed events, and the rows (event ids) after their keep period
        cleared, deleted = await uow.inbox.purge(now - inbox_payloads, now - inbox_rows, limit)
        more = cleared >= limit or deleted >= limit
        return Batch(cleared + deleted, [], cursor + 1 if more else None)

    return [
        Kind("closed_tips", closed_due, closed_erase),
        Kind("drafts", drafts_due, drafts_erase),
        Kind("inbox", inbox_due, inbox_erase),
        Kind("messages", messages_due, messages_erase),
        Kind("webchat_history", webchat_due, webchat_erase),
        Kind("expired_invites", invites_due, invites_erase),
        *extra,
    ]


class Retention:
    """Runs the kinds: batch by batch, one transaction each, evidence files after each commit."""

    def __init__(
        self,
        *,
        store: Store,
        media: MediaStore | None,
        kinds: Sequence[Kind],
        clock: Callable[[], datetime],
        batch: int = 500,
    ) -> None:
        self.store = store
        self.media = media
        self.kinds = list(kinds)
        self.clock = clock
        self.batch = batch

    async def due(self) -> dict[str, int]:
        now = self.clock()
        async with self.store.transaction() as uow:
            return {k.name: await k.due(uow, now) for k in self.kinds}

    async def run(self, *, actor_kind: str = audit.SYSTEM, actor: str = "scheduler") -> dict[str, int]:
        """Erase everything due now; the run and its counts go in the audit log."""
        now = self.clock()
        counts: dict[str, int] = {}
        for kind in self.kinds:
            cursor: int | None = 0
            counts[kind.name] = 0
            while cursor is not None:
                async with self.store.transaction() as uow:
                    batch = await kind.erase(uow, now, self.batch, cursor)
                if self.media is not None:
                    for name in batch.files:
                        self.media.delete(name)
                counts[kind.name] += batch.erased
                cursor = batch.cursor
        detail = ", ".join(f"{k} {n}" for k, n in counts.items())
        async with self.store.transaction() as uow:
            await uow.audit.append(actor_kind, actor, audit.RETENTION_RUN, None, detail, now)
        await self.store.reclaim_space()
        log.info("retention run: %s", detail)
        return counts

    async def daily(self) -> dict[str, int] | None:
        """Run once per (Thai) day across processes: the day is claimed under a named lock in
        its own transaction, so a second process sees it taken and does nothing."""
        now = self.clock()
        day = (now + timedelta(hours=7)).date().isoformat()
        async with self.store.transaction() as uow:
            if not await uow.try_lock("retention"):
                return None
            if await uow.kv.get(DAY_KEY) == day:
                return None
            await uow.kv.set(DAY_KEY, day)
        return await self.run()
