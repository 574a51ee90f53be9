"""The tip desk: a submitted report stored and routed, and what a volunteer may take back from it.

Runs inside the dispatcher's transaction; the rules about a tip's own fields (which may be
redacted, what is recorded when) live here, not in the dispatcher. Talks to storage only through
`bot.core.ports.UnitOfWork`.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot import metrics
from bot.core.effects import RedactTip, SubmitTip
from bot.core.model import ContactRecord, Reply
from bot.core.ports import DuplicateTip, Redactable, UnitOfWork
from bot.runtime.staff import StaffDesk

log = logging.getLogger("tipbot.dispatcher")

#: which stored answer each redactable form field gave
_REDACTED: dict[str, Redactable] = {"story": "narrative", "agency": "agency", "official": "official"}


class TipDesk:
    def __init__(self, staff: StaffDesk) -> None:
        self.staff = staff

    async def submit(
        self, uow: UnitOfWork, effect: SubmitTip, contact: ContactRecord, channel: str, now: datetime
    ) -> Reply | None:
        """Store the tip and alert its region. When this draft was already sent (a confirm tapped
        twice), nothing is stored and the answer returned replaces the whole turn's."""
        tip = effect.tip
        try:
            tip_id = await uow.tips.add(
                tip, contact_id=contact.id, channel=channel, draft_id=effect.draft_id, now=now
            )
        except DuplicateTip:
            return Reply("report.already_sent_plain")
        await uow.attachments.link(tip.attachment_ids, tip_id)
        await uow.tips.add_event(tip_id, actor="volunteer", action="created", at=now, to_status="received")
        stored = await uow.tips.get(tip.case_code)
        assert stored is not None
        # indexed first, so a tip submitted next finds it; the alert then names the related tips
        await self.staff.related.index(uow, stored)
        await self.staff.alert_region(uow, stored, now)
        metrics.TIPS_CREATED.labels(tip.region).inc()
        log.info("tip %s stored for region %s", tip.case_code, tip.region)
        return None

    async def redact(
        self, uow: UnitOfWork, effect: RedactTip, contact: ContactRecord, now: datetime
    ) -> list[Reply]:
        """The volunteer unsent the message that gave a field: blank it, and record that it was."""
        tip = await uow.tips.get(effect.case_code)
        if tip is None or tip.contact_id != contact.id:
            return []
        await uow.tips.redact(tip.id, _REDACTED.get(effect.field, "contact_how"), now)
        await uow.tips.add_event(tip.id, actor="volunteer", action="redacted", at=now, note=effect.field)
        redacted = await uow.tips.get(tip.case_code)
        if redacted is not None:  # the index must not keep hashes of what was taken back
            await self.staff.related.index(uow, redacted)
        return [Reply("report.unsent_removed_tip", {"case_code": tip.case_code})]
