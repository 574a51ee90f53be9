"""Operator read-outs: tip export (never the reporter's identity) and the status summary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from storage import tables as t
from storage.repositories import IN_FLIGHT, SqlStore, utc

#: exported columns; nothing here can identify the reporter (no contact, chat or contact_how)
EXPORT_FIELDS = (
    "case_code",
    "created_at",
    "status",
    "category",
    "region",
    "province",
    "district",
    "incident_date",
    "incident_date_text",
    "amount_thb",
    "agency",
    "official",
    "narrative",
    "attachments",
    "channel",
)


#: how many case codes `status` names behind routing gaps and failed sends
NAMED = 20


async def export_tips(store: SqlStore, region: str | None = None) -> AsyncIterator[dict[str, Any]]:
    async with store.transaction() as uow:
        counts: dict[Any, Any] = dict(
            (
                await uow.session.execute(
                    select(t.Attachment.tip_id, func.count())
                    .where(t.Attachment.tip_id.is_not(None))
                    .group_by(t.Attachment.tip_id)  # type: ignore[call-overload,union-attr]
                )
            ).all()
        )
        q = select(t.Tip).order_by(t.Tip.id)  # type: ignore[arg-type]
        if region is not None:
            q = q.where(t.Tip.region == region)
        rows = (await uow.session.execute(q)).scalars().all()
    for r in rows:
        created = utc(r.created_at)
        yield {
            "case_code": r.case_code,
            "created_at": created.isoformat() if created else None,
            # the full status, as staff set it (`forwarded.nacc`, `closed.duplicate`)
            "status": f"{r.status}.{r.status_detail}" if r.status_detail else r.status,
            "category": r.category,
            "region": r.region,
            "province": r.province,
            "district": r.district,
            "incident_date": r.incident_date.isoformat() if r.incident_date else None,
            "incident_date_text": r.incident_date_text,
            "amount_thb": r.amount_thb,
            "agency": r.agency,
            "official": r.official,
            "narrative": r.narrative_enc,
            "attachments": int(counts.get(r.id, 0)),
            "channel": r.channel,
        }


async def status_summary(store: SqlStore) -> dict[str, Any]:
    async with store.transaction() as uow:
        s = uow.session
        tips = (
            await s.execute(
                select(t.Tip.region, t.Tip.status, func.count()).group_by(t.Tip.region, t.Tip.status)
            )
        ).all()  # type: ignore[call-overload]
        inbox = (await s.execute(select(t.InboxRow.status, func.count()).group_by(t.InboxRow.status))).all()  # type: ignore[call-overload]
        outbox = (
            await s.execute(
                select(t.OutboxRow.channel, t.OutboxRow.status, func.count()).group_by(
                    t.OutboxRow.channel, t.OutboxRow.status
                )
            )
        ).all()  # type: ignore[call-overload]
        gaps = (
            await s.execute(
                select(func.count()).select_from(t.TipEvent).where(t.TipEvent.action == "routing_gap")
            )
        ).scalar_one()
        staff = (
            await s.execute(
                select(t.StaffChat.region, func.count())
                .where(t.StaffChat.active.is_(True))
                .group_by(t.StaffChat.region)
            )
        ).all()  # type: ignore[call-overload]
        paused = (
            (await s.execute(select(t.KeyValue).where(t.KeyValue.key.startswith("paused.")))).scalars().all()
        )  # type: ignore[attr-defined]
        oldest = (
            await s.execute(select(func.min(t.InboxRow.received_at)).where(t.InboxRow.status == "pending"))
        ).scalar_one()
        in_flight = (
            await s.execute(
                select(func.count())
                .select_from(t.OutboxRow)
                .where(t.OutboxRow.status == "pending", t.OutboxRow.last_error == IN_FLIGHT)
            )
        ).scalar_one()
        duplicates = (
            await s.execute(
                select(func.count()).select_from(t.OutboxRow).where(t.OutboxRow.possible_duplicate.is_(True))
            )
        ).scalar_one()
        processes = (
            (await s.execute(select(t.ProcessRow).order_by(t.ProcessRow.started_at.desc()).limit(20)))  # type: ignore[union-attr]
            .scalars()
            .all()
        )
        held: dict[Any, Any] = dict(
            (
                await s.execute(
                    select(t.OutboxRow.lease_holder, func.count())
                    .where(t.OutboxRow.lease_holder.is_not(None))  # type: ignore[union-attr]
                    .group_by(t.OutboxRow.lease_holder)
                )
            ).all()  # type: ignore[arg-type]
        )
        failures = (
            await s.execute(
                select(t.OutboxRow.channel, t.OutboxRow.last_error, func.count())
                .where(t.OutboxRow.status == "failed")
                .group_by(t.OutboxRow.channel, t.OutboxRow.last_error)  # type: ignore[call-overload]
            )
        ).all()
        gap_codes = (
            await s.execute(
                select(t.Tip.case_code, t.Tip.region, t.TipEvent.action, t.TipEvent.at)
                .join(t.Tip, t.Tip.id == t.TipEvent.tip_id)
                .where(t.TipEvent.action.in_(("routing_gap", "unalerted")))  # type: ignore[attr-defined]
                .order_by(t.TipEvent.id.desc())  # type: ignore[union-attr]
                .limit(NAMED)
            )
        ).all()
        failed_codes = (
            await s.execute(
                select(t.Tip.case_code, t.OutboxRow.channel, t.OutboxRow.kind, t.OutboxRow.last_error)
                .join(t.Tip, t.Tip.id == t.OutboxRow.tip_id)
                .where(t.OutboxRow.status == "failed")
                .order_by(t.OutboxRow.id.desc())  # type: ignore[union-attr]
                .limit(NAMED)
            )
        ).all()
    now = datetime.now().astimezone()
    oldest_at = utc(oldest)
    return {
        "database": store.engine.dialect.name,
        "oldest_pending_seconds": (now - oldest_at).total_seconds() if oldest_at else None,
        "outbox_in_flight": int(in_flight),
        "possible_duplicates": int(duplicates),
        "tips": [{"region": r, "status": st, "count": n} for r, st, n in tips],
        "inbox": {str(st): int(n) for st, n in inbox},
        "outbox": [{"channel": c, "status": st, "count": n} for c, st, n in outbox],
        "failed_sends": [{"channel": c, "error": e, "count": n} for c, e, n in failures],
        "routing_gaps": int(gaps),
        # the newest tips behind routing gaps (and those no chat at all was alerted to)
        "routing_gap_tips": [
            {"case_code": c, "region": r, "unalerted": a == "unalerted", "at": utc(at)}
            for c, r, a, at in gap_codes
        ],
        # the newest failed sends that concern a tip (alerts, status notices), with its code
        "failed_send_tips": [
            {"case_code": c, "channel": ch, "kind": k, "error": e} for c, ch, k, e in failed_codes
        ],
        "processes": [
            {
                "instance": p.instance,
                "role": p.role,
                "pid": p.pid,
                "incarnation": p.id,
                "started_at": utc(p.started_at),
                "heartbeat_seconds": (now - hb).total_seconds() if (hb := utc(p.heartbeat_at)) else None,
                "stopped": p.stop_reason if p.stopped_at is not None else None,
                "outbox_leased": int(held.get(p.id, 0)),
            }
            for p in processes
        ],
        "staff_chats": {str(r): int(n) for r, n in staff},
        "paused": {
            kv.key.removeprefix("paused."): kv.value
            for kv in paused
            if datetime.fromisoformat(kv.value) > now
        },
    }


async def queue_depths(store: SqlStore) -> dict[str, Any]:
    """Inbox and outbox rows by status and tips by (region, status), for metrics and shutdown."""
    async with store.transaction() as uow:
        s = uow.session
        inbox = (await s.execute(select(t.InboxRow.status, func.count()).group_by(t.InboxRow.status))).all()  # type: ignore[call-overload]
        outbox = (
            await s.execute(select(t.OutboxRow.status, func.count()).group_by(t.OutboxRow.status))  # type: ignore[call-overload]
        ).all()
        tips = (
            await s.execute(
                select(t.Tip.region, t.Tip.status, func.count()).group_by(t.Tip.region, t.Tip.status)
            )
        ).all()  # type: ignore[call-overload]
    return {
        "inbox": {str(st): int(n) for st, n in inbox},
        "outbox": {str(st): int(n) for st, n in outbox},
        "tips": {(str(r), str(st)): int(n) for r, st, n in tips},
    }
