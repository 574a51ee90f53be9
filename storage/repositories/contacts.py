"""Contacts: the chats that talk to the bot, their consent and settings, and linked chats.

Plain chat ids go in and come out; only their keyed hash is searched.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from bot.core.model import ChatAddress, ContactRecord
from storage import tables as t
from storage.repositories.base import Repository, chat_hash, utc


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


class SqlContacts(Repository):
    async def _row(self, channel: str, chat_id: str) -> t.Contact | None:
        q = select(t.Contact).where(
            t.Contact.channel == channel, t.Contact.chat_hash == chat_hash(channel, chat_id)
        )
        return (await self.session.execute(q)).scalar_one_or_none()

    async def get(self, channel: str, chat_id: str) -> ContactRecord | None:
        # the record's columns only: the encrypted chat id is not decrypted on every event
        c = t.Contact
        columns = (c.id, c.channel, c.locale, c.consented_at, c.home_province, c.opted_out, c.reachable)
        q = select(*columns, c.last_seen_at)
        q = q.where(c.channel == channel, c.chat_hash == chat_hash(channel, chat_id))
        row = (await self.session.execute(q)).first()
        if row is None:
            return None
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

    async def create(self, channel: str, chat_id: str, locale: str, now: datetime) -> ContactRecord:
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

    async def delete(self, contact_id: int) -> None:
        await self.session.execute(delete(t.Conversation).where(t.Conversation.contact_id == contact_id))  # type: ignore[arg-type]
        await self.session.execute(delete(t.Contact).where(t.Contact.id == contact_id))  # type: ignore[arg-type]

    async def link(self, first: int, second: int, new_key: str) -> bool:
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

    async def _set(self, contact_id: int, **values: Any) -> None:
        await self.session.execute(update(t.Contact).where(t.Contact.id == contact_id).values(**values))  # type: ignore[arg-type]

    async def seen(self, contact_id: int, now: datetime) -> None:
        """The chat wrote to the bot now."""
        await self._set(contact_id, last_seen_at=now)

    async def consent(self, contact_id: int, version: str, now: datetime) -> None:
        """The volunteer accepted this version of the privacy notice."""
        await self._set(contact_id, consented_at=now, consent_version=version)

    async def set_locale(self, contact_id: int, locale: str) -> None:
        await self._set(contact_id, locale=locale)

    async def set_home_province(self, contact_id: int, province: str | None) -> None:
        await self._set(contact_id, home_province=province)

    async def set_opted_out(self, contact_id: int, opted_out: bool) -> None:
        """Whether the volunteer declined workshop notices."""
        await self._set(contact_id, opted_out=opted_out)

    async def mark_unreachable(self, contact_id: int) -> None:
        """The platform refuses to deliver to this chat."""
        await self._set(contact_id, reachable=False)

    async def mark_unfollowed(self, contact_id: int) -> None:
        """The volunteer blocked or unfollowed the bot: nothing reaches them, and notices stay
        off until they ask for them again."""
        await self._set(contact_id, reachable=False, opted_out=True)

    async def unlink(self, contact_id: int) -> None:
        """This chat is no longer linked to the volunteer's other chats."""
        await self._set(contact_id, link_key=None)

    async def set_reachable(self, channel: str, chat_id: str, reachable: bool) -> None:
        await self.session.execute(
            update(t.Contact)
            .where(t.Contact.channel == channel, t.Contact.chat_hash == chat_hash(channel, chat_id))  # type: ignore[arg-type]
            .values(reachable=reachable)
        )

    async def address(self, contact_id: int) -> ChatAddress | None:
        row = await self.session.get(t.Contact, contact_id)
        if row is None:
            return None
        return ChatAddress(
            channel=row.channel, chat_id=row.chat_id_enc, locale=row.locale, reachable=row.reachable
        )
