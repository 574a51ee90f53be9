"""The contact desk: a chat that talks to the bot, as the volunteer's own effects change it.

Runs inside the dispatcher's transaction and owns the rules about a contact: when one is created
and its last-seen time refreshed, which consent version is recorded, which settings a volunteer
may change, what "forget me" removes, and which evidence file a volunteer's unsent message takes
back. Each method gets only the storage areas it uses (`bot.core.ports`) and returns the contact
as it stands afterwards (None once it is deleted); it knows no tip, staff chat or broadcast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.core.effects import Consent, ForgetAttachment, UpdateContact
from bot.core.model import ContactRecord, Inbound, InboundKind
from bot.core.ports import AttachmentsRepo, ContactsRepo, InboxRepo

#: the version of the privacy notice a volunteer accepts today
CONSENT_VERSION = "1"
#: how stale a contact's last-seen time may get before an event refreshes it (one write per hour)
SEEN_EVERY = timedelta(hours=1)
#: the languages a chat's locale hint may choose; any other hint gets the default
LOCALES = ("th", "en")
#: events that never create a contact: a chat that unfollowed or removed the bot says nothing new
_NO_CONTACT = (InboundKind.UNFOLLOW, InboundKind.LEFT_GROUP)


class ContactDesk:
    def __init__(self, *, default_locale: str = "th", consent_version: str = CONSENT_VERSION) -> None:
        self.default_locale = default_locale
        self.consent_version = consent_version

    async def meet(self, contacts: ContactsRepo, inbound: Inbound, now: datetime) -> ContactRecord | None:
        """The contact an event comes from: created at its first event in the platform's language
        when we speak it, its last-seen time refreshed at most once per `SEEN_EVERY`."""
        contact = await contacts.get(inbound.channel, inbound.chat_id)
        if inbound.kind == InboundKind.WAKE:
            return contact  # the bot's own pause, not the volunteer: nobody is created or seen
        if contact is None:
            if inbound.kind in _NO_CONTACT:
                return None
            locale = inbound.locale_hint if inbound.locale_hint in LOCALES else self.default_locale
            return await contacts.create(inbound.channel, inbound.chat_id, locale, now)
        if contact.last_seen_at is None or now - contact.last_seen_at > SEEN_EVERY:
            await contacts.seen(contact.id, now)
        return contact

    async def consent(
        self, contacts: ContactsRepo, contact: ContactRecord | None, effect: Consent, now: datetime
    ) -> ContactRecord | None:
        """Record an accepted privacy notice; declining stores nothing."""
        if contact is None or not effect.accepted:
            return contact
        await contacts.consent(contact.id, self.consent_version, now)
        return replace(contact, consented_at=now)

    async def update(
        self, contacts: ContactsRepo, contact: ContactRecord | None, effect: UpdateContact
    ) -> ContactRecord | None:
        """A volunteer's own settings, as the engine asked; other fields are not the engine's to set."""
        if contact is None:
            return None
        return await _settings(contacts, contact, effect.fields)

    async def forget(
        self, contacts: ContactsRepo, inbox: InboxRepo, contact: ContactRecord | None, inbound: Inbound
    ) -> None:
        """ "Forget me": the contact and its conversation go, and so do the payloads of the chat's
        inbox rows (the rows themselves stay, so a redelivered event is still known as done)."""
        if contact is not None:
            await contacts.delete(contact.id)
        await inbox.forget_payloads(inbound.channel, inbound.chat_id)

    async def mark_unreachable(
        self, contacts: ContactsRepo, contact: ContactRecord | None
    ) -> ContactRecord | None:
        """The volunteer unfollowed: no message can reach them, and no notice is sent until they
        ask again."""
        if contact is not None:
            await contacts.mark_unfollowed(contact.id)
        return contact

    async def forget_attachment(
        self, attachments: AttachmentsRepo, contact: ContactRecord | None, effect: ForgetAttachment
    ) -> str | None:
        """The volunteer unsent a file of their draft: its row goes; returns the stored file's
        name, which the caller deletes once the transaction has committed."""
        if contact is None:
            return None
        gone = await attachments.forget(contact.id, effect.message_ref)
        return gone[1] if gone is not None else None


async def _settings(
    contacts: ContactsRepo, contact: ContactRecord, fields: Mapping[str, Any]
) -> ContactRecord:
    if isinstance(locale := fields.get("locale"), str):
        await contacts.set_locale(contact.id, locale)
        contact = replace(contact, locale=locale)
    if "home_province" in fields:
        province = fields["home_province"]
        await contacts.set_home_province(contact.id, province)
        contact = replace(contact, home_province=province)
    if "opted_out" in fields:
        opted_out = bool(fields["opted_out"])
        await contacts.set_opted_out(contact.id, opted_out)
        contact = replace(contact, opted_out=opted_out)
    return contact
