"""Key rotation: re-encrypt every stored secret under the newest key and recompute lookup hashes.

Run with the new key in TIPBOT_SECRET_KEY and the old one in TIPBOT_OLD_SECRET_KEYS; afterwards
the old key can be dropped. Invite codes are stored only as hashes, so open invites stop working.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm.attributes import flag_modified

from bot.core.related import facts, signals
from storage import tables as t
from storage.crypto import keyring
from storage.media import FileMediaStore
from storage.repositories import SqlStore, chat_hash
from storage.repositories.audit import GENESIS, content
from storage.repositories.base import utc

ENCRYPTED: dict[type[Any], tuple[str, ...]] = {
    t.Contact: ("chat_id_enc",),
    t.Conversation: ("state",),
    t.InboxRow: ("payload",),
    t.Tip: ("narrative_enc", "agency", "official", "contact_how", "location"),
    t.Attachment: ("file_name",),
    t.TipEvent: ("note",),
    t.OutboxRow: ("address_enc", "payload", "reply_token"),
    t.StaffChat: ("chat_id_enc",),
    # web chat rows are found by a plain SHA-256 of the random session id, which no key changes;
    # uploads live minutes and stay readable with the old key until they expire
    t.WebChatMessage: ("body",),
}


async def rotate_keys(store: SqlStore, media: FileMediaStore, batch: int = 500) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table, columns in ENCRYPTED.items():
        done = 0
        last = 0
        while True:
            async with store.transaction() as uow:
                pk = table.key if table is t.KeyValue else table.id  # type: ignore[attr-defined]
                rows = (
                    (await uow.session.execute(select(table).where(pk > last).order_by(pk).limit(batch)))
                    .scalars()
                    .all()
                )
                for row in rows:
                    for column in columns:
                        if getattr(row, column) is not None:
                            flag_modified(row, column)  # written again, so encrypted with the newest key
                    if table in (t.Contact, t.StaffChat):
                        row.chat_hash = chat_hash(row.channel, row.chat_id_enc)
                    if table is t.OutboxRow:
                        row.chat_hash = chat_hash(row.channel, row.address_enc)
                last = rows[-1].id if rows else last
                done += len(rows)
            if len(rows) < batch:
                break
        counts[table.__tablename__] = done  # type: ignore[attr-defined]
    counts["tip_index"] = await reindex(store, batch)
    async with store.transaction() as uow:
        names = (await uow.session.execute(select(t.Attachment.storage_name))).scalars().all()
        invites = await uow.session.execute(delete(t.Invite).where(t.Invite.used_at.is_(None)))
        counts["open_invites_removed"] = int(invites.rowcount or 0)  # type: ignore[attr-defined]
    for name in names:
        media.rewrite(name)
    counts["media_files"] = len(names)
    counts["audit_rows_resealed"] = await reseal_audit(store)
    return counts


async def reindex(store: SqlStore, batch: int = 200) -> int:
    """Rebuild the related-tips blind index of every tip under the newest key (its hashes are keyed
    by the secret key, so they change with it); returns how many tips were indexed."""
    done = 0
    last = 0
    while True:
        async with store.transaction() as uow:
            rows = (
                await uow.session.execute(
                    select(t.Tip.case_code, t.Tip.id).where(t.Tip.id > last).order_by(t.Tip.id).limit(batch)
                )
            ).all()
            for code, tip_id in rows:
                tip = await uow.tips.get(code)
                if tip is not None:
                    await uow.related.index(tip.id, signals(facts(tip)).index, tip.created_at)
                last = tip_id
            done += len(rows)
        if len(rows) < batch:
            return done


async def reseal_audit(store: SqlStore) -> int:
    """Re-seal the audit chain under the newest key, once it has verified under the keys in use
    (so the old key can go without making every old row look forged). A broken chain is left as
    it is, for `tipbot audit verify` to show: returns -1 then."""
    async with store.transaction() as uow:
        if not (await uow.audit.verify()).intact:
            return -1
        rows = (await uow.session.execute(select(t.AuditRow).order_by(t.AuditRow.id))).scalars().all()  # type: ignore[arg-type]
        prev = GENESIS
        ring = keyring()
        for row in rows:
            at = utc(row.at)
            assert at is not None
            row.prev_hash = prev
            row.hash = ring.audit_seal(
                content(at, row.actor_kind, row.actor, row.action, row.case_code, row.detail, prev)
            )
            prev = row.hash
        return len(rows)
