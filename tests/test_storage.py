"""Storage on SQLite (and PostgreSQL when TIPBOT_TEST_DATABASE_URL is set): dedupe, encryption,
optimistic versions, leases, invites, key rotation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from bot.core.model import InboxEvent, OutboxItem, TipRecord
from bot.core.ports import ConcurrentUpdate, DuplicateTip
from storage import tables as t
from storage.crypto import Keyring, install_keyring
from storage.database import create_engine, sqlite_path, upgrade_async
from storage.media import FileMediaStore
from storage.repositories import SqlStore

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
CANARY = "CANARY-7f3a9c พยานชื่อสมหญิง 081-555-0199"


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlStore]:
    install_keyring(Keyring("storage-test-secret-0123456789"))
    await upgrade_async(db_url)
    s = SqlStore(create_engine(db_url))
    yield s
    await s.engine.dispose()


def event(event_id: str, chat: str = "U1", text: str = "hello") -> InboxEvent:
    return InboxEvent("line", event_id, chat, NOW, {"text": text})


def tip(code: str = "TB-ACDE-FGHJ", narrative: str = CANARY) -> TipRecord:
    return TipRecord(
        case_code=code,
        category="bribery",
        narrative=narrative,
        agency="อบต.ตัวอย่าง",
        official="ปลัด",
        province="สุรินทร์",
        district="ปราสาท",
        region="3",
        incident_date=date(2026, 3, 3),
        incident_date_text=None,
        amount_thb=3000,
        contact_ok=True,
        contact_how="081-555-0199",
        location=None,
        attachment_ids=(),
    )


async def test_inbox_keeps_each_event_once(store: SqlStore) -> None:
    assert await store.ingest([event("e1"), event("e2")], NOW) == 2
    assert await store.ingest([event("e1"), event("e3")], NOW) >= 1
    async with store.transaction() as uow:
        ids = (await uow.session.execute(select(t.InboxRow.event_id).order_by(t.InboxRow.id))).scalars().all()
    assert ids == ["e1", "e2", "e3"]


async def test_same_event_id_on_two_channels_is_two_events(store: SqlStore) -> None:
    await store.ingest([event("same"), InboxEvent("telegram", "same", "42", NOW, {})], NOW)
    async with store.transaction() as uow:
        assert sum((await uow.inbox.counts()).values()) == 2


async def test_pending_rows_come_in_order_and_resume(store: SqlStore) -> None:
    later = InboxEvent("line", "late", "U1", NOW + timedelta(seconds=5), {})
    early = InboxEvent("line", "early", "U1", NOW, {})
    await store.ingest([later, early], NOW)
    async with store.transaction() as uow:
        batch = await uow.inbox.pending(10, NOW + timedelta(minutes=1))
        assert [item.event_id for item, _ in batch] == ["early", "late"]
        await uow.inbox.finish(batch[0][0].id, "done", NOW)
    async with store.transaction() as uow:
        assert [i.event_id for i, _ in await uow.inbox.pending(10, NOW + timedelta(minutes=1))] == ["late"]


async def test_conversation_version_guards_concurrent_updates(store: SqlStore) -> None:
    async with store.transaction() as uow:
        contact = await uow.contacts.create("line", "U1", "th", NOW)
        await uow.conversations.save(contact.id, {"flow": "menu"}, 0, NOW)
    async with store.transaction() as uow:
        state, version = await uow.conversations.load(contact.id)
        assert (state, version) == ({"flow": "menu"}, 1)
        await uow.conversations.save(contact.id, {"flow": "report"}, version, NOW)
    with pytest.raises(ConcurrentUpdate):
        async with store.transaction() as uow:
            await uow.conversations.save(contact.id, {"flow": "stale"}, 1, NOW)
    async with store.transaction() as uow:
        assert await uow.conversations.load(contact.id) == ({"flow": "report"}, 2)


async def test_one_tip_per_draft(store: SqlStore) -> None:
    async with store.transaction() as uow:
        contact = await uow.contacts.create("line", "U1", "th", NOW)
        await uow.tips.add(tip(), contact_id=contact.id, channel="line", draft_id="d1", now=NOW)
    with pytest.raises(DuplicateTip):
        async with store.transaction() as uow:
            await uow.tips.add(
                tip("TB-ACDE-FGHK"), contact_id=contact.id, channel="line", draft_id="d1", now=NOW
            )
    async with store.transaction() as uow:
        assert [s.case_code for s in await uow.tips.of_contact(contact.id)] == ["TB-ACDE-FGHJ"]


async def test_sensitive_columns_are_ciphertext(store: SqlStore, db_url: str) -> None:
    async with store.transaction() as uow:
        contact = await uow.contacts.create("line", "U0123456789abcdef0123456789abcdef", "th", NOW)
        await uow.tips.add(tip(), contact_id=contact.id, channel="line", draft_id="d1", now=NOW)
    async with store.transaction() as uow:
        raw = (await uow.session.execute(text("SELECT narrative_enc, contact_how FROM tip"))).one()
        chat = (await uow.session.execute(text("SELECT chat_id_enc, chat_hash FROM contact"))).one()
    assert CANARY.encode() not in bytes(raw[0])
    assert b"081-555-0199" not in bytes(raw[1])
    assert b"U0123456789abcdef" not in bytes(chat[0])
    assert "U0123456789abcdef" not in chat[1]
    path = sqlite_path(db_url)
    if path is not None:
        await store.engine.dispose()  # checkpoint the WAL so every page is on disk
        for f in path.parent.glob(path.name + "*"):
            assert b"CANARY-7f3a9c" not in f.read_bytes(), f.name


async def test_old_keys_still_decrypt_after_rotation(store: SqlStore) -> None:
    async with store.transaction() as uow:
        contact = await uow.contacts.create("line", "U1", "th", NOW)
        await uow.tips.add(tip(), contact_id=contact.id, channel="line", draft_id="d1", now=NOW)
    install_keyring(Keyring("a-brand-new-secret-0123456789", ["storage-test-secret-0123456789"]))
    async with store.transaction() as uow:
        row = (await uow.session.execute(select(t.Tip))).scalar_one()
    assert row.narrative_enc == CANARY
    install_keyring(Keyring("an-unrelated-secret-0123456789"))

    async def load() -> None:
        async with store.transaction() as uow:
            (await uow.session.execute(select(t.Tip))).scalar_one()

    with pytest.raises(ValueError, match="cannot decrypt"):
        await load()


async def test_invites_are_single_use_and_expire(store: SqlStore) -> None:
    async with store.transaction() as uow:
        await uow.staff.create_invite("JOIN-AAAAA-CCCCC", "3", "staff", NOW + timedelta(hours=1), NOW)
        await uow.staff.create_invite("JOIN-DDDDD-EEEEE", "5", "staff", NOW - timedelta(hours=1), NOW)
        stored = (await uow.session.execute(select(t.Invite.code_hash))).scalars().all()
    assert all("JOIN" not in h for h in stored)
    async with store.transaction() as uow:
        redeemed = await uow.staff.redeem_invite("join-aaaaa-ccccc", NOW)
        assert redeemed is not None and redeemed[1:] == ("3", "staff")
        assert await uow.staff.redeem_invite("JOIN-AAAAA-CCCCC", NOW) is None
        assert await uow.staff.redeem_invite("JOIN-DDDDD-EEEEE", NOW) is None


async def test_outbox_rows_are_leased_to_one_relay(store: SqlStore) -> None:
    async with store.transaction() as uow:
        await uow.outbox.add(OutboxItem("line", "U1", "reply", {"replies": []}, "k1"), NOW)
    async with store.transaction() as uow:
        first = await uow.outbox.due(NOW, 10, [("line", None)])
    async with store.transaction() as uow:
        second = await uow.outbox.due(NOW, 10, [("line", None)])
    assert [i.idempotency_key for i in first] == ["k1"]
    assert second == []
    async with store.transaction() as uow:
        again = await uow.outbox.due(NOW + timedelta(minutes=11), 10, [("line", None)])
    # past the lease cap, even a holder nobody knows is gone
    assert [i.idempotency_key for i in again] == ["k1"]


async def test_outbox_scope_limits_to_one_chat(store: SqlStore) -> None:
    async with store.transaction() as uow:
        await uow.outbox.add(OutboxItem("console", "alice", "reply", {"replies": []}, "a"), NOW)
        await uow.outbox.add(OutboxItem("console", "bob", "reply", {"replies": []}, "b"), NOW)
    async with store.transaction() as uow:
        due = await uow.outbox.due(NOW, 10, [("console", "bob")])
    assert [(i.chat_id, i.idempotency_key) for i in due] == [("bob", "b")]


async def test_media_files_are_encrypted(tmp_path: Path, store: SqlStore) -> None:
    media = FileMediaStore(tmp_path / "media")
    data = b"\x89PNG\r\n\x1a\n" + CANARY.encode() * 10
    name = media.put(data)
    files = [p for p in (tmp_path / "media").rglob("*") if p.is_file()]
    assert len(files) == 1 and name in files[0].name
    assert CANARY.encode() not in files[0].read_bytes()
    assert files[0].stat().st_mode & 0o777 == 0o600
    assert media.get(name) == data
    media.delete(name)
    assert not files[0].exists()
    with pytest.raises(ValueError):
        media.get("../../etc/passwd")
