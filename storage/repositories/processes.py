"""Process incarnations and their heartbeats, and the leases a stopped process leaves behind."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, text, update

from storage import tables as t
from storage.repositories.base import Repository


class SqlProcesses(Repository):
    async def register(
        self, incarnation: str, *, instance: str, role: str, host: str, pid: int, now: datetime
    ) -> list[tuple[str, str, int]]:
        """Record this process as beating; returns (incarnation, host, pid) of earlier
        incarnations of the same instance that are not known to be stopped."""
        row = await self.session.get(t.ProcessRow, incarnation)
        if row is None:
            self.session.add(
                t.ProcessRow(
                    id=incarnation,
                    instance=instance[:200],
                    role=role,
                    host=host[:200],
                    pid=pid,
                    started_at=now,
                    heartbeat_at=now,
                )
            )
        else:
            row.heartbeat_at, row.stopped_at, row.stop_reason = now, None, None
        p = t.ProcessRow
        earlier = await self.session.execute(
            select(p.id, p.host, p.pid).where(
                p.instance == instance[:200],  # type: ignore[arg-type]
                p.id != incarnation,  # type: ignore[arg-type]
                p.stopped_at.is_(None),  # type: ignore[union-attr]
            )
        )
        return [(str(i), str(h), int(n)) for i, h, n in earlier.all()]

    async def beat(self, incarnation: str, now: datetime) -> bool:
        """Refresh the heartbeat. False when the row was gone or marked stopped (another process
        took this one for dead and freed its leases); it is marked alive again."""
        row = await self.session.get(t.ProcessRow, incarnation)
        if row is None:
            return False
        was_live = row.stopped_at is None
        row.heartbeat_at, row.stopped_at, row.stop_reason = now, None, None
        return was_live

    async def silent(self, before: datetime) -> list[str]:
        """Processes not stopped whose last heartbeat is older than `before`."""
        p = t.ProcessRow
        q = select(p.id).where(p.stopped_at.is_(None), p.heartbeat_at < before)  # type: ignore[union-attr,operator]
        return [str(i) for i in (await self.session.execute(q)).scalars().all()]

    async def stop(
        self,
        incarnations: Sequence[str],
        now: datetime,
        reason: str,
        *,
        silent_before: datetime | None = None,
    ) -> list[str]:
        """Mark processes stopped (only those not already; with `silent_before`, only if still
        silent since then) and free every lease they held; returns the ones marked here."""
        if not incarnations:
            return []
        p = t.ProcessRow
        q = update(p).where(p.id.in_(list(incarnations)), p.stopped_at.is_(None))  # type: ignore[attr-defined,union-attr]
        if silent_before is not None:
            q = q.where(p.heartbeat_at < silent_before)  # type: ignore[arg-type,operator]
        res = await self.session.execute(
            q.values(stopped_at=now, stop_reason=reason[:16])
            .returning(p.id)
            .execution_options(synchronize_session=False)
        )
        stopped = [str(i) for i in res.scalars().all()]
        if stopped:
            await self.free_leases(now)
        return stopped

    async def free_leases(self, now: datetime) -> tuple[int, int]:
        """Free the outbox rows and broadcast copies whose holder is stopped (due now, holder
        cleared; an IN_FLIGHT mark or a "sending" copy stays, so the resend is recorded).
        Returns (outbox rows, copies). Walks only leased rows (partial indexes)."""
        o, r, p = t.OutboxRow, t.BroadcastRecipient, t.ProcessRow
        gone = select(p.id).where(p.stopped_at.is_not(None))  # type: ignore[union-attr]
        rows = await self.session.execute(
            update(o)
            .where(o.lease_holder.is_not(None), o.lease_holder.in_(gone), o.status == "pending")  # type: ignore[union-attr,arg-type]
            .values(lease_holder=None, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
        open_copies = text("broadcast_recipient." + t.OPEN_COPIES)
        copies = await self.session.execute(
            update(r)
            .where(r.lease_holder.is_not(None), r.lease_holder.in_(gone), open_copies)  # type: ignore[union-attr]
            .values(lease_holder=None, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(rows.rowcount or 0), int(copies.rowcount or 0)  # type: ignore[attr-defined]

    async def forget(self, stopped_before: datetime) -> int:
        """Delete rows of processes stopped before then (their leases were freed when they stopped)."""
        p = t.ProcessRow
        res = await self.session.execute(delete(p).where(p.stopped_at < stopped_before))  # type: ignore[arg-type,operator]
        return int(res.rowcount or 0)  # type: ignore[attr-defined]
