"""Repositories: the one place that turns rows into core records and back.

`SqlStore.transaction()` yields a `SqlUnitOfWork` implementing `bot.ports.UnitOfWork`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, literal_column, or_, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bot import metrics
from bot.model import (
    Audience,
    AudienceMember,
    BroadcastRecord,
    ChatAddress,
    ContactRecord,
    InboxEvent,
    InboxItem,
    OutboxItem,
    Recipient,
    StaffChatRecord,
    TipDetail,
    TipRecord,
    TipSummary,
)
from bot.ports import ConcurrentUpdate, DuplicateTip, EventRejected, StorageUnavailable
from storage import tables as t
from storage.crypto import keyring
from storage.database import ping

#: the PostgreSQL notification channel a commit to the inbox signals
INBOX_CHANNEL = "tipbot_inbox"
#: the longest a process holds an outbox row, however alive it looks: a safety net only (a
#: process that stops beating loses its leases long before, see `processes_silent`)
OUTBOX_LEASE = timedelta(minutes=10)
#: `last_error` of an outbox row from the moment its send starts until its outcome is recorded:
#: still there when the row is taken again means the previous sender may have sent it
IN_FLIGHT = "in flight"
#: inbox states after processing, whose payloads and rows the scheduler purges
PROCESSED = ("done", "ignored", "failed")
#: namespaces of PostgreSQL advisory locks (first key of the two-key form)
LOCK_CHAT = 0x7462
LOCK_NAMED = 0x7463


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything in the core is aware UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: PostgreSQL error classes that mean "the server cannot work now", whatever the rows: connection,
#: insufficient resources, operator intervention (shutdown, cancel), system error, internal error
_OUTAGE_SQLSTATES = ("08", "53", "57", "58", "XX")


def _unavailable(exc: BaseException) -> bool:
    """Whether a write failed because the database is unavailable (retry later, every row) rather
    than because of the rows it was given (a retry of those rows fails again)."""
    if isinstance(exc, OSError | ConnectionError | TimeoutError | sa_exc.TimeoutError):
        return True
    if not isinstance(exc, DBAPIError):
        return False  # e.g. a value a column type cannot bind
    if exc.connection_invalidated:
        return True
    state = getattr(exc.orig, "sqlstate", None)
    if isinstance(state, str) and state:
        return state[:2] in _OUTAGE_SQLSTATES
    # SQLite (no SQLSTATE): locked, busy, I/O are OperationalError; constraints are IntegrityError
    return not isinstance(exc, IntegrityError | sa_exc.DataError | sa_exc.ProgrammingError)


#: SQLSTATE classes of errors caused by the rows themselves: data exception, integrity constraint,
#: syntax or access rule (a bug), and an error raised by a trigger or function
_ROW_SQLSTATES = ("22", "23", "42", "P0")


def _refused_rows(exc: BaseException) -> bool:
    """Whether the database refused what it was given (never an outage, a lock timeout or a
    serialization failure, which a later retry of the same work can pass)."""
    if isinstance(exc, IntegrityError | sa_exc.DataError):
        return True
    if not isinstance(exc, DBAPIError) or exc.connection_invalidated:
        return False
    state = getattr(exc.orig, "sqlstate", None)
    if isinstance(state, str) and state:
        return state[:2] in _ROW_SQLSTATES
    return isinstance(exc, sa_exc.ProgrammingError)


def chat_hash(channel: str, chat_id: str) -> str:
    return keyring().lookup_hash(f"{channel}:{chat_id}")


def invite_hash(code: str) -> str:
    return keyring().lookup_hash("invite:" + code.strip().upper())


def _contact(row: t.Contact) -> ContactRecord:
    assert row.id is not None
    return ContactRecord(
        id=row.id,
        channel=row.channel,
        locale=row.locale,
        consented_at=utc(row.consented_at),
        home_province=row.home_province,
        opted_out=row.opted_out,
        reachable=row.reachable,
        last_seen_at=utc(row.last_seen_at),
    )


def _staff(row: t.StaffChat) -> StaffChatRecord:
    assert row.id is not None
    return StaffChatRecord(
        id=row.id,
        channel=row.channel,
        chat_id=row.chat_id_enc,
        region=row.region,
        role=row.role,
        active=row.active,
        locale=row.locale,
    )


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
    )


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


def _outbox(row: t.OutboxRow) -> OutboxItem:
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


class SqlUnitOfWork:
    def __init__(self, session: AsyncSession, outbox_lease: timedelta = OUTBOX_LEASE) -> None:
        self.session = session
        self._dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
        self.outbox_lease = outbox_lease

    async def try_lock(self, name: str) -> bool:
        """A lock held until this transaction ends; False when another transaction holds it.

        PostgreSQL: a transaction-scoped advisory lock, so several processes run a singleton
        job (the scheduler's tick) once. SQLite: every write transaction already excludes the
        others (BEGIN IMMEDIATE), so the lock is always granted.
        """
        if self._dialect != "postgresql":
            return True
        got = await self.session.execute(
            text("SELECT pg_try_advisory_xact_lock(:ns, hashtext(:name))"), {"ns": LOCK_NAMED, "name": name}
        )
        return bool(got.scalar_one())

    # ---- inbox -------------------------------------------------------------------------------
    async def inbox_pending(
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
        q = select(r).join(w, w.c.id == r.id).where(w.c.held == 0)
        if per_chat is not None:
            q = q.where(w.c.rank <= per_chat)
        q = q.order_by(w.c.urgent.desc(), w.c.rank, w.c.occurred_at, w.c.id).limit(limit)
        rows = (await self.session.execute(q)).scalars().all()
        return [(self._inbox_item(row), row.chat_hash) for row in rows]

    @staticmethod
    def _inbox_item(r: t.InboxRow) -> InboxItem:
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

    async def inbox_claim(self, item_id: int) -> InboxItem | None:
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
        else:
            head = (
                await self.session.execute(
                    select(t.InboxRow.channel, t.InboxRow.chat_hash).where(t.InboxRow.id == item_id)
                )
            ).first()
            if head is None:
                return None
        channel, chash = head[0], head[1]
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
        q = select(t.InboxRow).where(t.InboxRow.id == item_id, t.InboxRow.status == "pending", ~before)
        if self._dialect == "postgresql":
            q = q.with_for_update(of=t.InboxRow, skip_locked=True)
        row = (await self.session.execute(q)).scalar_one_or_none()
        return self._inbox_item(row) if row else None

    async def inbox_finish(self, item_id: int, status: str, now: datetime, error: str | None = None) -> None:
        await self.session.execute(
            update(t.InboxRow)
            .where(t.InboxRow.id == item_id)  # type: ignore[arg-type]
            .values(status=status, processed_at=now, error=(error or None) and error[:500])
        )

    async def inbox_retry_later(self, item_id: int, error: str, next_at: datetime) -> None:
        await self.session.execute(
            update(t.InboxRow)
            .where(t.InboxRow.id == item_id)  # type: ignore[arg-type]
            .values(attempts=t.InboxRow.attempts + 1, error=error[:500], next_attempt_at=next_at)
        )

    async def inbox_forget_payloads(self, channel: str, chat_id: str) -> None:
        await self.session.execute(
            update(t.InboxRow)
            .where(t.InboxRow.channel == channel, t.InboxRow.chat_hash == chat_hash(channel, chat_id))  # type: ignore[arg-type]
            .values(payload=None)
        )

    async def inbox_counts(self) -> dict[str, int]:
        rows = await self.session.execute(
            select(t.InboxRow.status, func.count()).group_by(t.InboxRow.status)  # type: ignore[call-overload]
        )
        return {str(s): int(n) for s, n in rows.all()}

    async def inbox_purge(
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

    # ---- contacts and conversations --------------------------------------------------------
    async def _contact_row(self, channel: str, chat_id: str) -> t.Contact | None:
        q = select(t.Contact).where(
            t.Contact.channel == channel, t.Contact.chat_hash == chat_hash(channel, chat_id)
        )
        return (await self.session.execute(q)).scalar_one_or_none()

    async def contact_get(self, channel: str, chat_id: str) -> ContactRecord | None:
        row = await self._contact_row(channel, chat_id)
        return _contact(row) if row else None

    async def contact_create(self, channel: str, chat_id: str, locale: str, now: datetime) -> ContactRecord:
        row = t.Contact(
            channel=channel,
            chat_hash=chat_hash(channel, chat_id),
            chat_id_enc=chat_id,
            locale=locale,
            created_at=now,
            last_seen_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        return _contact(row)

    async def contact_update(self, contact_id: int, **fields: Any) -> None:
        if fields:
            await self.session.execute(
                update(t.Contact).where(t.Contact.id == contact_id).values(**fields)  # type: ignore[arg-type]
            )

    async def contact_delete(self, contact_id: int) -> None:
        await self.session.execute(delete(t.Conversation).where(t.Conversation.contact_id == contact_id))  # type: ignore[arg-type]
        await self.session.execute(delete(t.Contact).where(t.Contact.id == contact_id))  # type: ignore[arg-type]

    async def contacts_link(self, first: int, second: int, new_key: str) -> bool:
        """Mark two chats as one volunteer's (keeping a key either already has); False if one is gone."""
        rows = [await self.session.get(t.Contact, i) for i in (first, second)]
        if any(r is None for r in rows):
            return False
        a, b = rows[0], rows[1]
        assert a is not None
        assert b is not None
        key = a.link_key or b.link_key or new_key
        for old in {a.link_key, b.link_key} - {None, key}:
            await self.session.execute(
                update(t.Contact).where(t.Contact.link_key == old).values(link_key=key)  # type: ignore[arg-type]
            )
        a.link_key = b.link_key = key
        return True

    async def contact_set_reachable(self, channel: str, chat_id: str, reachable: bool) -> None:
        await self.session.execute(
            update(t.Contact)
            .where(t.Contact.channel == channel, t.Contact.chat_hash == chat_hash(channel, chat_id))  # type: ignore[arg-type]
            .values(reachable=reachable)
        )

    async def conversation_load(self, contact_id: int) -> tuple[dict[str, Any], int]:
        q = select(t.Conversation).where(t.Conversation.contact_id == contact_id)
        if self._dialect == "postgresql":
            q = q.with_for_update()
        row = (await self.session.execute(q)).scalar_one_or_none()
        if row is None:
            return {}, 0
        return dict(row.state or {}), row.version

    async def conversation_save(
        self, contact_id: int, state: dict[str, Any], version: int, now: datetime
    ) -> None:
        if version == 0:
            self.session.add(t.Conversation(contact_id=contact_id, state=state, version=1, updated_at=now))
            try:
                await self.session.flush()
            except IntegrityError as exc:
                raise ConcurrentUpdate(str(contact_id)) from exc
            return
        res = await self.session.execute(
            update(t.Conversation)
            .where(t.Conversation.contact_id == contact_id, t.Conversation.version == version)  # type: ignore[arg-type]
            .values(state=state, version=version + 1, updated_at=now)
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrentUpdate(str(contact_id))

    # ---- tips ----------------------------------------------------------------------------------
    async def tip_add(
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
            location={"lat": loc.latitude, "lon": loc.longitude, "title": loc.title, "address": loc.address}
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

    async def tips_of_contact(self, contact_id: int) -> list[TipSummary]:
        rows = (
            (
                await self.session.execute(
                    select(t.Tip).where(t.Tip.contact_id == contact_id).order_by(t.Tip.id)
                )
            )  # type: ignore[arg-type]
            .scalars()
            .all()
        )
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

    async def tip_get(self, case_code: str) -> TipDetail | None:
        row = (
            await self.session.execute(select(t.Tip).where(t.Tip.case_code == case_code))
        ).scalar_one_or_none()
        if row is None:
            return None
        return (await self._details([row]))[0]

    async def tip_update(self, tip_id: int, **fields: Any) -> None:
        await self.session.execute(update(t.Tip).where(t.Tip.id == tip_id).values(**fields))

    async def tips_open(self, region: str | None, limit: int) -> list[TipDetail]:
        q = select(t.Tip).where(t.Tip.status != "closed").order_by(t.Tip.id.desc()).limit(limit)
        if region is not None:
            q = q.where(t.Tip.region == region)
        return await self._details((await self.session.execute(q)).scalars().all())

    async def tips_unacknowledged(self, created_before: datetime) -> list[TipDetail]:
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

    async def contact_address(self, contact_id: int) -> ChatAddress | None:
        row = await self.session.get(t.Contact, contact_id)
        if row is None:
            return None
        return ChatAddress(
            channel=row.channel, chat_id=row.chat_id_enc, locale=row.locale, reachable=row.reachable
        )

    async def tip_event_add(
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

    # ---- evidence ------------------------------------------------------------------------------
    async def attachment_add(
        self,
        *,
        contact_id: int | None,
        message_ref: str | None,
        kind: str,
        mime: str,
        size: int,
        sha256: str,
        storage_name: str,
        file_name: str | None,
        now: datetime,
    ) -> int:
        row = t.Attachment(
            contact_id=contact_id,
            message_ref=message_ref,
            kind=kind,
            mime=mime,
            size=size,
            sha256=sha256,
            storage_name=storage_name,
            file_name=file_name,
            created_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        assert row.id is not None
        return row.id

    async def attachments_link(self, attachment_ids: Sequence[int], tip_id: int) -> None:
        if attachment_ids:
            await self.session.execute(
                update(t.Attachment).where(t.Attachment.id.in_(list(attachment_ids))).values(tip_id=tip_id)  # type: ignore[union-attr]
            )

    async def attachment_forget(self, contact_id: int, message_ref: str) -> tuple[int, str] | None:
        q = select(t.Attachment).where(
            t.Attachment.contact_id == contact_id, t.Attachment.message_ref == message_ref
        )
        row = (await self.session.execute(q)).scalar_one_or_none()
        if row is None or row.id is None:
            return None
        found = (row.id, row.storage_name)
        await self.session.delete(row)
        return found

    async def attachments_of(self, tip_id: int) -> list[tuple[int, str]]:
        q = (
            select(t.Attachment.id, t.Attachment.kind)
            .where(t.Attachment.tip_id == tip_id)
            .order_by(t.Attachment.id)
        )
        return [(int(i), str(k)) for i, k in (await self.session.execute(q)).all()]

    async def attachment_file(self, attachment_id: int) -> tuple[str, str] | None:
        row = await self.session.get(t.Attachment, attachment_id)
        return (row.storage_name, row.mime) if row is not None else None

    async def attachments_unlinked(self, before: datetime, limit: int) -> list[tuple[int, int | None]]:
        """(id, contact id) of attachments of no tip, stored before `before`, oldest first."""
        q = (
            select(t.Attachment.id, t.Attachment.contact_id)
            .where(t.Attachment.tip_id.is_(None), t.Attachment.created_at < before)  # type: ignore[union-attr,operator]
            .order_by(t.Attachment.id)  # type: ignore[arg-type]
            .limit(limit)
        )
        return [(int(i), c) for i, c in (await self.session.execute(q)).all()]

    async def attachments_delete_unlinked(self, attachment_ids: Sequence[int]) -> list[str]:
        """Delete those of these attachments that still belong to no tip; their file names.

        The tip check is repeated in the DELETE itself: a tip submitted meanwhile keeps its
        evidence (PostgreSQL re-reads the row after waiting for the submitting transaction).
        """
        if not attachment_ids:
            return []
        q = (
            delete(t.Attachment)
            .where(t.Attachment.id.in_(list(attachment_ids)), t.Attachment.tip_id.is_(None))  # type: ignore[union-attr]
            .returning(t.Attachment.storage_name)
        )
        return [str(name) for name in (await self.session.execute(q)).scalars().all()]

    # ---- staff ---------------------------------------------------------------------------------
    async def staff_for_region(self, region: str) -> list[StaffChatRecord]:
        q = (
            select(t.StaffChat)
            .where(t.StaffChat.region == region, t.StaffChat.active.is_(True))
            .order_by(t.StaffChat.id)
        )  # type: ignore[arg-type]
        return [_staff(r) for r in (await self.session.execute(q)).scalars().all()]

    async def staff_get(self, channel: str, chat_id: str) -> StaffChatRecord | None:
        q = select(t.StaffChat).where(
            t.StaffChat.channel == channel, t.StaffChat.chat_hash == chat_hash(channel, chat_id)
        )
        row = (await self.session.execute(q)).scalar_one_or_none()
        return _staff(row) if row else None

    async def staff_join(
        self, channel: str, chat_id: str, region: str, role: str, locale: str, now: datetime
    ) -> StaffChatRecord:
        q = select(t.StaffChat).where(
            t.StaffChat.channel == channel, t.StaffChat.chat_hash == chat_hash(channel, chat_id)
        )
        row = (await self.session.execute(q)).scalar_one_or_none()
        if row is None:
            row = t.StaffChat(
                channel=channel,
                chat_hash=chat_hash(channel, chat_id),
                chat_id_enc=chat_id,
                region=region,
                role=role,
                locale=locale,
                joined_at=now,
            )
            self.session.add(row)
        else:
            row.region, row.role, row.active, row.joined_at, row.left_at = region, role, True, now, None
        await self.session.flush()
        return _staff(row)

    async def staff_deactivate(self, staff_id: int, now: datetime) -> None:
        await self.session.execute(
            update(t.StaffChat).where(t.StaffChat.id == staff_id).values(active=False, left_at=now)  # type: ignore[arg-type]
        )

    async def staff_regions(self) -> list[str]:
        q = select(t.StaffChat.region).where(t.StaffChat.active.is_(True)).distinct()
        return sorted(str(r) for r in (await self.session.execute(q)).scalars().all())

    async def staff_list(self, region: str | None = None) -> list[StaffChatRecord]:
        q = select(t.StaffChat).order_by(t.StaffChat.id)
        if region is not None:
            q = q.where(t.StaffChat.region == region)
        return [_staff(r) for r in (await self.session.execute(q)).scalars().all()]

    async def staff_by_id(self, staff_id: int) -> StaffChatRecord | None:
        row = await self.session.get(t.StaffChat, staff_id)
        return _staff(row) if row is not None else None

    async def staff_migrate(self, channel: str, old_chat_id: str, new_chat_id: str) -> None:
        await self.session.execute(
            update(t.StaffChat)
            .where(t.StaffChat.channel == channel, t.StaffChat.chat_hash == chat_hash(channel, old_chat_id))  # type: ignore[arg-type]
            .values(chat_hash=chat_hash(channel, new_chat_id), chat_id_enc=new_chat_id)
        )

    async def invite_redeem(self, code: str, now: datetime) -> tuple[int, str, str] | None:
        q = select(t.Invite).where(t.Invite.code_hash == invite_hash(code), t.Invite.used_at.is_(None))  # type: ignore[union-attr]
        row = (await self.session.execute(q)).scalar_one_or_none()
        if row is None or row.id is None:
            return None
        expires = utc(row.expires_at)
        if expires is not None and expires <= now:
            return None
        row.used_at = now
        await self.session.flush()
        return row.id, row.region, row.role

    async def invite_mark_used(self, invite_id: int, staff_id: int) -> None:
        await self.session.execute(update(t.Invite).where(t.Invite.id == invite_id).values(used_by=staff_id))  # type: ignore[arg-type]

    async def invite_create(
        self, code: str, region: str, role: str, expires_at: datetime, now: datetime
    ) -> None:
        self.session.add(
            t.Invite(
                code_hash=invite_hash(code), region=region, role=role, expires_at=expires_at, created_at=now
            )
        )
        await self.session.flush()

    # ---- outbox --------------------------------------------------------------------------------
    async def outbox_add(self, item: OutboxItem, now: datetime) -> None:
        self.session.add(
            t.OutboxRow(
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
            )
        )

    async def outbox_due(
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
            select(t.OutboxRow)
            .where(t.OutboxRow.status == "pending", t.OutboxRow.next_attempt_at <= now, cond)  # type: ignore[operator]
            .order_by(t.OutboxRow.id)  # type: ignore[arg-type]
            .limit(limit)
        )
        if self._dialect == "postgresql":
            q = q.with_for_update(skip_locked=True)
        rows = (await self.session.execute(q)).scalars().all()
        items = [_outbox(r) for r in rows]
        if rows:
            # A lease, not a lock: it names the holder, so the rows are free again as soon as
            # that process is known to be gone (`processes_stop`, `leases_free`); the absolute
            # cap only catches a holder that beats but never gets on. Taking a row is not yet
            # sending it: `outbox_start` marks the send, so only rows that may have gone out are
            # in doubt after a crash.
            await self.session.execute(
                update(t.OutboxRow)
                .where(t.OutboxRow.id.in_([r.id for r in rows]))  # type: ignore[union-attr]
                .values(next_attempt_at=now + self.outbox_lease, lease_holder=holder)
                .execution_options(synchronize_session=False)
            )
        return items

    async def outbox_start(self, item_ids: Sequence[int], holder: str, now: datetime) -> set[int]:
        """Mark leased rows as being sent now; returns those still leased to `holder` (others
        were taken over meanwhile and must not be sent by it)."""
        if not item_ids:
            return set()
        o = t.OutboxRow
        res = await self.session.execute(
            update(o)
            .where(o.id.in_(list(item_ids)), o.status == "pending", o.lease_holder == holder)  # type: ignore[union-attr,arg-type]
            .values(last_error=IN_FLIGHT, next_attempt_at=now + self.outbox_lease)
            .returning(o.id)
            .execution_options(synchronize_session=False)
        )
        return {int(i) for i in res.scalars().all()}

    async def outbox_settle(
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

    async def outbox_release(
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

    async def outbox_retarget(self, item_id: int, chat_id: str) -> None:
        row = await self.session.get(t.OutboxRow, item_id)
        if row is not None:
            row.address_enc = chat_id
            row.chat_hash = chat_hash(row.channel, chat_id)

    # ---- broadcasts ----------------------------------------------------------------------------
    async def broadcast_add(self, bc: BroadcastRecord, now: datetime) -> int:
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

    async def broadcast_get(self, bc_id: int) -> BroadcastRecord | None:
        row = await self.session.get(t.Broadcast, bc_id)
        return _broadcast(row) if row is not None else None

    async def broadcast_list(self, limit: int = 20) -> list[BroadcastRecord]:
        q = select(t.Broadcast).order_by(t.Broadcast.id.desc()).limit(limit)  # type: ignore[union-attr]
        return [_broadcast(r) for r in (await self.session.execute(q)).scalars().all()]

    async def broadcast_transition(
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

    async def broadcasts_due(self, now: datetime) -> list[BroadcastRecord]:
        q = (
            select(t.Broadcast)
            .where(t.Broadcast.status == "scheduled", t.Broadcast.send_at <= now)  # type: ignore[operator]
            .order_by(t.Broadcast.id)  # type: ignore[arg-type]
        )
        if self._dialect == "postgresql":
            q = q.with_for_update(skip_locked=True)
        return [_broadcast(r) for r in (await self.session.execute(q)).scalars().all()]

    async def broadcasts_in(self, status: str) -> list[BroadcastRecord]:
        q = select(t.Broadcast).where(t.Broadcast.status == status).order_by(t.Broadcast.id)  # type: ignore[arg-type]
        return [_broadcast(r) for r in (await self.session.execute(q)).scalars().all()]

    async def broadcasts_to_remind(self, until: datetime, now: datetime) -> list[BroadcastRecord]:
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

    async def recipients_add(self, bc_id: int, members: Sequence[AudienceMember], now: datetime) -> int:
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

    async def recipients_claim(
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

    async def recipients_settle(
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

    async def broadcast_totals(self, bc_id: int) -> dict[str, int]:
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

    async def broadcast_cancel(self, bc_id: int, now: datetime) -> bool:
        done = await self.broadcast_transition(
            bc_id, ("scheduled", "sending"), status="cancelled", finished_at=now
        )
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

    async def rsvp_set(
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

    async def rsvp_question(
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

    async def rsvp_accepted(self, bc_id: int) -> list[tuple[int, ChatAddress]]:
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

    async def broadcast_questions(self, bc_id: int) -> list[str]:
        r = t.BroadcastRecipient
        q = select(r.question).where(r.broadcast_id == bc_id, r.question.is_not(None)).order_by(r.rsvp_at)  # type: ignore[union-attr,arg-type]
        return [str(x) for x in (await self.session.execute(q)).scalars().all()]

    async def notices_of_contact(self, contact_id: int, limit: int = 3) -> list[BroadcastRecord]:
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

    # ---- processes and their leases --------------------------------------------------------------
    async def process_register(
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

    async def process_beat(self, incarnation: str, now: datetime) -> bool:
        """Refresh the heartbeat. False when the row was gone or marked stopped (another process
        took this one for dead and freed its leases); it is marked alive again."""
        row = await self.session.get(t.ProcessRow, incarnation)
        if row is None:
            return False
        was_live = row.stopped_at is None
        row.heartbeat_at, row.stopped_at, row.stop_reason = now, None, None
        return was_live

    async def processes_silent(self, before: datetime) -> list[str]:
        """Processes not stopped whose last heartbeat is older than `before`."""
        p = t.ProcessRow
        q = select(p.id).where(p.stopped_at.is_(None), p.heartbeat_at < before)  # type: ignore[union-attr,operator]
        return [str(i) for i in (await self.session.execute(q)).scalars().all()]

    async def processes_stop(
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
            await self.leases_free(now)
        return stopped

    async def leases_free(self, now: datetime) -> tuple[int, int]:
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

    async def processes_forget(self, stopped_before: datetime) -> int:
        """Delete rows of processes stopped before then (their leases were freed when they stopped)."""
        p = t.ProcessRow
        res = await self.session.execute(delete(p).where(p.stopped_at < stopped_before))  # type: ignore[arg-type,operator]
        return int(res.rowcount or 0)  # type: ignore[attr-defined]

    # ---- kv --------------------------------------------------------------------------------------
    async def kv_get(self, key: str) -> str | None:
        row = await self.session.get(t.KeyValue, key)
        return row.value if row else None

    async def kv_set(self, key: str, value: str) -> None:
        row = await self.session.get(t.KeyValue, key)
        if row is None:
            self.session.add(t.KeyValue(key=key, value=value))
        else:
            row.value = value


class SqlStore:
    """The `bot.ports.Store` on a SQLAlchemy async engine."""

    def __init__(self, engine: AsyncEngine, *, outbox_lease: timedelta = OUTBOX_LEASE) -> None:
        self.engine = engine
        self.outbox_lease = outbox_lease
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        # SQLite has one writer. Queueing our own transactions here is fair and immediate,
        # where SQLite's busy handler would sleep in growing steps; other processes still
        # wait through busy_timeout.
        self._writer = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlUnitOfWork]:
        writer = self._writer if self._writer is not None else contextlib.nullcontext()
        async with writer, self._transaction() as uow:
            yield uow

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[SqlUnitOfWork]:
        try:
            async with self._sessions() as session, session.begin():
                yield SqlUnitOfWork(session, self.outbox_lease)
        except (OperationalError, DBAPIError, OSError, ConnectionError) as exc:
            if _refused_rows(exc):
                raise  # the rows' own fault: the caller isolates them, retrying would fail again
            raise StorageUnavailable(type(exc).__name__) from exc

    async def ping(self) -> bool:
        return await ping(self.engine)

    async def reclaim_space(self) -> None:
        """Give the pages of purged rows back to the file system (SQLite with incremental
        auto-vacuum; elsewhere nothing: PostgreSQL's autovacuum reuses the space)."""
        if self._writer is None:
            return
        async with self._writer, self.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            # executescript steps the pragma to the end; a plain execute frees one page per call
            await raw.driver_connection.executescript("PRAGMA incremental_vacuum;")  # type: ignore[union-attr]

    async def ingest(self, events: Sequence[InboxEvent], now: datetime) -> int:
        """Insert events once each (UNIQUE channel+event_id); returns how many were new.

        Raises `StorageUnavailable` when the database cannot be reached, `EventRejected` when it
        refused the rows for their content (a constraint, a value it cannot store): the caller
        can then store the events one by one. Neither carries the database's message, which may
        quote a row.
        """
        if not events:
            return 0
        try:
            return await self._ingest(events, now)
        except StorageUnavailable as exc:
            cause = exc.__cause__
            if cause is None or _unavailable(cause):
                raise
            raise EventRejected(type(cause).__name__) from None
        except Exception as exc:  # bind errors, constraint violations: the rows, not the database
            if _unavailable(exc):
                raise StorageUnavailable(type(exc).__name__) from None
            raise EventRejected(type(exc).__name__) from None

    async def _ingest(self, events: Sequence[InboxEvent], now: datetime) -> int:
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
            }
            for e in events
        ]
        table: Any = t.InboxRow.__table__  # type: ignore[attr-defined]
        async with self.transaction() as uow:
            if uow._dialect == "postgresql":
                stmt: Any = pg_insert(table).on_conflict_do_nothing(index_elements=["channel", "event_id"])
            else:
                stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=["channel", "event_id"])
            stmt = stmt.returning(table.c.channel)
            result = await uow.session.execute(stmt, rows)
            stored = [str(c) for c in result.scalars().all()]
            if stored and uow._dialect == "postgresql":
                # Wakes the dispatchers of other processes (`tipbot worker`) at commit.
                await uow.session.execute(text(f"NOTIFY {INBOX_CHANNEL}"))
        for channel, n in Counter(e.channel for e in events).items():
            fresh = stored.count(channel)
            metrics.EVENTS_RECEIVED.labels(channel).inc(fresh)
            metrics.EVENTS_DUPLICATE.labels(channel).inc(n - fresh)
        return len(stored)
