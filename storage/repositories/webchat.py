"""The web chat's mailboxes and history, and the files browsers upload, in the database.

Several processes share them: any relay writes a session's messages, any `/chat` long poll
reads them. Rows are keyed by a SHA-256 of the browser's random session id (never the id).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError

from bot.core.model import WebChatEntry
from storage import tables as t
from storage.crypto import keyring
from storage.repositories.base import Repository, utc

#: the PostgreSQL notification channel a new web chat message signals (payload: session tag)
WEBCHAT_CHANNEL = "tipbot_webchat"
#: how often a message number taken by a concurrent writer is tried again
_SEQ_TRIES = 8
#: the role of the row that keeps an erased session's numbering (never shown)
GAP = "gap"


def session_hash(session: str) -> str:
    """The row key of a browser session: the id is random (128 bits), so a plain hash is as good
    as a keyed one, and unlike one it survives a key rotation."""
    return hashlib.sha256(session.encode("ascii")).hexdigest()


def _entry(row: t.WebChatMessage) -> WebChatEntry:
    return WebChatEntry(seq=row.seq, role=row.role, key=row.key, body=dict(row.body), at=utc(row.created_at))


class SqlWebChat(Repository):
    async def post(
        self, session: str, role: str, key: str, bodies: Sequence[Mapping[str, Any]], now: datetime
    ) -> list[int] | None:
        """Append messages to a session's history; None when `key` is already there (a resend).

        Each message gets the session's next number; a number a concurrent writer took first is
        tried again inside a savepoint, so the transaction goes on.
        """
        tag = session_hash(session)
        m = t.WebChatMessage
        keys = [key if i == 0 else f"{key}:{i}" for i in range(len(bodies))]
        for _ in range(_SEQ_TRIES):
            have = await self.session.execute(select(m.id).where(m.session_hash == tag, m.key == keys[0]))
            if have.first() is not None:
                return None
            top = (await self.session.execute(select(func.max(m.seq)).where(m.session_hash == tag))).scalar()
            first = int(top or 0) + 1
            try:
                async with self.session.begin_nested():
                    for i, body in enumerate(bodies):
                        self.session.add(
                            m(
                                session_hash=tag,
                                seq=first + i,
                                key=keys[i],
                                role=role,
                                body=dict(body),
                                created_at=now,
                            )
                        )
                    await self.session.flush()
            except IntegrityError:
                continue
            if self._dialect == "postgresql":
                await self.session.execute(
                    text("SELECT pg_notify(:channel, :tag)"), {"channel": WEBCHAT_CHANNEL, "tag": tag[:16]}
                )
            return list(range(first, first + len(bodies)))
        raise RuntimeError("web chat message numbers kept colliding")

    async def after(self, session: str, seq: int, limit: int) -> list[WebChatEntry]:
        """A session's messages numbered above `seq`, oldest first; from 0, the newest `limit`."""
        tag = session_hash(session)
        m = t.WebChatMessage
        if seq <= 0:
            q = select(m).where(m.session_hash == tag, m.role != GAP).order_by(m.seq.desc()).limit(limit)
            rows = list((await self.session.execute(q)).scalars().all())
            rows.reverse()
        else:
            q = (
                select(m)
                .where(m.session_hash == tag, m.seq > seq, m.role != GAP)
                .order_by(m.seq)
                .limit(limit)
            )
            rows = list((await self.session.execute(q)).scalars().all())
        return [_entry(r) for r in rows]

    async def remove(self, session: str, key: str) -> None:
        """Take back a message the volunteer sent that was not stored after all."""
        m = t.WebChatMessage
        await self.session.execute(delete(m).where(m.session_hash == session_hash(session), m.key == key))

    async def stage(self, session: str, token: str, data: bytes, now: datetime) -> None:
        self.session.add(
            t.WebChatUpload(
                token=token,
                session_hash=session_hash(session),
                data=keyring().encrypt(data),
                size=len(data),
                created_at=now,
            )
        )

    async def peek(self, token: str) -> bytes | None:
        """An uploaded file's bytes (None: gone or expired). It stays until the purge, so a
        dispatcher that retries its event reads it again."""
        u = t.WebChatUpload
        row = (await self.session.execute(select(u.data).where(u.token == token))).scalar_one_or_none()
        return None if row is None else keyring().decrypt(bytes(row))

    async def drop(self, token: str) -> None:
        u = t.WebChatUpload
        await self.session.execute(delete(u).where(u.token == token))

    async def purge_uploads(self, before: datetime) -> int:
        """Uploads nobody took (no draft wanted them) are deleted after their time."""
        u = t.WebChatUpload
        result = await self.session.execute(delete(u).where(u.created_at < before))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def count_older_than(self, before: datetime) -> int:
        """How many history lines retention would erase."""
        m = t.WebChatMessage
        found = await self.session.execute(select(func.count()).select_from(m).where(m.created_at < before))
        return int(found.scalar_one())

    async def erase_older_than(self, before: datetime) -> int:
        """Retention: every session's history written before `before` (uploads too)."""
        m = t.WebChatMessage
        result = await self.session.execute(delete(m).where(m.created_at < before))
        await self.purge_uploads(before)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def erase_session(self, session: str) -> int:
        """A reporter's right to erasure: one browser session's whole history and uploads.

        One content-free row ("gap") keeps the session's last message number, so the numbers go
        on from there and a page still open (it asks for messages after the last it showed) sees
        the answers that follow."""
        tag = session_hash(session)
        m, u = t.WebChatMessage, t.WebChatUpload
        top = (await self.session.execute(select(func.max(m.seq)).where(m.session_hash == tag))).scalar()
        result = await self.session.execute(delete(m).where(m.session_hash == tag))
        await self.session.execute(delete(u).where(u.session_hash == tag))
        if top:
            self.session.add(m(session_hash=tag, seq=int(top), key=f"gap:{top}", role=GAP, body={}))
            await self.session.flush()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
