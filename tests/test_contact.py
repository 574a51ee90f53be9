"""The contact desk on a real store (SQLite, and PostgreSQL when TIPBOT_TEST_DATABASE_URL is set):
first contact, consent, settings, unfollow, "forget me", an unsent file; and the dispatcher's
effect table, which must hand every effect the core can ask for to a desk."""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.core.effects import Consent, Effect, ForgetAttachment, UpdateContact
from bot.core.engine import Engine
from bot.core.model import Inbound, InboundKind, InboxEvent
from bot.core.routing import RegionTable
from bot.core.understanding import ThaiUnderstanding
from bot.runtime.contact import CONSENT_VERSION, SEEN_EVERY, ContactDesk
from bot.runtime.dispatcher import Dispatcher
from storage import tables as t
from storage.crypto import Keyring, install_keyring
from storage.database import create_engine, upgrade_async
from storage.media import FileMediaStore
from storage.repositories import SqlStore

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlStore]:
    install_keyring(Keyring("contacts-test-secret-0123456789"))
    await upgrade_async(db_url)
    s = SqlStore(create_engine(db_url))
    yield s
    await s.engine.dispose()


def inbound(kind: InboundKind = InboundKind.TEXT, chat: str = "U1", hint: str | None = None) -> Inbound:
    return Inbound(
        channel="line", chat_id=chat, kind=kind, event_id="e1", occurred_at=NOW, text="สวัสดี", locale_hint=hint
    )


async def test_first_event_creates_the_contact_in_a_language_we_speak(store: SqlStore) -> None:
    desk = ContactDesk(default_locale="th")
    async with store.transaction() as uow:
        english = await desk.meet(uow.contacts, inbound(chat="U1", hint="en"), NOW)
        other = await desk.meet(uow.contacts, inbound(chat="U2", hint="ja"), NOW)
        gone = await desk.meet(uow.contacts, inbound(InboundKind.UNFOLLOW, chat="U3"), NOW)
    assert english is not None and english.locale == "en"
    assert other is not None and other.locale == "th"
    assert gone is None  # an unfollow from a chat we never met stores nothing
    async with store.transaction() as uow:
        assert await uow.contacts.get("line", "U3") is None
        again = await desk.meet(uow.contacts, inbound(chat="U1"), NOW)
    assert again is not None and again.id == english.id and again.locale == "en"


async def test_last_seen_is_refreshed_at_most_hourly(store: SqlStore) -> None:
    desk = ContactDesk()
    async with store.transaction() as uow:
        await desk.meet(uow.contacts, inbound(), NOW)
    soon = NOW + SEEN_EVERY - timedelta(minutes=1)
    later = NOW + SEEN_EVERY + timedelta(minutes=1)
    async with store.transaction() as uow:
        await desk.meet(uow.contacts, inbound(), soon)
        seen = await uow.contacts.get("line", "U1")
    assert seen is not None and seen.last_seen_at == NOW
    async with store.transaction() as uow:
        await desk.meet(uow.contacts, inbound(), later)
        seen = await uow.contacts.get("line", "U1")
    assert seen is not None and seen.last_seen_at == later


async def test_consent_and_settings_are_stored_and_returned(store: SqlStore) -> None:
    desk = ContactDesk()
    async with store.transaction() as uow:
        contact = await desk.meet(uow.contacts, inbound(), NOW)
        declined = await desk.consent(uow.contacts, contact, Consent(accepted=False), NOW)
        assert declined is not None and declined.consented_at is None
        contact = await desk.consent(uow.contacts, contact, Consent(accepted=True), NOW)
        fields = {"locale": "en", "home_province": "สุรินทร์", "opted_out": 1, "contact_id": 99}
        contact = await desk.update(uow.contacts, contact, UpdateContact(fields))
        assert await desk.consent(uow.contacts, None, Consent(accepted=True), NOW) is None
        assert await desk.update(uow.contacts, None, UpdateContact({"locale": "en"})) is None
    async with store.transaction() as uow:
        stored = await uow.contacts.get("line", "U1")
        version = (await uow.session.execute(select(t.Contact.consent_version))).scalar_one()
    assert contact is not None and stored is not None
    assert stored.consented_at == NOW and version == CONSENT_VERSION
    assert (stored.locale, stored.home_province, stored.opted_out) == ("en", "สุรินทร์", True)
    # what the desk returns is what was stored: the rest of the turn sees the new settings
    assert replace(contact, last_seen_at=stored.last_seen_at) == stored
    assert stored.id == contact.id  # "contact_id" is not the engine's to set


