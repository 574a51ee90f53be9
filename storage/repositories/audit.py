"""The audit log: appended under a lock so the hash chain never forks, listed, verified.

Each row's `hash` is a keyed hash (HMAC, key derived from TIPBOT_SECRET_KEY) over its content and
the previous row's hash. Editing a row breaks its own hash; deleting or inserting one breaks the
next row's link. Rows are never updated or deleted here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select, text

from bot.core.audit import AuditCheck, AuditEntry
from storage import tables as t
from storage.crypto import keyring
from storage.repositories.base import Repository, utc

#: the previous hash of the first row
GENESIS = "0" * 64

#: the advisory lock that serialises appends on PostgreSQL (namespace, key): held until the
#: appending transaction ends, so the next appender reads the row this one wrote
_LOCK = (0x7463, 0x61756469)  # "tc", "audi"


def content(
    at: datetime,
    actor_kind: str,
    actor: str,
    action: str,
    case_code: str | None,
    detail: str | None,
    prev_hash: str,
) -> bytes:
    """The bytes a row's hash covers (stable across databases: UTC, microseconds)."""
    stamp = at.astimezone(UTC).isoformat(timespec="microseconds")
    fields = [stamp, actor_kind, actor, action, case_code, detail, prev_hash]
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _entry(r: t.AuditRow) -> AuditEntry:
    assert r.id is not None
    assert r.at is not None
    return AuditEntry(
        id=r.id,
        at=utc(r.at) or r.at,
        actor_kind=r.actor_kind,
        actor=r.actor,
        action=r.action,
        case_code=r.case_code,
        detail=r.detail,
        prev_hash=r.prev_hash,
        hash=r.hash,
    )


class SqlAudit(Repository):
    async def append(
        self,
        actor_kind: str,
        actor: str,
        action: str,
        case_code: str | None,
        detail: str | None,
        now: datetime,
    ) -> int:
        """Append one row in this transaction; returns its id.

        PostgreSQL: a transaction-scoped advisory lock first, so two processes appending at
        once take turns and each links to the other's row (the lock is held to the commit).
        SQLite: every write transaction already runs alone (BEGIN IMMEDIATE).
        """
        if self._dialect == "postgresql":
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": _LOCK[0], "b": _LOCK[1]}
            )
        last = await self.session.execute(select(t.AuditRow.hash).order_by(t.AuditRow.id.desc()).limit(1))
        prev = last.scalar_one_or_none() or GENESIS
        at = now.astimezone(UTC).replace(tzinfo=None) if self._dialect == "sqlite" else now.astimezone(UTC)
        detail = detail[:500] if detail is not None else None
        seal = keyring().audit_seal(content(now, actor_kind, actor, action, case_code, detail, prev))
        row = t.AuditRow(
            at=at,
            actor_kind=actor_kind,
            actor=actor,
            action=action,
            case_code=case_code,
            detail=detail,
            prev_hash=prev,
            hash=seal,
        )
        self.session.add(row)
        await self.session.flush()
        assert row.id is not None
        return row.id

    async def entries(
        self,
        *,
        case_code: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Rows in chain order (the newest `limit` of them when a limit is given)."""
        q = select(t.AuditRow)
        if case_code is not None:
            q = q.where(t.AuditRow.case_code == case_code)
        if since is not None:
            q = q.where(t.AuditRow.at >= self._stamp(since))  # type: ignore[operator]
        if limit is not None:
            q = q.order_by(t.AuditRow.id.desc()).limit(limit)  # type: ignore[union-attr]
            rows = list((await self.session.execute(q)).scalars().all())
            rows.reverse()
        else:
            rows = list((await self.session.execute(q.order_by(t.AuditRow.id))).scalars().all())  # type: ignore[arg-type]
        return [_entry(r) for r in rows]

    async def verify(self, batch: int = 1000) -> AuditCheck:
        """Walk the chain from the first row; stop at the first row whose link does not hold."""
        ring = keyring()
        prev = GENESIS
        last_id = 0
        count = 0
        head: tuple[int, str] | None = None
        while True:
            q = select(t.AuditRow).where(t.AuditRow.id > last_id).order_by(t.AuditRow.id).limit(batch)  # type: ignore[arg-type, operator]
            rows = (await self.session.execute(q)).scalars().all()
            for r in rows:
                e = _entry(r)
                if e.prev_hash != prev:
                    return AuditCheck(count, e.id, "unlinked", *(head or (None, None)))
                body = content(e.at, e.actor_kind, e.actor, e.action, e.case_code, e.detail, e.prev_hash)
                if not ring.audit_sealed(body, e.hash):
                    return AuditCheck(count, e.id, "changed", *(head or (None, None)))
                prev = e.hash
                count += 1
                head = (e.id, e.hash)
                last_id = e.id
            if len(rows) < batch:
                return AuditCheck(count, None, None, *(head or (None, None)))

    def _stamp(self, value: datetime) -> datetime:
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if self._dialect == "sqlite" else value
