"""Account linking: one volunteer's chats on two platforms joined, so a notice reaches them once.

A desk inside the dispatcher's transaction: it keeps the short-lived link codes and joins the two
contacts. Talks to storage only through `bot.core.ports.UnitOfWork`; knows no broadcast.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.core.effects import LinkEffect, LinkStart, LinkWith, Unlink
from bot.core.model import ContactRecord, Reply
from bot.core.ports import UnitOfWork

log = logging.getLogger("tipbot.link")

#: how long a link code may be used in the other chat
LINK_TTL = timedelta(minutes=30)


def _key(code: str) -> str:
    return "link." + hashlib.sha256(code.encode()).hexdigest()[:40]


class LinkDesk:
    def __init__(self, *, entropy: Callable[[int], bytes]) -> None:
        self.entropy = entropy

    async def apply(
        self, uow: UnitOfWork, contact: ContactRecord | None, effect: LinkEffect, now: datetime
    ) -> list[Reply]:
        if isinstance(effect, LinkStart):
            await self.start(uow, contact, effect, now)
            return []
        if isinstance(effect, LinkWith):
            return await self.link_with(uow, contact, effect, now)
        return await self.unlink(uow, contact, effect)

    async def start(
        self, uow: UnitOfWork, contact: ContactRecord | None, effect: LinkStart, now: datetime
    ) -> None:
        if contact is not None:
            await uow.kv.set(_key(effect.code), f"{contact.id}|{(now + LINK_TTL).isoformat()}")

    async def link_with(
        self, uow: UnitOfWork, contact: ContactRecord | None, effect: LinkWith, now: datetime
    ) -> list[Reply]:
        if contact is None or contact.consented_at is None:
            return [Reply("link.invalid")]
        held = await uow.kv.get(_key(effect.code))
        if not held or "|" not in held:
            return [Reply("link.invalid")]
        other, _, until = held.partition("|")
        if datetime.fromisoformat(until) <= now:
            return [Reply("link.invalid")]
        if int(other) == contact.id:
            return [Reply("link.same_chat")]
        if not await uow.contacts.link(int(other), contact.id, uuid.UUID(bytes=self.entropy(16)).hex):
            return [Reply("link.invalid")]
        await uow.kv.set(_key(effect.code), "used")
        log.info("contacts %s and %s linked", other, contact.id)
        return [Reply("link.done")]

    async def unlink(self, uow: UnitOfWork, contact: ContactRecord | None, effect: Unlink) -> list[Reply]:
        if contact is None:
            return []
        await uow.contacts.unlink(contact.id)
        return [Reply("link.removed")]
