"""The report flow: a draft walked on the form walker, submitted as a tip, taken back in part.

Knows the report form only through `bot.core.forms` (its fields, its record); no field id lives here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bot.core.catalog import ref
from bot.core.conversation import MENU_BUTTONS, Context, Event, Flow, Turn, stamp, to_menu
from bot.core.effects import ForgetAttachment, RedactTip, SubmitTip
from bot.core.forms import Form, Kind
from bot.core.forms.report import REFERRALS, REPORT
from bot.core.forms.walker import Walk, Walker
from bot.core.model import Reply, TipRecord


class ReportFlow:
    def __init__(self, form: Form = REPORT) -> None:
        self.form = form
        self.walker = Walker(form)

    def takes_media(
        self, state: Mapping[str, Any], *, consented: bool, now: datetime, draft_ttl: timedelta
    ) -> bool:
        """Whether a file sent now would be kept: a consented volunteer's draft is in progress.

        Evidence is asked for at its own step, but a photo sent earlier in the form is kept for
        that step too (the volunteer means it for this report). Not before consent, not without
        a draft, not while an idle draft waits for "continue?", not at the summary.
        """
        if not consented or state.get("flow") != Flow.REPORT:
            return False
        touched = state.get("touched")
        if touched and now - datetime.fromisoformat(touched) > draft_ttl:
            return False
        return self.walker.asks_field(state.get("step"))

    def idle(self, st: Mapping[str, Any], ctx: Context) -> bool:
        touched = st.get("touched")
        return bool(touched) and ctx.now - datetime.fromisoformat(str(touched)) > ctx.draft_ttl

    def start(
        self,
        st: dict[str, Any],
        ctx: Context,
        turn: Turn,
        first_text: str | None = None,
        message_id: str | None = None,
    ) -> None:
        keep = {k: st[k] for k in ("last_submitted",) if k in st}
        fresh = self.walker.fresh(stamp(ctx, 2))
        st.clear()
        st.update(
            flow=Flow.REPORT.value, draft_id=ctx.token(12).hex(), touched=ctx.now.isoformat(), **fresh, **keep
        )
        turn.replies.append(Reply("report.intro"))
        if first_text:
            walk = Walk()
            self.walker.told(st, first_text, message_id, ctx, walk)
            turn.replies.extend(walk.replies)
            return
        turn.replies.append(self.question(st, ctx))

    def question(self, st: dict[str, Any], ctx: Context) -> Reply:
        return self.walker.question(st, ctx)

    def answer(self, ev: Event) -> None:
        st = ev.st
        st["touched"] = ev.ctx.now.isoformat()
        walk = self.walker.answer(st, ev.inbound, ev.tap.value if ev.tap is not None else None, ev.ctx)
        ev.turn.replies.extend(walk.replies)
        if walk.cancelled:
            to_menu(st, ev.ctx)
            ev.turn.replies.append(Reply("report.cancelled", buttons=MENU_BUTTONS))
        elif walk.confirmed:
            self.submit(ev.ctx, ev.turn)

    def submit(self, ctx: Context, turn: Turn) -> None:
        st = turn.state
        assert self.form.to_record is not None, self.form.id
        tip: TipRecord = self.form.to_record(st["draft"], ctx)
        turn.effects.append(SubmitTip(tip, str(st["draft_id"])))
        turn.replies.append(Reply("report.submitted", {"case_code": tip.case_code}, buttons=MENU_BUTTONS))
        if tip.category in REFERRALS:
            turn.replies.append(
                Reply("report.referral", {"referral": ref(f"referral.{REFERRALS[tip.category]}")})
            )
        redactable = self.form.redactable
        last = {
            "stamp": st["stamp"],
            "case_code": tip.case_code,
            "draft_id": st["draft_id"],
            # which message answered which field, so an unsend after submitting can still redact it
            "answers": {m: f for m, f in (st.get("answers") or {}).items() if f in redactable},
        }
        to_menu(st, ctx)
        st["last_submitted"] = last

    # ---- the volunteer takes a message back or changes it --------------------------------------------
    def unsend(self, ev: Event) -> None:
        ref_id = ev.inbound.ref_message_id
        if not ref_id or ev.ctx.contact is None:
            return
        st = ev.st
        changed = self.walker.unsent(st, ref_id)
        ev.turn.effects.append(ForgetAttachment(ref_id))
        if changed and ev.flow == Flow.REPORT:
            ev.turn.replies.append(Reply("report.unsent_removed"))
        last = st.get("last_submitted") or {}
        field_id = (last.get("answers") or {}).get(ref_id)
        if field_id in self.form.redactable:
            ev.turn.effects.append(RedactTip(str(last["case_code"]), field_id))

    def edit(self, ev: Event) -> None:
        st = ev.st
        ref_id = ev.inbound.ref_message_id or ev.inbound.message_id
        field_id = (st.get("answers") or {}).get(ref_id or "")
        draft = st.get("draft")
        if ev.flow != Flow.REPORT or not field_id or draft is None or field_id not in draft:
            return
        f = self.walker.edited(st, field_id, ev.inbound.text.strip(), ev.ctx)
        if f is not None:
            ev.turn.replies.append(Reply("report.edited", {"field": ref(f.label)}))


def draft_attachment_ids(state: Mapping[str, Any]) -> set[int]:
    """The attachments a conversation's draft still holds (kept by the orphan sweep)."""
    draft = state.get("draft") or {}
    return {
        int(e["id"])
        for f in REPORT.fields
        if f.kind == Kind.EVIDENCE
        for e in draft.get(f.id) or ()
        if isinstance(e, dict) and e.get("id") is not None
    }
