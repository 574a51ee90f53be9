"""Key rotation: re-encrypt every stored secret under the newest key and recompute lookup hashes.

Run with the new key in TIPBOT_SECRET_KEY and the old one in TIPBOT_OLD_SECRET_KEYS; afterwards
the old key can be dropped. Invite codes are stored only as hashes, so open invites stop working.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm.attributes import flag_modified

from storage import tables as t
from storage.media import FileMediaStore
from storage.repositories import SqlStore, chat_hash

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
    async with store.transaction() as uow:
        names = (await uow.session.execute(select(t.Attachment.storage_name))).scalars().all()
        invites = await uow.session.execute(delete(t.Invite).where(t.Invite.used_at.is_(None)))
        counts["open_invites_removed"] = int(invites.rowcount or 0)  # type: ignore[attr-defined]
    for name in names:
        media.rewrite(name)
    counts["media_files"] = len(names)
    return counts
