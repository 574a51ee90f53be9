"""The inbox: webhook events waiting for the dispatcher, claimed one conversation at a time.

Knows rows and locks; not what an event means (the channels map payloads).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, literal_column, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased

from bot.core.model import InboxEvent, InboxItem
from storage import tables as t
from storage.repositories.base import Repository, chat_hash, utc

#: the PostgreSQL notification channel a commit to the inbox signals
INBOX_CHANNEL = "tipbot_inbox"
#: inbox states after processing, whose payloads and rows the scheduler purges
PROCESSED = ("done", "ignored", "failed")
#: namespace of the per-chat PostgreSQL advisory locks (first key of the two-key form)
LOCK_CHAT = 0x7462


_INBOX: Any = t.InboxRow
#: what `pending` reads of a row
_COLUMNS = (
    _INBOX.id,
    _INBOX.channel,
    _INBOX.chat_hash,
    _INBOX.event_id,
    _INBOX.payload,
    _INBOX.attempts,
    _INBOX.occurred_at,
    _INBOX.received_at,
)


class SqlInbox(Repository):
    async def add(self, events: Sequence[InboxEvent], now: datetime) -> list[str]:
        """Insert events once each (UNIQUE channel+event_id); the channel of each new one."""
        rows = [
            {
                "channel": e.channel,
                "event_id": e.event_id[:128],
                "chat_hash": chat_hash(e.channel, e.chat_id),
                "occurred_at": e.occurred_at,
                "received_at": now,
                "payload": e.payload,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": e.not_before,
            }
            for e in events
        ]
        table: Any = t.InboxRow.__table__  # type: ignore[attr-defined]
        if self._dialect == "postgresql":
            stmt: Any = pg_insert(table).on_conflict_do_nothing(index_elements=["channel", "event_id"])
        else:
            stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=["channel", "event_id"])
        result = await self.session.execute(stmt.returning(table.c.channel), rows)
        stored = [str(c) for c in result.scalars().all()]
        if stored and self._dialect == "postgresql":
            # Wakes the dispatchers of other processes (`tipbot worker`) at commit.
            await self.session.execute(text(f"NOTIFY {INBOX_CHANNEL}"))
        return stored

    async def pending(
        self,
        limit: int,
        now: datetime,
        channels: Collection[str] | None = None,
        *,
        per_chat: int | None = None,
        reply_first: Mapping[str, timedelta] | None = None,
    ) -> list[tuple[InboxItem, str]]:
        """Due pending rows, fairly: at most `per_chat` of each conversation (its oldest), the
        conversations interleaved (every chat's first row, then every chat's second, ...), and
        conversations holding an event of a `reply_first` channel younger than its window (a
        reply token still valid) before all others. A chat's rows come in arrival order.
        """
        r = t.InboxRow
        chat = (r.channel, r.chat_hash)
        arrival = (r.occurred_at, r.id)
        # A row waiting for a retry (e.g. a photo not ready yet) holds back the later events of
        # its chat, so a conversation is never processed out of arrival order: a running max
        # over the chat marks that row and every later one.
        # inlined constants: as bind parameters PostgreSQL could not type max(CASE ... $1 ...)
        one: Any = literal_column("1")
        zero: Any = literal_column("0")
        not_due = case((and_(r.next_attempt_at.is_not(None), r.next_attempt_at > now), one), else_=zero)
        fresh = [
            (and_(r.channel == name, r.occurred_at >= now - window), one)
            for name, window in (reply_first or {}).items()
        ]
        urgent: Any = case(*fresh, else_=zero) if fresh else zero
        ranked = select(
            r.id.label("id"),
            r.occurred_at.label("occurred_at"),
            func.row_number().over(partition_by=chat, order_by=arrival).label("rank"),
            func.max(not_due).over(partition_by=chat, order_by=arrival).label("held"),
            func.max(urgent).over(partition_by=chat).label("urgent"),
        ).where(r.status == "pending")
        if channels is not None:
            ranked = ranked.where(r.channel.in_(list(channels)))
        w = ranked.subquery("ranked")
        # plain rows, not ORM objects: they are only read once into InboxItems
        q = select(*_COLUMNS).join(w, w.c.id == r.id).where(w.c.held == 0)
        if per_chat is not None:
            q = q.where(w.c.rank <= per_chat)
        q = q.order_by(w.c.urgent.desc(), w.c.rank, w.c.occurred_at, w.c.id).limit(limit)
        rows = (await self.session.execute(q)).all()
        return [(self._item(row), row.chat_hash) for row in rows]

    @staticmethod
    def _item(r: Any) -> InboxItem:
        assert r.id is not None
        return InboxItem(
            id=r.id,
            channel=r.channel,
            event_id=r.event_id,
            payload=r.payload or {},
            attempts=r.attempts,
            occurred_at=utc(r.occurred_at),
            received_at=utc(r.received_at),
        )

    async def claim(self, item_id: int) -> InboxItem | None:
        """The row, locked for this transaction, when it is the next one of its conversation.

        None when it is done, taken by another worker, or an earlier event of the same chat is
        still pending. On PostgreSQL a per-chat advisory lock is taken first: without it, process
        A could claim a chat's first event while process B claims the second and reaches the
        conversation row first. SQLite has one writer at a time, so the order check suffices.
        """
        if self._dialect == "postgresql":
            # one round trip: the row's chat, and that chat's lock if nobody else holds it
            head = (
                await self.session.execute(
                    text(
                        "SELECT channel, chat_hash, pg_try_advisory_xact_lock(:ns, hashtext(channel || ':' "
                        "|| chat_hash)) FROM inbox WHERE id = :id AND status = 'pending'"
                    ),
                    {"ns": LOCK_CHAT, "id": item_id},
                )
            ).first()
            if head is None or not head[2]:
                return None  # done already, or another process is working on this conversation
            channel: Any = head[0]
            chash: Any = head[1]
        else:
            # one statement: the earlier-event check correlates on the row's own chat
            channel, chash = t.InboxRow.channel, t.InboxRow.chat_hash
        earlier = aliased(t.InboxRow)
        before = exists().where(
            earlier.channel == channel,
            earlier.chat_hash == chash,
            earlier.status == "pending",
            earlier.id != t.InboxRow.id,
            or_(
                earlier.occurred_at < t.InboxRow.occurred_at,
                and_(earlier.occurred_at == t.InboxRow.occurred_at, earlier.id < t.InboxRow.id),
            ),
        )
        # keep the conversation in arrival order: not while an earlier event of it is pending
        r = t.InboxRow
        # the payload is not read again (the caller has it from `pending`): no second decryption
        q = select(r.id, r.channel, r.event_id, r.attempts, r.occurred_at, r.received_at).where(
            r.id == item_id, r.status == "pending", ~before
        )
        if self._dialect == "postgresql":
            q = q.with_for_update(of=t.InboxRow, skip_locked=True)
        row = (await self.session.execute(q)).first()
        if row is None:
            return None
        return InboxItem(
            id=row.id,
            channel=row.channel,
            event_id=row.event_id,
            payload={},
            attempts=row.attempts,
            occurred_at=utc(row.occurred_at),
            received_at=utc(row.received_at),
        )

    async def finish(self, item_id: int, status: str, now: datetime, error: str | None = None) -> None:
        await self.session.execute(
            update(t.InboxRow)
            .where(t.InboxRow.id == item_id)  # type: ignore[arg-type]
            .values(status=status, processed_at=now, error=(error or None) and error[:500])
        )

    async def retry_later(self, item_id: int, error: str, next_at: datetime) -> None:
        await self.session.execute(
            update(t.InboxRow)
            .where(t.InboxRow.id == item_id)  # type: ignore[arg-type]
            .values(attempts=t.InboxRow.attempts + 1, error=error[:500], next_attempt_at=next_at)
        )

    async def forget_payloads(self, channel: str, chat_id: str) -> None:
        await self.session.execute(
            update(t.InboxRow)
            .where(t.InboxRow.channel == channel, t.InboxRow.chat_hash == chat_hash(channel, chat_id))  # type: ignore[arg-type]
            .values(payload=None)
        )

    async def counts(self) -> dict[str, int]:
        rows = await self.session.execute(
            select(t.InboxRow.status, func.count()).group_by(t.InboxRow.status)  # type: ignore[call-overload]
        )
        return {str(s): int(n) for s, n in rows.all()}

    async def purge(
        self, payloads_before: datetime, rows_before: datetime, limit: int = 2000
    ) -> tuple[int, int]:
        """Forget processed events: clear the raw payload of rows finished before
        `payloads_before`, delete rows finished before `rows_before` (the event id goes with
        them, so keep rows as long as a platform may still redeliver the event). At most `limit`
        rows of each, oldest first, so one run never holds the database for long.
        Returns (payloads cleared, rows deleted).
        """
        r = t.InboxRow
        finished = r.status.in_(PROCESSED)
        at = func.coalesce(r.processed_at, r.received_at)
        doomed = select(r.id).where(finished, at < rows_before).order_by(r.id).limit(limit)
        deleted = await self.session.execute(delete(r).where(r.id.in_(doomed)))
        stale = select(r.id).where(finished, r.payload.is_not(None), at < payloads_before)
        stale = stale.order_by(r.id).limit(limit)
        cleared = await self.session.execute(
            update(r).where(r.id.in_(stale)).values(payload=None).execution_options(synchronize_session=False)
        )
        return int(cleared.rowcount or 0), int(deleted.rowcount or 0)
