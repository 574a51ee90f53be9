"""The rights desk: a reporter sees what is stored about their chat, and erases it.

Runs inside the dispatcher's transaction. Erasing withdraws every tip staff have not yet
acknowledged (content and evidence erased, closed as withdrawn, staff told without content),
cuts the chat from the others (they stay with the office as evidence, with no way back to the
chat), and deletes the contact, its conversation and drafts, its links, its notice settings, the
messages rendered for it and the raw payloads of its events. Evidence file names are returned
for deletion after the commit. Every erasure is in the audit log, never the reporter's identity.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from bot.core import audit
from bot.core.catalog import ref, region_ref, thai_date
from bot.core.flows.rights import WITHDRAWABLE
from bot.core.model import ContactRecord, Inbound, OutboxItem, Reply
from bot.core.ports import UnitOfWork
from bot.runtime.retention import TipEraser, erase_tip

CENTRAL = "central"
_LANGUAGES = {"th": "rights.language_th", "en": "rights.language_en"}


class RightsDesk:
    def __init__(
        self, *, entropy: Callable[[int], bytes], erasers: Sequence[TipEraser] | None = None
    ) -> None:
        self.entropy = entropy
        self.erasers = erasers

    async def mydata(self, uow: UnitOfWork, contact: ContactRecord | None) -> list[Reply]:
        if contact is None:
            return [Reply("rights.mydata_none")]
        tips = await uow.tips.of_contact(contact.id)
        linked = await uow.erasure.linked_channels(contact.id)
        params: dict[str, Any] = {
            "channel": ref(f"channel.{contact.channel}"),
            "consented": thai_date(contact.consented_at.date())
            if contact.consented_at
            else ref("common.unknown"),
            "province": contact.home_province or ref("common.not_given"),
            "notices": ref("rights.notices_off" if contact.opted_out else "rights.notices_on"),
            "language": ref(_LANGUAGES.get(contact.locale, "rights.language_th")),
            "linked": ", ".join(linked) if linked else ref("rights.none"),
        }
        replies = [Reply("rights.mydata", params)]
        if tips:
            lines = [
                ref(
                    "rights.mydata_tip",
                    case_code=t.case_code,
                    category=ref(f"category.{t.category}"),
                    status=ref(f"status.{t.status}"),
                    date=thai_date(t.created_at.date()),
                )
                for t in tips
            ]
            replies.append(Reply("rights.mydata_tips", {"tips": lines, "count": len(tips)}))
        else:
            replies.append(Reply("rights.mydata_no_tips"))
        replies.append(Reply("rights.mydata_rights"))
        return replies

    async def erase(
        self, uow: UnitOfWork, contact: ContactRecord | None, inbound: Inbound, now: datetime
    ) -> tuple[list[Reply], list[str]]:
        """Erase this chat's data; returns the replies and the evidence files to delete."""
        files: list[str] = []
        withdrawn: list[str] = []
        kept: list[str] = []
        if contact is not None:
            for tip in await uow.erasure.tips_of(contact.id):
                if tip.status in WITHDRAWABLE:
                    files += await erase_tip(uow, tip.id, now, self.erasers)
                    await uow.tips.set_status(tip.id, "closed", "withdrawn", now)
                    await uow.tips.add_event(
                        tip.id,
                        actor="volunteer",
                        action="withdrawn",
                        at=now,
                        from_status=tip.status,
                        to_status="closed",
                    )
                    await self._tell_staff(uow, tip.region, tip.case_code, now)
                    withdrawn.append(tip.case_code)
                    detail = "withdrawn: content and evidence erased"
                else:
                    await uow.erasure.detach_tip(tip.id)
                    await uow.tips.add_event(tip.id, actor="volunteer", action="reporter_left", at=now)
                    kept.append(tip.case_code)
                    detail = "kept as evidence: the chat is cut from it"
                await uow.audit.append(
                    audit.REPORTER, "reporter", audit.DELETION_REQUEST, tip.case_code, detail, now
                )
            if not withdrawn and not kept:
                await uow.audit.append(
                    audit.REPORTER, "reporter", audit.DELETION_REQUEST, None, "no tips", now
                )
            files += await uow.erasure.draft_files(contact.id)
            await uow.contacts.unlink(contact.id)
            await uow.contacts.delete(contact.id)
        await uow.erasure.chat_messages(inbound.channel, inbound.chat_id)
        if inbound.channel == "webchat":  # the page's history of this browser session
            await uow.webchat.erase_session(inbound.chat_id)
        await uow.inbox.forget_payloads(inbound.channel, inbound.chat_id)
        replies = [Reply("rights.erased")]
        if withdrawn:
            replies.append(Reply("rights.erased_withdrawn", {"codes": ", ".join(withdrawn)}))
        if kept:
            replies.append(Reply("rights.erased_kept", {"codes": ", ".join(kept)}))
        replies.append(Reply("rights.erased_after"))
        return replies, files

    async def _tell_staff(self, uow: UnitOfWork, region: str, case_code: str, now: datetime) -> None:
        """The region's chats (central's when it has none) learn the tip was withdrawn, nothing more."""
        chats = await uow.staff.for_region(region) or await uow.staff.for_region(CENTRAL)
        reply = Reply("staff.tip_withdrawn", {"case_code": case_code, "region": region_ref(region)})
        for chat in chats:
            key = str(uuid.UUID(bytes=self.entropy(16), version=4))
            item = OutboxItem.of(
                chat.channel, chat.chat_id, chat.locale, [reply], kind="alert", key=key, staff_chat_id=chat.id
            )
            await uow.outbox.add(item, now)
