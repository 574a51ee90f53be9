"""The outbox: messages promised to a chat, leased to one relay at a time until settled.

Knows leases and due times; not how a message is rendered or sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.model import OutboxItem
from storage import tables as t
from storage.repositories.base import Repository, chat_hash, utc

#: the longest a process holds an outbox row, however alive it looks: a safety net only (a
#: process that stops beating loses its leases long before, see `SqlProcesses.silent`)
OUTBOX_LEASE = timedelta(minutes=10)
#: `last_error` of an outbox row from the moment its send starts until its outcome is recorded:
#: still there when the row is taken again means the previous sender may have sent it
IN_FLIGHT = "in flight"


def _outbox(row: Any) -> OutboxItem:
    in_doubt = row.last_error == IN_FLIGHT
    return OutboxItem(
        id=row.id,
        channel=row.channel,
        chat_id=row.address_enc,
        kind=row.kind,
        payload=row.payload,
        idempotency_key=row.idempotency_key,
        tip_id=row.tip_id,
        staff_chat_id=row.staff_chat_id,
        reply_token=row.reply_token,
        reply_token_expires=utc(row.reply_token_expires),
        attempts=row.attempts,
        next_attempt_at=utc(row.next_attempt_at),
        status=row.status,
        created_at=utc(row.created_at),
        in_doubt=in_doubt,
    )


class SqlOutbox(Repository):
    def __init__(self, session: AsyncSession, lease: timedelta = OUTBOX_LEASE) -> None:
        super().__init__(session)
        self.lease = lease

    async def add(self, item: OutboxItem, now: datetime) -> None:
        # a Core INSERT (a reply row per event): the ORM's unit of work costs more than the row
        await self.session.execute(
            insert(t.OutboxRow).values(
                channel=item.channel,
                chat_hash=chat_hash(item.channel, item.chat_id),
                address_enc=item.chat_id,
                kind=item.kind,
                payload=item.payload,
                tip_id=item.tip_id,
                staff_chat_id=item.staff_chat_id,
                status="pending",
                next_attempt_at=item.next_attempt_at or now,
                idempotency_key=item.idempotency_key,
                reply_token=item.reply_token,
                reply_token_expires=item.reply_token_expires,
                created_at=now,
                attempts=0,
                possible_duplicate=False,
            )
        )

    async def due(
        self, now: datetime, limit: int, scope: Sequence[tuple[str, str | None]], holder: str | None = None
    ) -> list[OutboxItem]:
        if not scope:
            return []
        conds = []
        for channel, chat_id in scope:
            if chat_id is None:
                conds.append(t.OutboxRow.channel == channel)
            else:
                conds.append(
                    (t.OutboxRow.channel == channel) & (t.OutboxRow.chat_hash == chat_hash(channel, chat_id))  # type: ignore[operator]
                )
        cond = conds[0]
        for c in conds[1:]:
            cond = cond | c  # type: ignore[operator]
        q = (
            # plain rows, not ORM objects: they are only read once into OutboxItems
            select(*t.OutboxRow.__table__.c)  # type: ignore[attr-defined]
            .where(t.OutboxRow.status == "pending", t.OutboxRow.next_attempt_at <= now, cond)  # type: ignore[operator]
            .order_by(t.OutboxRow.id)  # type: ignore[arg-type]
            .limit(limit)
        )
        if self._dialect == "postgresql":
            q = q.with_for_update(skip_locked=True)
        rows = (await self.session.execute(q)).all()
        items = [_outbox(r) for r in rows]
        if rows:
            # A lease, not a lock: it names the holder, so the rows are free again as soon as
            # that process is known to be gone (`SqlProcesses.stop`, `free_leases`); the absolute
            # cap only catches a holder that beats but never gets on. Taking a row is not yet
            # sending it: `start` marks the send, so only rows that may have gone out are
            # in doubt after a crash.
            await self.session.execute(
                update(t.OutboxRow)
                .where(t.OutboxRow.id.in_([r.id for r in rows]))  # type: ignore[union-attr]
                .values(next_attempt_at=now + self.lease, lease_holder=holder)
                .execution_options(synchronize_session=False)
            )
        return items

    async def start(self, item_ids: Sequence[int], holder: str, now: datetime) -> set[int]:
        """Mark leased rows as being sent now; returns those still leased to `holder` (others
        were taken over meanwhile and must not be sent by it)."""
        if not item_ids:
            return set()
        o = t.OutboxRow
        res = await self.session.execute(
            update(o)
            .where(o.id.in_(list(item_ids)), o.status == "pending", o.lease_holder == holder)  # type: ignore[union-attr,arg-type]
            .values(last_error=IN_FLIGHT, next_attempt_at=now + self.lease)
            .returning(o.id)
            .execution_options(synchronize_session=False)
        )
        return {int(i) for i in res.scalars().all()}

    async def settle(
        self,
        item_id: int,
        *,
        status: str,
        attempts: int,
        now: datetime,
        next_attempt_at: datetime | None = None,
        error: str | None = None,
        possible_duplicate: bool = False,
    ) -> None:
        values: dict[str, Any] = {
            "status": status,
            "attempts": attempts,
            "last_error": error and error[:500],
            "lease_holder": None,
        }
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        if status == "sent":
            values["sent_at"] = now
        if possible_duplicate:
            values["possible_duplicate"] = True
        await self.session.execute(update(t.OutboxRow).where(t.OutboxRow.id == item_id).values(**values))  # type: ignore[arg-type]

    async def release(
        self,
        item_ids: Sequence[int],
        now: datetime | None,
        *,
        holder: str | None = None,
        behind: int | None = None,
    ) -> None:
        if not item_ids:
            return
        o = t.OutboxRow
        values: dict[str, Any] = {"lease_holder": None}
        if behind is not None:
            # due together with the row that held them back, so the chat keeps its order
            values["next_attempt_at"] = select(o.next_attempt_at).where(o.id == behind).scalar_subquery()
        elif now is not None:
            values["next_attempt_at"] = now
        # An IN_FLIGHT mark stays: it may be a dead sender's, and the next send must record it.
        q = update(o).where(o.id.in_(list(item_ids)), o.status == "pending")  # type: ignore[union-attr,arg-type]
        if holder is not None:
            q = q.where(o.lease_holder == holder)  # type: ignore[arg-type]
        await self.session.execute(q.values(**values).execution_options(synchronize_session=False))

    async def retarget(self, item_id: int, chat_id: str) -> None:
        row = await self.session.get(t.OutboxRow, item_id)
        if row is not None:
            row.address_enc = chat_id
            row.chat_hash = chat_hash(row.channel, chat_id)
