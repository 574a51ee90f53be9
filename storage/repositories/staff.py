"""Staff chats registered to a region, and the invite codes that register them.

Invite codes are stored as keyed hashes only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from bot.core.model import StaffChatRecord
from storage import tables as t
from storage.crypto import keyring
from storage.repositories.base import Repository, chat_hash, utc


def invite_hash(code: str) -> str:
    return keyring().lookup_hash("invite:" + code.strip().upper())


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


class SqlStaff(Repository):
    async def for_region(self, region: str) -> list[StaffChatRecord]:
        q = (
            select(t.StaffChat)
            .where(t.StaffChat.region == region, t.StaffChat.active.is_(True))
            .order_by(t.StaffChat.id)
        )  # type: ignore[arg-type]
        return [_staff(r) for r in (await self.session.execute(q)).scalars().all()]

    async def get(self, channel: str, chat_id: str) -> StaffChatRecord | None:
        q = select(t.StaffChat).where(
            t.StaffChat.channel == channel, t.StaffChat.chat_hash == chat_hash(channel, chat_id)
        )
        row = (await self.session.execute(q)).scalar_one_or_none()
        return _staff(row) if row else None

    async def join(
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

    async def deactivate(self, staff_id: int, now: datetime) -> None:
        await self.session.execute(
            update(t.StaffChat).where(t.StaffChat.id == staff_id).values(active=False, left_at=now)  # type: ignore[arg-type]
        )

    async def regions(self) -> list[str]:
        q = select(t.StaffChat.region).where(t.StaffChat.active.is_(True)).distinct()
        return sorted(str(r) for r in (await self.session.execute(q)).scalars().all())

    async def chats(self, region: str | None = None) -> list[StaffChatRecord]:
        q = select(t.StaffChat).order_by(t.StaffChat.id)
        if region is not None:
            q = q.where(t.StaffChat.region == region)
        return [_staff(r) for r in (await self.session.execute(q)).scalars().all()]

    async def by_id(self, staff_id: int) -> StaffChatRecord | None:
        row = await self.session.get(t.StaffChat, staff_id)
        return _staff(row) if row is not None else None

    async def migrate(self, channel: str, old_chat_id: str, new_chat_id: str) -> None:
        await self.session.execute(
            update(t.StaffChat)
            .where(t.StaffChat.channel == channel, t.StaffChat.chat_hash == chat_hash(channel, old_chat_id))  # type: ignore[arg-type]
            .values(chat_hash=chat_hash(channel, new_chat_id), chat_id_enc=new_chat_id)
        )

    async def redeem_invite(self, code: str, now: datetime) -> tuple[int, str, str] | None:
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

    async def mark_invite_used(self, invite_id: int, staff_id: int) -> None:
        await self.session.execute(update(t.Invite).where(t.Invite.id == invite_id).values(used_by=staff_id))  # type: ignore[arg-type]

    async def create_invite(
        self, code: str, region: str, role: str, expires_at: datetime, now: datetime
    ) -> None:
        self.session.add(
            t.Invite(
                code_hash=invite_hash(code), region=region, role=role, expires_at=expires_at, created_at=now
            )
        )
        await self.session.flush()
