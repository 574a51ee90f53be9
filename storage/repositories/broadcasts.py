"""Broadcasts (workshop notices): their audience, one copy per recipient, RSVPs and questions.

Status changes are named (`start`, `finish`, `cancel`); a change happens once across processes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update

from bot.core.model import Audience, AudienceMember, BroadcastRecord, ChatAddress, Recipient
from storage import tables as t
from storage.repositories.base import Repository, utc


def _broadcast(row: t.Broadcast) -> BroadcastRecord:
    return BroadcastRecord(
        id=row.id,
        title=row.title,
        body=row.body,
        audience=Audience.from_data(row.audience),
        place=row.place,
        event_at=utc(row.event_at),
        rsvp=row.rsvp,
        send_at=utc(row.send_at),
        status=row.status,
        created_by=row.created_by,
        staff_chat_id=row.staff_chat_id,
        recipients=row.recipients,
        created_at=utc(row.created_at),
        started_at=utc(row.started_at),
        finished_at=utc(row.finished_at),
        reminded_at=utc(row.reminded_at),
    )


class SqlBroadcasts(Repository):
    async def add(self, bc: BroadcastRecord, now: datetime) -> int:
        row = t.Broadcast(
            title=bc.title,
            body=bc.body,
            place=bc.place,
            event_at=bc.event_at,
            audience=bc.audience.to_data(),
            rsvp=bc.rsvp,
            send_at=bc.send_at or now,
            status="scheduled",
            created_by=bc.created_by,
            staff_chat_id=bc.staff_chat_id,
            created_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        assert row.id is not None
        return row.id

    async def get(self, bc_id: int) -> BroadcastRecord | None:
        row = await self.session.get(t.Broadcast, bc_id)
        return _broadcast(row) if row is not None else None

    async def recent(self, limit: int = 20) -> list[BroadcastRecord]:
        q = select(t.Broadcast).order_by(t.Broadcast.id.desc()).limit(limit)  # type: ignore[union-attr]
        return [_broadcast(r) for r in (await self.session.execute(q)).scalars().all()]

    async def _transition(
        self, bc_id: int, from_status: Collection[str], *, unless_set: str | None = None, **fields: Any
    ) -> bool:
        """Update a broadcast only if it is still in one of `from_status` (and its `unless_set`
        column is still empty): True when this call did it, so two processes never both do."""
        q = update(t.Broadcast).where(
            t.Broadcast.id == bc_id,  # type: ignore[arg-type]
            t.Broadcast.status.in_(list(from_status)),  # type: ignore[attr-defined]
        )
        if unless_set is not None:
            q = q.where(getattr(t.Broadcast, unless_set).is_(None))
        res = await self.session.execute(q.values(**fields))
        return bool(res.rowcount == 1)  # type: ignore[attr-defined]

    async def start(self, bc_id: int, recipients: int, now: datetime) -> bool:
        """A scheduled broadcast starts sending to its `recipients`; False when it was no longer
        scheduled (another process started or someone cancelled it)."""
        return await self._transition(
            bc_id, ("scheduled",), status="sending", started_at=now, recipients=recipients
        )

    async def finish(self, bc_id: int, now: datetime) -> bool:
        """Every copy is settled; False when it was not sending any more."""
        return await self._transition(bc_id, ("sending",), status="done", finished_at=now)

    async def mark_reminded(self, bc_id: int, now: datetime) -> bool:
        """Its RSVP reminder goes out now; False when it was reminded already (once across processes)."""
        return await self._transition(bc_id, ("sending", "done"), unless_set="reminded_at", reminded_at=now)

    async def due(self, now: datetime) -> list[BroadcastRecord]:
        q = (
            select(t.Broadcast)
            .where(t.Broadcast.status == "scheduled", t.Broadcast.send_at <= now)  # type: ignore[operator]
            .order_by(t.Broadcast.id)  # type: ignore[arg-type]
        )
        if self._dialect == "postgresql":
            q = q.with_for_update(skip_locked=True)
        return [_broadcast(r) for r in (await self.session.execute(q)).scalars().all()]

    async def in_status(self, status: str) -> list[BroadcastRecord]:
        q = select(t.Broadcast).where(t.Broadcast.status == status).order_by(t.Broadcast.id)  # type: ignore[arg-type]
        return [_broadcast(r) for r in (await self.session.execute(q)).scalars().all()]

    async def to_remind(self, until: datetime, now: datetime) -> list[BroadcastRecord]:
        """RSVP broadcasts whose event is between now and `until`, not yet reminded."""
        q = select(t.Broadcast).where(
            t.Broadcast.rsvp.is_(True),  # type: ignore[attr-defined]
            t.Broadcast.reminded_at.is_(None),  # type: ignore[union-attr]
            t.Broadcast.status.in_(["sending", "done"]),  # type: ignore[attr-defined]
            t.Broadcast.event_at > now,  # type: ignore[operator]
            t.Broadcast.event_at <= until,  # type: ignore[operator]
        )
        return [_broadcast(r) for r in (await self.session.execute(q)).scalars().all()]

    async def audience(self, provinces: Collection[str] | None) -> list[AudienceMember]:
        """Consented, reachable, opted-in volunteers (in these provinces, unless None: everyone)."""
        c = t.Contact
        q = select(c.id, c.channel, c.locale, c.link_key, c.last_seen_at).where(
            c.consented_at.is_not(None),  # type: ignore[union-attr]
            c.opted_out.is_(False),  # type: ignore[attr-defined]
            c.reachable.is_(True),  # type: ignore[attr-defined]
        )
        if provinces is not None:
            q = q.where(c.home_province.in_(list(provinces)))  # type: ignore[union-attr]
        rows = (await self.session.execute(q.order_by(c.id))).all()  # type: ignore[arg-type]
        return [
            AudienceMember(
                contact_id=int(i),
                channel=str(ch),
                locale=str(loc),
                person=lk or f"c{i}",
                last_seen_at=utc(seen),
            )
            for i, ch, loc, lk, seen in rows
        ]

    async def add_recipients(self, bc_id: int, members: Sequence[AudienceMember], now: datetime) -> int:
        table: Any = t.BroadcastRecipient.__table__  # type: ignore[attr-defined]
        chunk = 5000
        for start in range(0, len(members), chunk):
            await self.session.execute(
                table.insert(),
                [
                    {
                        "broadcast_id": bc_id,
                        "contact_id": m.contact_id,
                        "channel": m.channel,
                        "locale": m.locale,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "possible_duplicate": False,
                    }
                    for m in members[start : start + chunk]
                ],
            )
        if self._dialect == "postgresql" and len(members) >= 1000:
            # Fresh statistics, so the first claims plan for a long queue rather than an empty table.
            await self.session.execute(text("ANALYZE broadcast_recipient"))
        return len(members)

    async def claim_recipients(
        self,
        bc_id: int,
        channel: str,
        now: datetime,
        *,
        lease: timedelta,
        limit: int = 1,
        batch_key: str | None = None,
        holder: str | None = None,
    ) -> tuple[str | None, list[Recipient]]:
        """Lease due deliveries of one broadcast on one channel.

        With `batch_key` (multicast): first an earlier batch that is due again (a retry or a lease
        that ran out: it keeps its key, so the platform drops a repeat), else up to `limit` new
        rows of one locale under `batch_key`. Without: the next single row; `in_flight` marks a
        row whose earlier send may have got through. Opted-out or unreachable volunteers are
        skipped on the way. Every query walks the partial indexes of open copies.
        """
        r, c = t.BroadcastRecipient, t.Contact
        open_copies = text("broadcast_recipient." + t.OPEN_COPIES)
        due = (r.broadcast_id == bc_id, r.channel == channel, open_copies, r.next_attempt_at <= now)
        base = (
            select(
                r.id, r.contact_id, r.locale, r.status, r.attempts, c.chat_id_enc, c.opted_out, c.reachable
            )
            .join(c, c.id == r.contact_id)  # type: ignore[arg-type]
            .where(*due)  # type: ignore[arg-type]
        )
        key: str | None = None
        if batch_key is None:
            q = base.order_by(r.id).limit(limit)  # type: ignore[arg-type]
        else:
            resume = (
                await self.session.execute(select(r.batch).where(*due, r.batch.is_not(None)).limit(1))  # type: ignore[arg-type,union-attr]
            ).scalar_one_or_none()
            if resume is not None:
                key = str(resume)
                q = base.where(r.batch == key).order_by(r.id)  # type: ignore[arg-type]
            else:
                # One message per call, so one language per batch: the oldest copy's.
                locale = (
                    await self.session.execute(
                        select(r.locale).where(*due, r.batch.is_(None)).order_by(r.id).limit(1)  # type: ignore[arg-type,union-attr]
                    )
                ).scalar_one_or_none()
                if locale is None:
                    return batch_key, []
                key = batch_key
                q = base.where(r.batch.is_(None), r.locale == locale).order_by(r.id).limit(limit)  # type: ignore[union-attr,arg-type]
        if self._dialect == "postgresql":
            q = q.with_for_update(of=r, skip_locked=True)  # type: ignore[arg-type]
        rows = (await self.session.execute(q)).all()
        skipped = [row.id for row in rows if row.opted_out or not row.reachable]
        taken = [
            Recipient(
                id=int(row.id),
                broadcast_id=bc_id,
                contact_id=int(row.contact_id),
                channel=channel,
                chat_id=row.chat_id_enc,
                locale=row.locale,
                attempts=row.attempts + 1,
                in_flight=row.status == "sending",
            )
            for row in rows
            if not (row.opted_out or not row.reachable)
        ]
        if skipped:
            await self.session.execute(
                update(r).where(r.id.in_(skipped)).values(status="skipped", next_attempt_at=None)  # type: ignore[union-attr]
            )
        if not taken:
            return key, []
        values: dict[str, Any] = {
            "status": "sending",
            "attempts": r.attempts + 1,
            # freed at once when the holder is known to be gone; `lease` is the cap
            "next_attempt_at": now + lease,
            "lease_holder": holder,
        }
        if key is not None:
            values["batch"] = key
        await self.session.execute(
            update(r)
            .where(r.id.in_([x.id for x in taken]))  # type: ignore[union-attr]
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return key, taken

    async def settle_recipients(
        self,
        ids: Sequence[int],
        *,
        status: str,
        now: datetime,
        next_attempt_at: datetime | None = None,
        error: str | None = None,
        possible_duplicate: bool = False,
    ) -> None:
        if not ids:
            return
        r = t.BroadcastRecipient
        values: dict[str, Any] = {"status": status, "error": error and error[:300], "lease_holder": None}
        if status == "sent":
            values["sent_at"] = now
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        if possible_duplicate:
            values["possible_duplicate"] = True
        await self.session.execute(update(r).where(r.id.in_(list(ids))).values(**values))  # type: ignore[union-attr]

    async def totals(self, bc_id: int) -> dict[str, int]:
        """Counts by delivery status, by channel (`via_line` …), by RSVP (`rsvp_yes` …) and repeats."""
        r = t.BroadcastRecipient
        totals: dict[str, int] = {}
        for column, prefix in ((r.status, ""), (r.channel, "via_"), (r.rsvp, "rsvp_")):
            rows = await self.session.execute(
                select(column, func.count()).where(r.broadcast_id == bc_id).group_by(column)  # type: ignore[call-overload]
            )
            for value, n in rows.all():
                if value is not None:
                    totals[f"{prefix}{value}"] = int(n)
        dup = await self.session.execute(
            select(func.count()).where(r.broadcast_id == bc_id, r.possible_duplicate.is_(True))  # type: ignore[attr-defined]
        )
        totals["possible_duplicates"] = int(dup.scalar_one())
        return totals

    async def cancel(self, bc_id: int, now: datetime) -> bool:
        done = await self._transition(bc_id, ("scheduled", "sending"), status="cancelled", finished_at=now)
        if done:
            r = t.BroadcastRecipient
            await self.session.execute(
                update(r)
                .where(r.broadcast_id == bc_id, r.status == "pending")  # type: ignore[arg-type]
                .values(status="cancelled", next_attempt_at=None)
            )
        return done

    async def _recipient_row(self, bc_id: int, contact_id: int) -> t.BroadcastRecipient | None:
        r = t.BroadcastRecipient
        q = select(r).where(r.broadcast_id == bc_id, r.contact_id == contact_id)
        return (await self.session.execute(q)).scalar_one_or_none()

    async def set_rsvp(
        self, bc_id: int, contact_id: int, answer: str, now: datetime
    ) -> BroadcastRecord | None:
        """Record a volunteer's answer; None when they were not sent this broadcast."""
        row = await self._recipient_row(bc_id, contact_id)
        bc = await self.session.get(t.Broadcast, bc_id)
        if row is None or bc is None or not bc.rsvp:
            return None
        if answer != "ask" or row.rsvp not in ("yes", "no"):
            row.rsvp, row.rsvp_at = answer, now  # a question keeps an earlier yes or no
        return _broadcast(bc)

    async def add_question(
        self, bc_id: int, contact_id: int, text: str, now: datetime
    ) -> BroadcastRecord | None:
        row = await self._recipient_row(bc_id, contact_id)
        bc = await self.session.get(t.Broadcast, bc_id)
        if row is None or bc is None:
            return None
        row.question = ((row.question + "\n") if row.question else "") + text
        row.rsvp = row.rsvp or "ask"
        row.rsvp_at = row.rsvp_at or now
        return _broadcast(bc)

    async def accepted(self, bc_id: int) -> list[tuple[int, ChatAddress]]:
        r, c = t.BroadcastRecipient, t.Contact
        q = (
            select(c)
            .join(r, r.contact_id == c.id)  # type: ignore[arg-type]
            .where(r.broadcast_id == bc_id, r.rsvp == "yes", c.opted_out.is_(False))  # type: ignore[attr-defined]
            .order_by(c.id)  # type: ignore[arg-type]
        )
        return [
            (
                int(row.id or 0),
                ChatAddress(
                    channel=row.channel, chat_id=row.chat_id_enc, locale=row.locale, reachable=row.reachable
                ),
            )
            for row in (await self.session.execute(q)).scalars().all()
        ]

    async def questions(self, bc_id: int) -> list[str]:
        r = t.BroadcastRecipient
        q = select(r.question).where(r.broadcast_id == bc_id, r.question.is_not(None)).order_by(r.rsvp_at)  # type: ignore[union-attr,arg-type]
        return [str(x) for x in (await self.session.execute(q)).scalars().all()]

    async def of_contact(self, contact_id: int, limit: int = 3) -> list[BroadcastRecord]:
        r = t.BroadcastRecipient
        q = (
            select(t.Broadcast)
            .join(r, r.broadcast_id == t.Broadcast.id)  # type: ignore[arg-type]
            .where(r.contact_id == contact_id, r.status == "sent")  # type: ignore[arg-type]
            .order_by(t.Broadcast.id.desc())  # type: ignore[union-attr]
            .limit(limit)
        )
        return [_broadcast(b) for b in (await self.session.execute(q)).scalars().all()]

    async def line_usage(self, since: datetime) -> int:
        """LINE messages counted against the monthly quota since `since`: broadcast copies and
        pushed alerts and notices (replies are free; a reply that fell back to push is not counted)."""
        r, o = t.BroadcastRecipient, t.OutboxRow
        copies = await self.session.execute(
            select(func.count()).where(r.channel == "line", r.status == "sent", r.sent_at >= since)  # type: ignore[operator]
        )
        pushes = await self.session.execute(
            select(func.count()).where(
                o.channel == "line",
                o.status == "sent",
                o.kind.in_(["alert", "notice"]),  # type: ignore[attr-defined]
                o.sent_at >= since,  # type: ignore[operator]
            )
        )
        return int(copies.scalar_one()) + int(pushes.scalar_one())
