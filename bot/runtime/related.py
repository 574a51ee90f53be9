"""The related-tips desk: indexes a tip's signals, finds the tips that likely concern the same matter,
and records what staff decide about them (`/link`, `/unlink`, closed as a duplicate).

What a viewer sees respects regions: a related tip of a region the viewer may not see is only
counted, with its region. Talks to storage only through `bot.core.ports.UnitOfWork`.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from bot.core.catalog import ref, region_ref
from bot.core.model import Reply, StaffChatRecord, TipDetail
from bot.core.ports import UnitOfWork
from bot.core.related import (
    AGENCY,
    DEFAULT_WEIGHTS,
    Facts,
    Match,
    RelatedView,
    Signals,
    Weights,
    matches,
    reasons,
    signals,
)
from bot.core.routing import CENTRAL

log = logging.getLogger("tipbot.related")

THAI_OFFSET = timedelta(hours=7)
#: related tips named in a staff alert; the rest are counted
ALERT_CODES = 3


def may_see(viewer_region: str, tip_region: str) -> bool:
    """The rule of the staff desk: a region sees its own tips; the central office sees all."""
    return viewer_region in (tip_region, CENTRAL)


def facts(tip: TipDetail) -> Facts:
    return Facts(
        category=tip.category,
        narrative=tip.narrative,
        agency=tip.agency,
        official=tip.official,
        province=tip.province,
        district=tip.district,
        when=tip.incident_date or (tip.created_at + THAI_OFFSET).date(),
    )


class RelatedDesk:
    def __init__(
        self,
        *,
        window: timedelta = timedelta(days=365),
        cluster_window: timedelta = timedelta(days=90),
        cluster_min: int = 3,
        weights: Weights = DEFAULT_WEIGHTS,
        limit: int = 10,
    ) -> None:
        self.window = window
        self.cluster_window = cluster_window
        self.cluster_min = cluster_min
        self.weights = weights
        self.limit = limit

    # ---- the blind index ----------------------------------------------------------------------
    async def index(self, uow: UnitOfWork, tip: TipDetail) -> Signals:
        """Store the keyed hashes of the tip's signals (on submit, after a redaction, on rotation)."""
        sig = signals(facts(tip))
        await uow.related.index(tip.id, sig.index, tip.created_at)
        return sig

    async def forget(self, uow: UnitOfWork, tip_id: int) -> int:
        """Remove a tip's blind-index entries: call this when a tip is erased."""
        return await uow.related.forget(tip_id)

    # ---- finding ------------------------------------------------------------------------------
    async def find(self, uow: UnitOfWork, tip: TipDetail, now: datetime) -> tuple[Signals, list[Match]]:
        """The tips related to `tip` for a viewer who may see everything: the matcher's suggestions
        (minus those staff rejected) and staff's links, links first."""
        sig = signals(facts(tip))
        found = await uow.related.candidates(sig.query, now - self.window, tip.id)
        suggested = matches(sig, tip.category, found, self.weights, limit=self.limit)
        decided = await uow.related.links(tip.id)
        rejected = {d.tip_id for d in decided if d.kind == "rejected"}
        linked: list[Match] = []
        by_id = {m.tip_id: m for m in suggested}
        for d in decided:
            if d.kind == "rejected":
                continue
            seen = by_id.get(d.tip_id)
            linked.append(
                Match(
                    d.tip_id,
                    d.case_code,
                    d.region,
                    d.category,
                    d.status,
                    d.status_detail,
                    d.created_at,
                    seen.score if seen else 1.0,
                    seen.signals if seen else (),
                    link=d.kind,
                )
            )
        done = {m.tip_id for m in linked} | rejected
        return sig, linked + [m for m in suggested if m.tip_id not in done]

    async def related_for(
        self, uow: UnitOfWork, tip: TipDetail, viewer_region: str, now: datetime
    ) -> tuple[Signals, RelatedView]:
        """What a staff chat of `viewer_region` may see of the tips related to `tip` (the case desk
        and `/tip` call this): visible matches, and a count per region for the others."""
        sig, found = await self.find(uow, tip, now)
        return sig, self.view(found, viewer_region)

    @staticmethod
    def view(found: list[Match], viewer_region: str) -> RelatedView:
        visible = tuple(m for m in found if may_see(viewer_region, m.region))
        hidden = Counter(m.region for m in found if not may_see(viewer_region, m.region))
        return RelatedView(visible, tuple(sorted(hidden.items())))

    # ---- what staff read ----------------------------------------------------------------------
    @staticmethod
    def alert_line(view: RelatedView) -> dict[str, Any] | None:
        """One line for the staff alert: "อาจเกี่ยวข้องกับ 3 เรื่อง: TB-…, TB-…"."""
        if view.count == 0:
            return None
        codes = [m.case_code for m in view.visible[:ALERT_CODES]]
        more = len(view.visible) - len(codes)
        parts: list[Any] = [", ".join(codes)] if codes else []
        if more:
            parts.append(ref("related.more", count=more))
        parts += [ref("related.elsewhere", count=n, region=region_ref(r)) for r, n in view.hidden]
        return ref("related.alert", count=view.count, tips=_joined(parts))

    @staticmethod
    def listing(tip: TipDetail, sig: Signals, view: RelatedView) -> Reply | None:
        """`/tip CODE`: each related tip with its score and reasons in words."""
        if view.count == 0:
            return None
        lines: list[Any] = [
            ref(
                "related.line",
                case_code=m.case_code,
                region=region_ref(m.region),
                score=f"{round(m.score * 100)}",
                status=ref(f"status.{m.status}"),
                reasons=_joined(reasons(sig, m), "; "),
            )
            for m in view.visible
        ]
        lines += [ref("related.hidden_line", count=n, region=region_ref(r)) for r, n in view.hidden]
        return Reply("related.list", {"case_code": tip.case_code, "count": view.count, "tips": lines})

    # ---- staff decisions ----------------------------------------------------------------------
    async def decide(
        self,
        uow: UnitOfWork,
        staff: StaffChatRecord,
        tip: TipDetail,
        other: TipDetail,
        kind: str,
        now: datetime,
    ) -> list[Reply]:
        """`/link` (kind "linked") or `/unlink` (kind "rejected") of two tips the chat may see."""
        if other.id == tip.id:
            return [Reply("related.usage")]
        await uow.related.set_link(tip.id, other.id, kind, actor=f"staff:{staff.id}", now=now)
        for a, b in ((tip, other), (other, tip)):
            await uow.tips.add_event(a.id, actor=f"staff:{staff.id}", action=kind, at=now, note=b.case_code)
        log.info("tips %s and %s %s by staff chat %s", tip.case_code, other.case_code, kind, staff.id)
        key = "related.linked" if kind == "linked" else "related.unlinked"
        return [Reply(key, {"case_code": tip.case_code, "other": other.case_code})]

    async def mark_duplicate(
        self,
        uow: UnitOfWork,
        staff: StaffChatRecord,
        duplicate: TipDetail,
        original: TipDetail,
        now: datetime,
    ) -> None:
        await uow.related.set_link(
            duplicate.id,
            original.id,
            "duplicate",
            actor=f"staff:{staff.id}",
            now=now,
            duplicate_id=duplicate.id,
        )
        await uow.tips.add_event(
            duplicate.id,
            actor=f"staff:{staff.id}",
            action="duplicate_of",
            at=now,
            note=original.case_code,
        )
        await uow.tips.add_event(
            original.id,
            actor=f"staff:{staff.id}",
            action="duplicate_joined",
            at=now,
            note=duplicate.case_code,
        )

    # ---- the daily digest ----------------------------------------------------------------------
    async def digest_lines(self, uow: UnitOfWork, region: str, now: datetime) -> list[dict[str, Any]]:
        """Groups about one office that grew in the last day, as the region's digest lists them
        ("อบต.หนองบัว: 4 เรื่องใน 90 วัน"); a group counts only tips the region may see."""
        groups = await uow.related.groups(
            AGENCY, now - self.cluster_window, now - timedelta(days=1), self.cluster_min
        )
        lines: list[dict[str, Any]] = []
        for members in groups:
            mine = [code for code, r in members if may_see(region, r)]
            if len(mine) < self.cluster_min:
                continue
            newest = await uow.tips.get(mine[-1])
            if newest is None:
                continue
            label = signals(facts(newest)).labels.get(AGENCY)
            if not label:
                continue
            lines.append(
                ref(
                    "related.digest_line",
                    agency=label,
                    count=len(mine),
                    days=self.cluster_window.days,
                )
            )
        return lines


def _joined(parts: list[Any], sep: str = " ") -> Any:
    """Several parts (text or messages) as one message parameter."""
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0]
    return ref(
        "related.joined" if sep == " " else "related.joined_semi",
        first=parts[0],
        rest=_joined(parts[1:], sep),
    )
