"""Evidence attachments: rows for files in the media store, linked to a tip on submit.

The bytes live in the media store; this module knows names, sizes and owners only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update

from storage import tables as t
from storage.repositories.base import Repository


class SqlAttachments(Repository):
    async def add(
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

    async def link(self, attachment_ids: Sequence[int], tip_id: int) -> None:
        if attachment_ids:
            await self.session.execute(
                update(t.Attachment).where(t.Attachment.id.in_(list(attachment_ids))).values(tip_id=tip_id)  # type: ignore[union-attr]
            )

    async def forget(self, contact_id: int, message_ref: str) -> tuple[int, str] | None:
        q = select(t.Attachment).where(
            t.Attachment.contact_id == contact_id, t.Attachment.message_ref == message_ref
        )
        row = (await self.session.execute(q)).scalar_one_or_none()
        if row is None or row.id is None:
            return None
        found = (row.id, row.storage_name)
        await self.session.delete(row)
        return found

    async def of_tip(self, tip_id: int) -> list[tuple[int, str]]:
        q = (
            select(t.Attachment.id, t.Attachment.kind)
            .where(t.Attachment.tip_id == tip_id)
            .order_by(t.Attachment.id)
        )
        return [(int(i), str(k)) for i, k in (await self.session.execute(q)).all()]

    async def file(self, attachment_id: int) -> tuple[str, str] | None:
        row = await self.session.get(t.Attachment, attachment_id)
        return (row.storage_name, row.mime) if row is not None else None

    async def unlinked(self, before: datetime, limit: int) -> list[tuple[int, int | None]]:
        """(id, contact id) of attachments of no tip, stored before `before`, oldest first."""
        q = (
            select(t.Attachment.id, t.Attachment.contact_id)
            .where(t.Attachment.tip_id.is_(None), t.Attachment.created_at < before)  # type: ignore[union-attr,operator]
            .order_by(t.Attachment.id)  # type: ignore[arg-type]
            .limit(limit)
        )
        return [(int(i), c) for i, c in (await self.session.execute(q)).all()]

    async def delete_unlinked(self, attachment_ids: Sequence[int]) -> list[str]:
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
