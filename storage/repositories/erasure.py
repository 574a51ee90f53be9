"""Erasure: what the reporter's rights and retention remove, one query each.

A tip's content is erased in place (its statistics row stays: case code, region, province,
category, dates, status history); a chat's own rows are deleted. Evidence rows go here and their
file names are returned, so the caller deletes the files once the transaction has committed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from bot.core.ports import TipRef
from storage import tables as t
from storage.repositories.base import Repository, chat_hash
from storage.repositories.inbox import PROCESSED

#: outbox rows past these states are history: their rendered text can go
_SETTLED = ("sent", "failed")


class SqlErasure(Repository):
    # ---- one chat -------------------------------------------------------------------------------
    async def linked_channels(self, contact_id: int) -> list[str]:
        me = await self.session.get(t.Contact, contact_id)
        if me is None or me.link_key is None:
            return []
        q = select(t.Contact.channel).where(t.Contact.link_key == me.link_key, t.Contact.id != contact_id)  # type: ignore[arg-type]
        return sorted({str(c) for c in (await self.session.execute(q)).scalars().all()})

    async def tips_of(self, contact_id: int) -> list[TipRef]:
        q = select(t.Tip).where(t.Tip.contact_id == contact_id).order_by(t.Tip.id)  # type: ignore[arg-type]
        rows = (await self.session.execute(q)).scalars().all()
        return [TipRef(r.id or 0, r.case_code, r.status, r.region) for r in rows]

    async def detach_tip(self, tip_id: int) -> None:
        """The tip stays with the office; nothing leads back to the chat any more."""
        await self.session.execute(
            update(t.Tip)
            .where(t.Tip.id == tip_id)  # type: ignore[arg-type]
            .values(contact_id=None, contact_ok=False, contact_how=None)
        )
        await self.session.execute(
            update(t.Attachment).where(t.Attachment.tip_id == tip_id).values(contact_id=None)  # type: ignore[arg-type]
        )

    async def draft_files(self, contact_id: int) -> list[str]:
        """Delete the evidence of the chat's drafts (no tip yet); their file names."""
        q = (
            delete(t.Attachment)
            .where(t.Attachment.contact_id == contact_id, t.Attachment.tip_id.is_(None))  # type: ignore[arg-type, union-attr]
            .returning(t.Attachment.storage_name)
        )
        return [str(n) for n in (await self.session.execute(q)).scalars().all()]

    async def chat_messages(self, channel: str, chat_id: str) -> int:
        """Delete the messages rendered for this chat that are not on the wire right now."""
        q = delete(t.OutboxRow).where(
            t.OutboxRow.channel == channel,  # type: ignore[arg-type]
            t.OutboxRow.chat_hash == chat_hash(channel, chat_id),  # type: ignore[arg-type]
            t.OutboxRow.status != "sending",  # type: ignore[arg-type]
        )
        return int((await self.session.execute(q)).rowcount or 0)  # type: ignore[attr-defined]

    # ---- one tip --------------------------------------------------------------------------------
    async def erase_tip(self, tip_id: int, now: datetime) -> list[str]:
        """Erase a tip's content, its evidence, its history's notes (questions and answers) and
        the messages that carried it; returns the evidence file names."""
        await self.session.execute(
            update(t.Tip)
            .where(t.Tip.id == tip_id)  # type: ignore[arg-type]
            .values(
                narrative_enc="",
                agency=None,
                official=None,
                district=None,
                incident_date_text=None,
                amount_thb=None,
                contact_ok=False,
                contact_how=None,
                location=None,
                contact_id=None,
                erased_at=now,
            )
        )
        await self.session.execute(
            update(t.TipEvent).where(t.TipEvent.tip_id == tip_id).values(note=None)  # type: ignore[arg-type]
        )
        await self.session.execute(
            delete(t.OutboxRow).where(t.OutboxRow.tip_id == tip_id, t.OutboxRow.status != "sending")  # type: ignore[arg-type]
        )
        q = delete(t.Attachment).where(t.Attachment.tip_id == tip_id).returning(t.Attachment.storage_name)  # type: ignore[arg-type]
        return [str(n) for n in (await self.session.execute(q)).scalars().all()]

    # ---- retention --------------------------------------------------------------------------------
    def _closed(self, before: datetime) -> Any:
        return (
            t.Tip.status == "closed",
            t.Tip.erased_at.is_(None),  # type: ignore[union-attr]
            func.coalesce(t.Tip.updated_at, t.Tip.created_at) < before,
        )

    async def closed_tips(self, before: datetime, limit: int) -> list[TipRef]:
        q = select(t.Tip).where(*self._closed(before)).order_by(t.Tip.id).limit(limit)  # type: ignore[arg-type]
        rows = (await self.session.execute(q)).scalars().all()
        return [TipRef(r.id or 0, r.case_code, r.status, r.region) for r in rows]

    async def count_closed_tips(self, before: datetime) -> int:
        q = select(func.count()).select_from(t.Tip).where(*self._closed(before))
        return int((await self.session.execute(q)).scalar_one())

    async def idle_drafts(self, before: datetime, after_id: int, limit: int) -> list[tuple[int, int]]:
        """(conversation id, contact id) of conversations idle since `before` that hold a draft,
        scanning at most `limit` conversations after `after_id` (the state is encrypted: it is
        read here, not in SQL)."""
        q = (
            select(t.Conversation)
            .where(t.Conversation.updated_at < before, t.Conversation.id > after_id)  # type: ignore[operator, arg-type]
            .order_by(t.Conversation.id)  # type: ignore[arg-type]
            .limit(limit)
        )
        rows = (await self.session.execute(q)).scalars().all()
        return [(r.id or 0, r.contact_id if _holds_draft(r.state) else -1) for r in rows]

    async def clear_draft(self, contact_id: int, now: datetime) -> list[str]:
        """The conversation back to the menu (the draft gone), and the draft's evidence."""
        await self.session.execute(
            update(t.Conversation)
            .where(t.Conversation.contact_id == contact_id)  # type: ignore[arg-type]
            .values(state={"flow": "menu"}, version=t.Conversation.version + 1, updated_at=now)
        )
        return await self.draft_files(contact_id)

    def _old_messages(self, before: datetime) -> Any:
        return (
            t.OutboxRow.status.in_(_SETTLED),  # type: ignore[attr-defined]
            func.coalesce(t.OutboxRow.sent_at, t.OutboxRow.created_at) < before,
        )

    async def old_messages(self, before: datetime, limit: int) -> int:
        doomed = (
            select(t.OutboxRow.id).where(*self._old_messages(before)).order_by(t.OutboxRow.id).limit(limit)
        )  # type: ignore[arg-type]
        q = delete(t.OutboxRow).where(t.OutboxRow.id.in_(doomed))  # type: ignore[union-attr]
        return int((await self.session.execute(q)).rowcount or 0)  # type: ignore[attr-defined]

    async def count_old_messages(self, before: datetime) -> int:
        q = select(func.count()).select_from(t.OutboxRow).where(*self._old_messages(before))
        return int((await self.session.execute(q)).scalar_one())

    def _expired_invites(self, now: datetime) -> Any:
        return (t.Invite.used_at.is_(None), t.Invite.expires_at < now)  # type: ignore[union-attr, operator]

    async def expired_invites(self, now: datetime, limit: int) -> int:
        doomed = select(t.Invite.id).where(*self._expired_invites(now)).order_by(t.Invite.id).limit(limit)  # type: ignore[arg-type]
        q = delete(t.Invite).where(t.Invite.id.in_(doomed))  # type: ignore[union-attr]
        return int((await self.session.execute(q)).rowcount or 0)  # type: ignore[attr-defined]

    async def count_expired_invites(self, now: datetime) -> int:
        q = select(func.count()).select_from(t.Invite).where(*self._expired_invites(now))
        return int((await self.session.execute(q)).scalar_one())

    async def count_inbox(self, payloads_before: datetime, rows_before: datetime) -> tuple[int, int]:
        """What `inbox.purge` would clear and delete, all of it."""
        r = t.InboxRow
        finished = r.status.in_(PROCESSED)  # type: ignore[attr-defined]
        at = func.coalesce(r.processed_at, r.received_at)
        payloads = (
            select(func.count()).select_from(r).where(finished, r.payload.is_not(None), at < payloads_before)
        )  # type: ignore[union-attr]
        rows = select(func.count()).select_from(r).where(finished, at < rows_before)
        return (
            int((await self.session.execute(payloads)).scalar_one()),
            int((await self.session.execute(rows)).scalar_one()),
        )


def _holds_draft(state: Any) -> bool:
    return isinstance(state, dict) and bool(state.get("draft") or state.get("draft_id"))
