"""Tips and their audit events: stored, looked up, moved through their statuses, redacted.

Column names stay here: callers say what changes (`set_status`, `redact`), never which column.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update

from bot.core.model import TipDetail, TipRecord, TipSummary
from bot.core.ports import DuplicateTip, Redactable
from storage import tables as t
from storage.repositories.base import Repository, utc

#: the column of each tip field a volunteer can take back
_REDACTABLE_COLUMNS: dict[Redactable, str] = {
    "narrative": "narrative_enc",
    "agency": "agency",
    "official": "official",
    "contact_how": "contact_how",
}


def _detail(r: t.Tip, attachments: int) -> TipDetail:
    assert r.id is not None
    return TipDetail(
        id=r.id,
        case_code=r.case_code,
        category=r.category,
        narrative=r.narrative_enc,
        agency=r.agency,
        official=r.official,
        province=r.province,
        district=r.district,
        region=r.region,
        incident_date=r.incident_date,
        incident_date_text=r.incident_date_text,
        amount_thb=r.amount_thb,
        contact_ok=r.contact_ok,
        contact_how=r.contact_how,
        status=r.status,
        status_detail=r.status_detail,
        created_at=utc(r.created_at) or datetime.now(UTC),
        contact_id=r.contact_id,
        attachments=attachments,
        claimed_by=r.claimed_by,
        reminded_at=utc(r.reminded_at),
        locations=_locations(r.location),
    )


def _locations(stored: dict[str, Any] | None) -> tuple[tuple[float, float], ...]:
    if not stored or "lat" not in stored:
        return ()
    first = (float(stored["lat"]), float(stored["lon"]))
    return (first, *((float(m["lat"]), float(m["lon"])) for m in stored.get("more") or ()))


class SqlTips(Repository):
    async def add(
        self, tip: TipRecord, *, contact_id: int, channel: str, draft_id: str, now: datetime
    ) -> int:
        exists = await self.session.execute(select(t.Tip.id).where(t.Tip.draft_id == draft_id))
        if exists.first() is not None:
            raise DuplicateTip(draft_id)
        loc = tip.location
        row = t.Tip(
            case_code=tip.case_code,
            draft_id=draft_id,
            contact_id=contact_id,
            channel=channel,
            category=tip.category,
            narrative_enc=tip.narrative,
            agency=tip.agency,
            official=tip.official,
            province=tip.province,
            district=tip.district,
            region=tip.region,
            incident_date=tip.incident_date,
            incident_date_text=tip.incident_date_text,
            amount_thb=tip.amount_thb,
            contact_ok=tip.contact_ok,
            contact_how=tip.contact_how,
            location={
                "lat": loc.latitude,
                "lon": loc.longitude,
                "title": loc.title,
                "address": loc.address,
                "more": [{"lat": m.latitude, "lon": m.longitude} for m in tip.more_locations],
            }
            if loc
            else None,
            status=tip.status,
            created_at=now,
            updated_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        assert row.id is not None
        return row.id

    async def of_contact(self, contact_id: int) -> list[TipSummary]:
        """The tips sent from this chat and from the chats linked with it (one volunteer); only the
        summary's columns, so the narrative and other encrypted fields stay undecrypted."""
        key = (
            await self.session.execute(select(t.Contact.link_key).where(t.Contact.id == contact_id))
        ).scalar_one_or_none()
        chats = select(t.Contact.id).where(t.Contact.link_key == key) if key else None
        mine = t.Tip.contact_id.in_(chats) if chats is not None else t.Tip.contact_id == contact_id  # type: ignore[union-attr]
        tip = t.Tip
        q = select(tip.case_code, tip.category, tip.status, tip.created_at, tip.province)
        rows = (await self.session.execute(q.where(mine).order_by(tip.id))).all()  # type: ignore[arg-type]
        return [
            TipSummary(
                case_code=r.case_code,
                category=r.category,
                status=r.status,
                created_at=utc(r.created_at) or datetime.now(UTC),
                province=r.province,
            )
            for r in rows
        ]

    async def _attachment_counts(self, tip_ids: list[int]) -> dict[int, int]:
        if not tip_ids:
            return {}
        rows = await self.session.execute(
            select(t.Attachment.tip_id, func.count())
            .where(t.Attachment.tip_id.in_(tip_ids))
            .group_by(t.Attachment.tip_id)
        )
        return {int(a): int(n) for a, n in rows.all()}

    async def _details(self, rows: Sequence[t.Tip]) -> list[TipDetail]:
        counts = await self._attachment_counts([r.id for r in rows if r.id is not None])
        return [_detail(r, counts.get(r.id or 0, 0)) for r in rows]

    async def get(self, case_code: str) -> TipDetail | None:
        row = (
            await self.session.execute(select(t.Tip).where(t.Tip.case_code == case_code))
        ).scalar_one_or_none()
        if row is None:
            return None
        return (await self._details([row]))[0]

    async def _set(self, tip_id: int, **values: Any) -> None:
        await self.session.execute(update(t.Tip).where(t.Tip.id == tip_id).values(**values))

    async def set_status(
        self,
        tip_id: int,
        status: str,
        detail: str | None,
        now: datetime,
        *,
        acknowledged_by: int | None = None,
    ) -> None:
        """Move a tip to `status`; `acknowledged_by` names the staff chat that took it on (and
        records when)."""
        values: dict[str, Any] = {"status": status, "status_detail": detail, "updated_at": now}
        if acknowledged_by is not None:
            values.update(acknowledged_at=now, claimed_by=acknowledged_by)
        await self._set(tip_id, **values)

    async def reassign(self, tip_id: int, region: str, now: datetime) -> None:
        """Hand a tip to another region's staff."""
        await self._set(tip_id, region=region, updated_at=now)

    async def mark_reminded(self, tip_id: int, now: datetime) -> None:
        """Its region was reminded that nobody acknowledged it."""
        await self._set(tip_id, reminded_at=now)

    async def mark_escalated(self, tip_id: int, now: datetime) -> None:
        """The central office was told that nobody acknowledged it."""
        await self._set(tip_id, escalated_at=now)

    async def redact(self, tip_id: int, field: Redactable, now: datetime) -> None:
        """Forget one of the volunteer's answers in a stored tip (they unsent its message)."""
        if field == "narrative":
            await self._set(tip_id, narrative_enc="", updated_at=now)  # the column takes no NULL
        else:
            await self._set(tip_id, **{_REDACTABLE_COLUMNS[field]: None}, updated_at=now)

    async def open(self, region: str | None, limit: int) -> list[TipDetail]:
        q = select(t.Tip).where(t.Tip.status != "closed").order_by(t.Tip.id.desc()).limit(limit)
        if region is not None:
            q = q.where(t.Tip.region == region)
        return await self._details((await self.session.execute(q)).scalars().all())

    async def unacknowledged(self, created_before: datetime) -> list[TipDetail]:
        q = (
            select(t.Tip)
            .where(t.Tip.status == "received", t.Tip.created_at <= created_before)
            .where(t.Tip.escalated_at.is_(None))
            .order_by(t.Tip.id)
            .limit(500)
        )
        return await self._details((await self.session.execute(q)).scalars().all())

    async def region_counts(self, region: str, since: datetime, overdue_before: datetime) -> dict[str, int]:
        async def count(*conds: Any) -> int:
            q = select(func.count()).select_from(t.Tip).where(t.Tip.region == region, *conds)
            return int((await self.session.execute(q)).scalar_one())

        return {
            "new": await count(t.Tip.created_at >= since),
            "unacknowledged": await count(t.Tip.status == "received"),
            "overdue": await count(t.Tip.status == "received", t.Tip.created_at <= overdue_before),
            "open": await count(t.Tip.status != "closed"),
        }

    async def add_event(
        self,
        tip_id: int | None,
        *,
        actor: str,
        action: str,
        at: datetime,
        from_status: str | None = None,
        to_status: str | None = None,
        note: str | None = None,
    ) -> None:
        self.session.add(
            t.TipEvent(
                tip_id=tip_id,
                actor=actor,
                action=action,
                at=at,
                from_status=from_status,
                to_status=to_status,
                note=note,
            )
        )
