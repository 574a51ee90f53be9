"""The case desk's rows: sign-in links and sessions (tokens stored as keyed hashes only),
officers, and the inbox, tip page and overview queries over tips.

Column names stay here; the desk's rules (who sees what) are in `bot/core/desk.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, literal_column, or_, select, update

from bot.core.desk import (
    DeskFilter,
    DeskPage,
    DeskRow,
    DeskSessionRecord,
    Officer,
    Overview,
    TimelineEntry,
)
from storage import tables as t
from storage.crypto import keyring
from storage.repositories.base import Repository, utc

THAI = timedelta(hours=7)


def token_hash(kind: str, token: str) -> str:
    return keyring().lookup_hash(f"desk-{kind}:{token}")


def _thai_midnight(d: date) -> datetime:
    """Midnight of a Thai calendar day, in UTC."""
    return datetime.combine(d, time(), tzinfo=UTC) - THAI


def _now(value: datetime | None) -> datetime:
    return utc(value) or datetime.now(UTC)


class SqlDesk(Repository):
    # ---- links and sessions --------------------------------------------------------------------
    async def add_link(
        self, token: str, staff_chat_id: int, case_code: str | None, now: datetime, ttl: timedelta
    ) -> None:
        self.session.add(
            t.DeskLink(
                token_hash=token_hash("link", token),
                staff_chat_id=staff_chat_id,
                case_code=case_code,
                created_at=now,
                expires_at=now + ttl,
            )
        )
        await self.session.flush()

    async def redeem_link(self, token: str, now: datetime) -> tuple[int, str | None] | None:
        """Use a link once: (staff chat, case code) or None when unknown, used or expired.

        The UPDATE only takes a row nobody used, so two browsers racing with one link get one
        session between them.
        """
        h = token_hash("link", token)
        row = (
            await self.session.execute(select(t.DeskLink).where(t.DeskLink.token_hash == h))
        ).scalar_one_or_none()
        if row is None or row.used_at is not None or _now(row.expires_at) <= now:
            return None
        done = await self.session.execute(
            update(t.DeskLink)
            .where(t.DeskLink.id == row.id, t.DeskLink.used_at.is_(None))
            .values(used_at=now)
        )
        if done.rowcount != 1:
            return None
        return row.staff_chat_id, row.case_code

    async def add_session(
        self, token: str, staff_chat_id: int, csrf: str, locale: str, now: datetime, lifetime: timedelta
    ) -> int:
        row = t.DeskSession(
            token_hash=token_hash("session", token),
            staff_chat_id=staff_chat_id,
            csrf=csrf,
            locale=locale,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
        )
        self.session.add(row)
        await self.session.flush()
        assert row.id is not None
        return row.id

    async def session_for(self, token: str, now: datetime, idle: timedelta) -> DeskSessionRecord | None:
        """The live session of this cookie, touched; None when unknown, idle too long, past its
        absolute limit, or its staff chat was revoked or left."""
        q = (
            select(t.DeskSession, t.StaffChat.region, t.StaffChat.role, t.DeskOfficer.name)
            .join(t.StaffChat, t.StaffChat.id == t.DeskSession.staff_chat_id)
            .outerjoin(t.DeskOfficer, t.DeskOfficer.id == t.DeskSession.officer_id)
            .where(t.DeskSession.token_hash == token_hash("session", token))
            .where(t.StaffChat.active.is_(True))
        )
        found = (await self.session.execute(q)).first()
        if found is None:
            return None
        row, region, role, officer = found
        last = _now(row.last_seen_at)
        if _now(row.expires_at) <= now or last <= now - idle:
            return None
        if now - last > timedelta(seconds=30):  # a write per half minute at most, not per request
            await self.session.execute(
                update(t.DeskSession).where(t.DeskSession.id == row.id).values(last_seen_at=now)
            )
        assert row.id is not None
        return DeskSessionRecord(
            id=row.id,
            staff_chat_id=row.staff_chat_id,
            region=region,
            role=role,
            csrf=row.csrf,
            locale=row.locale,
            officer_id=row.officer_id,
            officer_name=officer,
            created_at=_now(row.created_at),
            last_seen_at=last,
            expires_at=_now(row.expires_at),
        )

    async def set_session_locale(self, session_id: int, locale: str) -> None:
        await self.session.execute(
            update(t.DeskSession).where(t.DeskSession.id == session_id).values(locale=locale)
        )

    async def end_session(self, session_id: int) -> None:
        await self.session.execute(delete(t.DeskSession).where(t.DeskSession.id == session_id))

    async def sweep(self, now: datetime, idle: timedelta) -> tuple[int, int]:
        """Delete links that expired or were used, and sessions past either limit or of a staff
        chat that no longer is one; returns (links, sessions) removed."""
        links = await self.session.execute(
            delete(t.DeskLink).where(or_(t.DeskLink.expires_at <= now, t.DeskLink.used_at.is_not(None)))
        )
        gone_chat = ~exists().where(
            t.StaffChat.id == t.DeskSession.staff_chat_id, t.StaffChat.active.is_(True)
        )
        sessions = await self.session.execute(
            delete(t.DeskSession).where(
                or_(t.DeskSession.expires_at <= now, t.DeskSession.last_seen_at <= now - idle, gone_chat)
            )
        )
        return int(links.rowcount or 0), int(sessions.rowcount or 0)

    # ---- officers ----------------------------------------------------------------------------
    async def name_officer(self, session_id: int, region: str, name: str, now: datetime) -> Officer:
        q = select(t.DeskOfficer).where(t.DeskOfficer.region == region, t.DeskOfficer.name == name)
        row = (await self.session.execute(q)).scalar_one_or_none()
        if row is None:
            row = t.DeskOfficer(region=region, name=name, created_at=now)
            self.session.add(row)
            await self.session.flush()
        assert row.id is not None
        await self.session.execute(
            update(t.DeskSession).where(t.DeskSession.id == session_id).values(officer_id=row.id)
        )
        return Officer(row.id, row.region, row.name)

    async def officers(self, region: str | None) -> list[Officer]:
        q = select(t.DeskOfficer).order_by(t.DeskOfficer.region, t.DeskOfficer.name)
        if region is not None:
            q = q.where(t.DeskOfficer.region == region)
        return [Officer(r.id, r.region, r.name) for r in (await self.session.execute(q)).scalars().all()]

    async def assign(self, tip_id: int, officer_id: int | None, now: datetime) -> None:
        await self.session.execute(
            update(t.Tip).where(t.Tip.id == tip_id).values(assigned_officer_id=officer_id, updated_at=now)
        )

    # ---- the inbox ---------------------------------------------------------------------------
    def _conditions(
        self,
        f: DeskFilter,
        region: str | None,
        overdue_before: datetime,
        *,
        with_status: bool = True,
        only: Sequence[int] | None = None,
    ) -> list[Any]:
        conds: list[Any] = []
        if only is not None:
            conds.append(t.Tip.id.in_(list(only)))
        if region is not None:
            conds.append(t.Tip.region == region)
        if with_status and f.status:
            conds.append(t.Tip.status == f.status)
        if f.category:
            conds.append(t.Tip.category == f.category)
        if f.province:
            conds.append(t.Tip.province == f.province)
        if f.district:
            conds.append(t.Tip.district == f.district)
        if f.date_from:
            conds.append(t.Tip.created_at >= _thai_midnight(f.date_from))
        if f.date_to:
            conds.append(t.Tip.created_at < _thai_midnight(f.date_to + timedelta(days=1)))
        if f.has_evidence:
            conds.append(exists().where(t.Attachment.tip_id == t.Tip.id))
        if f.overdue:
            conds.append(and_(t.Tip.status == "received", t.Tip.created_at <= overdue_before))
        if f.routing_gap:
            conds.append(exists().where(t.TipEvent.tip_id == t.Tip.id, t.TipEvent.action == "routing_gap"))
        if f.assigned_to is not None:
            conds.append(t.Tip.assigned_officer_id == f.assigned_to)
        return conds

    @staticmethod
    def _order(sort: str) -> list[Any]:
        if sort == "oldest":
            return [t.Tip.created_at.asc(), t.Tip.id.asc()]
        if sort == "status":
            return [t.Tip.status.asc(), t.Tip.created_at.desc(), t.Tip.id.desc()]
        if sort == "province":
            return [t.Tip.province.asc(), t.Tip.created_at.desc(), t.Tip.id.desc()]
        return [t.Tip.created_at.desc(), t.Tip.id.desc()]

    async def find(
        self,
        f: DeskFilter,
        region: str | None,
        overdue_before: datetime,
        *,
        limit: int,
        offset: int,
        full: bool = False,
        search_cap: int = 200_000,
        only: Sequence[int] | None = None,
    ) -> DeskPage:
        """A page of the inbox with its total and counts by status (other filters applied).

        A search decrypts the narratives, agencies and positions of the tips the other filters
        leave (they are encrypted at rest; no index of their words is kept) and matches in memory.
        """
        conds = self._conditions(f, region, overdue_before, only=only)
        by_status_q = (
            select(t.Tip.status, func.count())
            .where(*self._conditions(f, region, overdue_before, with_status=False, only=only))
            .group_by(t.Tip.status)
        )
        if f.query:
            needle = f.query.casefold()
            q = select(
                t.Tip.id, t.Tip.status, t.Tip.narrative_enc, t.Tip.agency, t.Tip.official, t.Tip.case_code
            )
            q = q.where(*self._conditions(f, region, overdue_before, with_status=False, only=only))
            q = q.order_by(*self._order(f.sort)).limit(search_cap)
            hits: list[int] = []
            by_status: dict[str, int] = {}
            for tip_id, status, narrative, agency, official, code in (await self.session.execute(q)).all():
                text = " ".join(x for x in (narrative, agency, official, code) if x).casefold()
                if needle in text:
                    by_status[status] = by_status.get(status, 0) + 1
                    if not f.status or status == f.status:
                        hits.append(int(tip_id))
            rows = await self.rows(hits[offset : offset + limit], full=full, keep_order=True)
            return DeskPage(rows=rows, total=len(hits), by_status=by_status)
        # One scan gives the counts per status; the total is theirs (of the chosen status, or all).
        by_status = {str(s): int(n) for s, n in (await self.session.execute(by_status_q)).all()}
        total = by_status.get(f.status, 0) if f.status else sum(by_status.values())
        ids_q = select(t.Tip.id).where(*conds).order_by(*self._order(f.sort)).limit(limit).offset(offset)
        ids = [int(i) for i in (await self.session.execute(ids_q)).scalars().all()]
        return DeskPage(
            rows=await self.rows(ids, full=full, keep_order=True), total=total, by_status=by_status
        )

    async def rows(self, ids: Sequence[int], *, full: bool = False, keep_order: bool = True) -> list[DeskRow]:
        if not ids:
            return []
        cols: list[Any] = [
            t.Tip.id,
            t.Tip.case_code,
            t.Tip.category,
            t.Tip.status,
            t.Tip.status_detail,
            t.Tip.region,
            t.Tip.province,
            t.Tip.district,
            t.Tip.created_at,
            t.Tip.incident_date,
            t.Tip.amount_thb,
            t.Tip.acknowledged_at,
            t.DeskOfficer.name,
        ]
        if full:
            cols += [t.Tip.narrative_enc, t.Tip.agency, t.Tip.official]
        q = (
            select(*cols)
            .outerjoin(t.DeskOfficer, t.DeskOfficer.id == t.Tip.assigned_officer_id)
            .where(t.Tip.id.in_(list(ids)))
        )
        found = {int(r[0]): r for r in (await self.session.execute(q)).all()}
        counts = {
            int(a): int(n)
            for a, n in (
                await self.session.execute(
                    select(t.Attachment.tip_id, func.count())
                    .where(t.Attachment.tip_id.in_(list(ids)))
                    .group_by(t.Attachment.tip_id)
                )
            ).all()
        }
        gaps = {
            int(i)
            for i in (
                await self.session.execute(
                    select(t.TipEvent.tip_id)
                    .where(t.TipEvent.tip_id.in_(list(ids)), t.TipEvent.action == "routing_gap")
                    .distinct()
                )
            ).scalars()
        }
        out = []
        for tip_id in ids:
            r = found.get(tip_id)
            if r is None:
                continue
            out.append(
                DeskRow(
                    id=tip_id,
                    case_code=r[1],
                    category=r[2],
                    status=r[3],
                    status_detail=r[4],
                    region=r[5],
                    province=r[6],
                    district=r[7],
                    created_at=_now(r[8]),
                    incident_date=r[9],
                    amount_thb=r[10],
                    attachments=counts.get(tip_id, 0),
                    acknowledged_at=utc(r[11]),
                    officer=r[12],
                    routing_gap=tip_id in gaps,
                    narrative=(r[13] or "") if full else "",
                    agency=r[14] if full else None,
                    official=r[15] if full else None,
                )
            )
        return out

    # ---- the tip page --------------------------------------------------------------------------
    async def tip_extra(self, tip_id: int) -> dict[str, Any]:
        """What the tip page shows beyond `TipDetail`: the shared location, the assigned
        officer, when it was acknowledged."""
        q = (
            select(t.Tip.location, t.Tip.assigned_officer_id, t.DeskOfficer.name, t.Tip.acknowledged_at)
            .outerjoin(t.DeskOfficer, t.DeskOfficer.id == t.Tip.assigned_officer_id)
            .where(t.Tip.id == tip_id)
        )
        r = (await self.session.execute(q)).first()
        if r is None:
            return {}
        return {"location": r[0], "officer_id": r[1], "officer": r[2], "acknowledged_at": utc(r[3])}

    async def timeline(self, tip_id: int) -> list[TimelineEntry]:
        q = select(t.TipEvent).where(t.TipEvent.tip_id == tip_id).order_by(t.TipEvent.at, t.TipEvent.id)
        return [
            TimelineEntry(_now(e.at), e.actor, e.action, e.from_status, e.to_status, e.note)
            for e in (await self.session.execute(q)).scalars().all()
        ]

    async def attachment(self, tip_id: int, n: int) -> tuple[int, str, str, str] | None:
        """File number `n` (from 1) of a tip: (id, kind, sniffed type, storage name)."""
        q = (
            select(t.Attachment.id, t.Attachment.kind, t.Attachment.mime, t.Attachment.storage_name)
            .where(t.Attachment.tip_id == tip_id)
            .order_by(t.Attachment.id)
            .offset(max(0, n - 1))
            .limit(1)
        )
        r = (await self.session.execute(q)).first()
        return (int(r[0]), str(r[1]), str(r[2]), str(r[3])) if r is not None else None

    async def attachments(self, tip_id: int) -> list[tuple[int, str, str, int]]:
        q = (
            select(t.Attachment.id, t.Attachment.kind, t.Attachment.mime, t.Attachment.size)
            .where(t.Attachment.tip_id == tip_id)
            .order_by(t.Attachment.id)
        )
        return [(int(i), str(k), str(m), int(s)) for i, k, m, s in (await self.session.execute(q)).all()]

    # ---- the overview ----------------------------------------------------------------------------
    async def overview(self, region: str | None, overdue_before: datetime, since: datetime) -> Overview:
        scope = [t.Tip.region == region] if region is not None else []

        async def grouped(col: Any, *extra: Any) -> dict[str, int]:
            q = select(col, func.count()).where(*scope, *extra).group_by(col)
            return {str(k): int(n) for k, n in (await self.session.execute(q)).all() if k is not None}

        if self._dialect == "postgresql":
            month: Any = func.to_char(func.timezone("Asia/Bangkok", t.Tip.created_at), "YYYY-MM")
        else:
            month = func.strftime("%Y-%m", t.Tip.created_at, literal_column("'+7 hours'"))
        by_month = await grouped(month, t.Tip.created_at >= since)
        overdue_ids = (
            await self.session.execute(
                select(t.Tip.id)
                .where(*scope, t.Tip.status == "received", t.Tip.created_at <= overdue_before)
                .order_by(t.Tip.created_at)
                .limit(20)
            )
        ).scalars()
        unack_ids = (
            await self.session.execute(
                select(t.Tip.id)
                .where(*scope, t.Tip.status == "received")
                .order_by(t.Tip.created_at.desc())
                .limit(20)
            )
        ).scalars()
        return Overview(
            by_status=await grouped(t.Tip.status),
            by_category=await grouped(t.Tip.category),
            by_month=sorted(by_month.items()),
            by_province=await grouped(t.Tip.province),
            by_region=await grouped(t.Tip.region),
            overdue=await self.rows([int(i) for i in overdue_ids]),
            unacknowledged=await self.rows([int(i) for i in unack_ids]),
        )
