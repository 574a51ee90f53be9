"""The report flow: a draft walked on the form walker, submitted as a tip, taken back in part.

Knows the report form only through `bot.core.forms` (its fields, its record); no field id lives here.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from bot.core.catalog import ref
from bot.core.conversation import MENU_BUTTONS, Context, Event, Turn, stamp, to_menu
from bot.core.effects import ForgetAttachment, RedactTip, SubmitTip, WakeLater
from bot.core.forms import Form, Kind
from bot.core.forms.report import REFERRALS, REPORT
from bot.core.forms.walker import Walker
from bot.core.model import Reply, TipRecord
from bot.core.state import Flow, State, Submitted


class ReportFlow:
    def __init__(self, form: Form = REPORT) -> None:
        self.form = form
        self.walker = Walker(form)

    def takes_media(self, state: State, *, consented: bool, now: datetime, draft_ttl: timedelta) -> bool:
        """Whether a file sent now would be kept: a consented volunteer's draft is in progress.

        Evidence is asked for at its own step, but a photo sent earlier in the form is kept for
        that step too (the volunteer means it for this report). Not before consent, not without
        a draft, not while an idle draft waits for "continue?", not at the summary.
        """
        if not consented or state.flow != Flow.REPORT:
            return False
        if state.touched is not None and now - state.touched > draft_ttl:
            return False
        return self.walker.asks_field(state.step)

    def idle(self, st: State, ctx: Context) -> bool:
        return st.touched is not None and ctx.now - st.touched > ctx.draft_ttl

    def start(
        self,
        st: State,
        ctx: Context,
        turn: Turn,
        first_text: str | None = None,
        message_id: str | None = None,
    ) -> None:
        """A fresh draft (only the tip sent last is kept), its first question or what the story said."""
        fresh = State(
            flow=Flow.REPORT,
            stamp=stamp(ctx, 2),
            form=self.walker.fresh(),
            draft_id=ctx.token(12).hex(),
            touched=ctx.now,
            last_submitted=st.last_submitted,
        )
        turn.state = fresh
        turn.replies.append(Reply("report.intro"))
        if first_text:
            walk = self.walker.told(fresh, first_text, message_id, ctx)
            assert walk.state is not None
            turn.state = walk.state
            turn.replies.extend(walk.replies)
            return
        turn.replies.append(self.question(fresh, ctx))

    def question(self, st: State, ctx: Context) -> Reply:
        return self.walker.question(st, ctx)

    def answer(self, ev: Event) -> None:
        st = replace(ev.st, touched=ev.ctx.now)
        walk = self.walker.answer(st, ev.inbound, ev.tap.value if ev.tap is not None else None, ev.ctx)
        assert walk.state is not None
        ev.turn.state = walk.state
        ev.turn.replies.extend(walk.replies)
        if walk.wake is not None:
            ev.turn.effects.append(WakeLater(ev.ctx.story_pause, walk.wake))
        if walk.cancelled:
            ev.turn.state = to_menu(walk.state, ev.ctx)
            ev.turn.replies.append(Reply("report.cancelled", buttons=MENU_BUTTONS))
        elif walk.confirmed:
            self.submit(ev.ctx, ev.turn)

    def submit(self, ctx: Context, turn: Turn) -> None:
        st = turn.state
        assert self.form.to_record is not None, self.form.id
        assert st.form is not None
        tip: TipRecord = self.form.to_record(st.form.values, ctx)
        turn.effects.append(SubmitTip(tip, str(st.draft_id)))
        turn.replies.append(Reply("report.submitted", {"case_code": tip.case_code}, buttons=MENU_BUTTONS))
        if tip.category in REFERRALS:
            turn.replies.append(
                Reply("report.referral", {"referral": ref(f"referral.{REFERRALS[tip.category]}")})
            )
        redactable = self.form.redactable
        last = Submitted(
            stamp=st.stamp,
            case_code=tip.case_code,
            draft_id=st.draft_id,
            # which message answered which field, so an unsend after submitting can still redact it
            answers={m: f for m, f in st.form.answers.items() if f in redactable},
        )
        turn.state = replace(to_menu(st, ctx), last_submitted=last)

    # ---- the volunteer takes a message back or changes it --------------------------------------------
    def unsend(self, ev: Event) -> None:
        ref_id = ev.inbound.ref_message_id
        if not ref_id or ev.ctx.contact is None:
            return
        st, changed = self.walker.unsent(ev.st, ref_id) if ev.st.form is not None else (ev.st, False)
        ev.turn.state = st
        ev.turn.effects.append(ForgetAttachment(ref_id))
        if changed and ev.flow == Flow.REPORT:
            ev.turn.replies.append(Reply("report.unsent_removed"))
        last = st.last_submitted
        field_id = last.answers.get(ref_id) if last is not None else None
        if last is not None and field_id in self.form.redactable:
            assert field_id is not None
            ev.turn.effects.append(RedactTip(str(last.case_code), field_id))

    def edit(self, ev: Event) -> None:
        st = ev.st
        ref_id = ev.inbound.ref_message_id or ev.inbound.message_id
        form = st.form
        field_id = form.answers.get(ref_id or "") if form is not None else None
        if ev.flow != Flow.REPORT or not field_id or form is None or field_id not in form.values:
            return
        ev.turn.state, f = self.walker.edited(st, field_id, ev.inbound.text.strip(), ev.ctx)
        if f is not None:
            ev.turn.replies.append(Reply("report.edited", {"field": ref(f.label)}))


def draft_attachment_ids(state: State) -> set[int]:
    """The attachments a conversation's draft still holds (kept by the orphan sweep)."""
    draft = state.form.values if state.form is not None else {}
    return {
        int(e["id"])
        for f in REPORT.fields
        if f.kind == Kind.EVIDENCE
        for e in draft.get(f.id) or ()
        if isinstance(e, dict) and e.get("id") is not None
    }
