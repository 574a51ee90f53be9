"""Related tips: the blind index (keyed hashes of a tip's signals) and staff's links between tips.

Features arrive as plain "kind:value" strings from `bot.core.related`; only their HMAC
(`Keyring.blind_hash`, a key of its own derived from the secret key) is stored or queried.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import and_, delete, func, or_, select

from bot.core.model import TipLinkRecord
from bot.core.related import STORY, Candidate, kind_of
from storage import tables as t
from storage.crypto import keyring
from storage.repositories.base import Repository, utc

#: rows sent to the database in one INSERT / one IN list
_CHUNK = 500


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


class SqlRelated(Repository):
    # ---- the blind index ---------------------------------------------------------------------
    async def index(self, tip_id: int, features: Sequence[str], at: datetime) -> int:
        """Replace the tip's entries with the hashes of `features`; returns how many."""
        await self.forget(tip_id)
        ring = keyring()
        rows = [
            {"tip_id": tip_id, "kind": kind_of(f), "hash": ring.blind_hash(f), "at": at}
            for f in dict.fromkeys(features)
        ]
        for i in range(0, len(rows), _CHUNK):
            await self.session.execute(t.TipIndex.__table__.insert(), rows[i : i + _CHUNK])  # type: ignore[attr-defined]
        return len(rows)

    async def forget(self, tip_id: int) -> int:
        """Remove a tip's index entries (erasure, a redacted narrative, a rebuild)."""
        done = await self.session.execute(delete(t.TipIndex).where(t.TipIndex.tip_id == tip_id))
        return int(done.rowcount or 0)  # type: ignore[attr-defined]

    async def candidates(
        self, features: Sequence[str], since: datetime, exclude: int | None, limit: int = 200
    ) -> list[Candidate]:
        """Tips since `since` sharing a hashed feature, with how many of each kind they share;
        the `limit` sharing most. Reads the index and the tips' plain columns, never decrypts."""
        if not features:
            return []
        ring = keyring()
        hashes = list({ring.blind_hash(f) for f in features})
        idx = t.TipIndex
        q = (
            select(idx.tip_id, idx.kind, func.count())
            .where(idx.hash.in_(hashes), idx.at >= since)  # type: ignore[union-attr,attr-defined]
            .group_by(idx.tip_id, idx.kind)
        )
        if exclude is not None:
            q = q.where(idx.tip_id != exclude)
        hits: dict[int, dict[str, int]] = defaultdict(dict)
        for tip_id, kind, n in (await self.session.execute(q)).all():
            hits[int(tip_id)][str(kind)] = int(n)
        if not hits:
            return []
        best = sorted(hits, key=lambda k: (-len(hits[k]), -sum(hits[k].values()), -k))[:limit]
        sizes: dict[int, int] = {}
        story = [k for k in best if STORY in hits[k]]
        for i in range(0, len(story), _CHUNK):
            part = story[i : i + _CHUNK]
            rows = await self.session.execute(
                select(idx.tip_id, func.count())
                .where(idx.tip_id.in_(part), idx.kind == STORY)  # type: ignore[attr-defined]
                .group_by(idx.tip_id)
            )
            sizes.update({int(a): int(n) for a, n in rows.all()})
        out: list[Candidate] = []
        for i in range(0, len(best), _CHUNK):
            part = best[i : i + _CHUNK]
            rows = await self.session.execute(
                select(
                    t.Tip.id,
                    t.Tip.case_code,
                    t.Tip.region,
                    t.Tip.category,
                    t.Tip.status,
                    t.Tip.status_detail,
                    t.Tip.created_at,
                ).where(t.Tip.id.in_(part))  # type: ignore[union-attr]
            )
            for tid, code, region, category, status, detail, created in rows.all():
                out.append(
                    Candidate(
                        tip_id=int(tid),
                        case_code=code,
                        region=region,
                        category=category,
                        status=status,
                        status_detail=detail,
                        created_at=utc(created) or datetime.now(UTC),
                        hits=hits[int(tid)],
                        story_size=sizes.get(int(tid), 0),
                    )
                )
        return out

    async def groups(
        self, kind: str, since: datetime, grown_since: datetime, min_size: int
    ) -> list[list[tuple[str, str]]]:
        """Tips sharing one hashed feature of `kind` since `since`, at least `min_size` of them, of
        which one arrived after `grown_since`: each group's (case code, region), oldest first."""
        idx = t.TipIndex
        q = (
            select(idx.hash)
            .where(idx.kind == kind, idx.at >= since)
            .group_by(idx.hash)
            .having(func.count(func.distinct(idx.tip_id)) >= min_size)
            .having(func.max(idx.at) >= grown_since)
        )
        found = [h for (h,) in (await self.session.execute(q)).all()]
        out: list[list[tuple[str, str]]] = []
        for h in found:
            rows = await self.session.execute(
                select(t.Tip.case_code, t.Tip.region)
                .join(idx, idx.tip_id == t.Tip.id)  # type: ignore[arg-type]
                .where(idx.hash == h, idx.at >= since)
                .order_by(idx.at, idx.tip_id)
            )
            out.append(list(dict.fromkeys((str(c), str(r)) for c, r in rows.all())))
        return out

    # ---- staff links -------------------------------------------------------------------------
    async def set_link(
        self,
        a: int,
        b: int,
        kind: str,
        *,
        actor: str,
        now: datetime,
        duplicate_id: int | None = None,
    ) -> str | None:
        """Record what staff decided about two tips; returns the previous decision (None if none)."""
        lo, hi = _pair(a, b)
        row = (
            await self.session.execute(
                select(t.TipLink).where(t.TipLink.tip_lo == lo, t.TipLink.tip_hi == hi)
            )
        ).scalar_one_or_none()
        if row is None:
            self.session.add(
                t.TipLink(
                    tip_lo=lo, tip_hi=hi, kind=kind, duplicate_id=duplicate_id, actor=actor, created_at=now
                )
            )
            await self.session.flush()
            return None
        before = row.kind
        row.kind, row.duplicate_id, row.actor, row.created_at = kind, duplicate_id, actor, now
        return before

    async def links(self, tip_id: int) -> list[TipLinkRecord]:
        """Staff's decisions about this tip and others, newest first."""
        lk = t.TipLink
        rows = await self.session.execute(
            select(lk)
            .where(or_(lk.tip_lo == tip_id, lk.tip_hi == tip_id))
            .order_by(lk.created_at.desc(), lk.id.desc())  # type: ignore[union-attr]
        )
        found = rows.scalars().all()
        if not found:
            return []
        others = {(r.tip_hi if r.tip_lo == tip_id else r.tip_lo) for r in found}
        tips = {
            int(r[0]): r
            for r in (
                await self.session.execute(
                    select(
                        t.Tip.id,
                        t.Tip.case_code,
                        t.Tip.region,
                        t.Tip.category,
                        t.Tip.status,
                        t.Tip.status_detail,
                        t.Tip.created_at,
                    ).where(and_(t.Tip.id.in_(others)))  # type: ignore[union-attr]
                )
            ).all()
        }
        out: list[TipLinkRecord] = []
        for r in found:
            other = r.tip_hi if r.tip_lo == tip_id else r.tip_lo
            _, code, region, category, status, detail, created = tips[other]
            kind = r.kind
            if kind == "duplicate":
                kind = "duplicate" if r.duplicate_id == other else "original"
            out.append(
                TipLinkRecord(
                    tip_id=other,
                    case_code=code,
                    region=region,
                    category=category,
                    status=status,
                    status_detail=detail,
                    created_at=utc(created) or datetime.now(UTC),
                    kind=kind,
                    actor=r.actor,
                )
            )
        return out