async def test_unfollow_marks_the_chat_unreachable_and_opted_out(store: SqlStore) -> None:
    desk = ContactDesk()
    async with store.transaction() as uow:
        contact = await desk.meet(uow.contacts, inbound(), NOW)
        assert await desk.mark_unreachable(uow.contacts, contact) == contact
        assert await desk.mark_unreachable(uow.contacts, None) is None
    async with store.transaction() as uow:
        stored = await uow.contacts.get("line", "U1")
    assert stored is not None and stored.opted_out and not stored.reachable


async def test_forget_me_deletes_the_contact_and_the_chats_payloads(store: SqlStore) -> None:
    desk = ContactDesk()
    await store.ingest([InboxEvent("line", "e1", "U1", NOW, {"text": "ความลับ"})], NOW)
    await store.ingest([InboxEvent("line", "e2", "U2", NOW, {"text": "อื่น"})], NOW)
    async with store.transaction() as uow:
        contact = await desk.meet(uow.contacts, inbound(), NOW)
        assert contact is not None
        await uow.conversations.save(contact.id, {"flow": "menu"}, 0, NOW)
        await desk.forget(uow.contacts, uow.inbox, contact, inbound())
    async with store.transaction() as uow:
        assert await uow.contacts.get("line", "U1") is None
        assert await uow.conversations.load(contact.id) == ({}, 0)
        rows = (await uow.session.execute(select(t.InboxRow.event_id, t.InboxRow.payload))).all()
    payloads = dict(rows)
    assert payloads["e1"] is None  # the row stays (a redelivery is still known), its words go
    assert payloads["e2"] is not None  # another chat's events are untouched


async def test_an_unsent_file_is_forgotten_and_named_for_deletion(store: SqlStore, tmp_path: Path) -> None:
    desk = ContactDesk()
    async with store.transaction() as uow:
        contact = await desk.meet(uow.contacts, inbound(), NOW)
        other = await desk.meet(uow.contacts, inbound(chat="U2"), NOW)
        assert contact is not None and other is not None
        await uow.attachments.add(
            contact_id=contact.id,
            message_ref="m1",
            kind="image",
            mime="image/jpeg",
            size=3,
            sha256="0" * 64,
            storage_name="file-1",
            file_name=None,
            now=NOW,
        )
        # only the sender's own file: another chat unsending the same message id takes nothing
        assert await desk.forget_attachment(uow.attachments, other, ForgetAttachment("m1")) is None
        assert await desk.forget_attachment(uow.attachments, contact, ForgetAttachment("m1")) == "file-1"
        assert await desk.forget_attachment(uow.attachments, contact, ForgetAttachment("m1")) is None
        assert await desk.forget_attachment(uow.attachments, None, ForgetAttachment("m1")) is None


def _effect_types() -> set[type]:
    def flat(tp: object) -> set[type]:
        args = typing.get_args(tp)
        return set().union(*(flat(a) for a in args)) if args else {tp}  # type: ignore[arg-type]

    return flat(Effect)


def test_every_effect_has_a_desk(tmp_path: Path) -> None:
    dispatcher = Dispatcher(
        store=None,  # type: ignore[arg-type]
        channels={},
        media=FileMediaStore(tmp_path),
        regions=(regions := RegionTable.load()),
        understanding=ThaiUnderstanding(regions),
        engine=Engine(),
    )
    assert set(dispatcher._appliers) == _effect_types()
