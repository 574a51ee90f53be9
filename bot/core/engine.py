"""The conversation engine: a pure function from (state, event, context) to the next Turn.

`advance` runs an ordered routing table: lifecycle events, then the words and commands that count
wherever the chat is (staff, organizer, global words like ยกเลิก/เมนู/ช่วยเหลือ), then the chat's
current flow (`bot.core.flows`). No I/O, no clock, no randomness: time, random bytes and facts from
storage come in `Context`. Replies are message keys, never text; effects (`bot.core.effects`) say what
the dispatcher must do.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.core.conversation import (
    MENU_BUTTONS,
    Context,
    Event,
    Route,
    Tap,
    Turn,
    parse_payload,
)
from bot.core.effects import ForgetMe, LeaveStaff, MarkUnreachable
from bot.core.flows import menu, notice, onboarding, resume, rights, staff
from bot.core.flows.report import ReportFlow, draft_attachment_ids
from bot.core.forms import Form
from bot.core.forms.report import REPORT
from bot.core.joinguard import join_guard_live
from bot.core.model import Inbound, InboundKind, Reply
from bot.core.state import Flow, State

__all__ = ["Context", "Engine", "State", "Tap", "Turn", "draft_attachment_ids", "parse_payload"]


def _text(kind: InboundKind) -> Any:
    return lambda ev: ev.inbound.kind == kind


class Engine:
    """Routes each event through `routes`, first match wins. `advance` is the only entry point."""

    def __init__(self, form: Form = REPORT) -> None:
        self.form = form
        self.report = ReportFlow(form)
        report = self.report
        typed = _text(InboundKind.TEXT)
        self.routes: tuple[Route, ...] = (
            # ---- lifecycle: no flow answers these
            Route("standby", lambda ev: ev.inbound.standby, self._standby),
            # a pause the report asked for has passed: only the story step it was for answers it
            Route("pause passed", _text(InboundKind.WAKE), self._wake),
            Route("group chat", lambda ev: ev.inbound.chat_kind == "group", staff.group),
            Route("ignored", _text(InboundKind.IGNORED), lambda ev: None),
            Route(
                "unfollowed",
                _text(InboundKind.UNFOLLOW),
                lambda ev: ev.turn.effects.append(MarkUnreachable()),
            ),
            Route("message unsent", _text(InboundKind.UNSEND), report.unsend),
            Route("message edited", _text(InboundKind.EDIT), report.edit),
            # ---- commands that count wherever the chat is
            Route("/join CODE", lambda ev: typed(ev) and staff.join_code(ev.text) is not None, staff.join),
            Route("/leave", lambda ev: typed(ev) and ev.text.casefold() == "/leave", self._leave),
            Route("/lang", lambda ev: typed(ev) and ev.text.casefold().startswith("/lang"), menu.language),
            Route("staff command", lambda ev: staff.staff_action(ev.inbound) is not None, staff.act),
            Route("staff help", staff.asks_staff_help, staff.staff_help),
            Route("/broadcast", notice.is_command, notice.command),
            Route(
                "composing a notice",
                lambda ev: ev.flow == Flow.NOTICE,
                lambda ev: notice.compose(ev, self._stale),
            ),
            # ---- a volunteer who has not consented sees only the onboarding
            Route("not consented", self._unconsented, onboarding.consent),
            Route("erase my data?", lambda ev: ev.flow == Flow.FORGET, rights.answer),
            Route("followed again", _text(InboundKind.FOLLOW), self._welcome_back),
            Route("file no draft takes", self._file_not_taken, lambda ev: menu.not_kept(ev, report)),
            Route("answer to staff", staff.answers_question, lambda ev: staff.answer_question(ev, report)),
            Route("link chats", menu.asks_link, menu.link),
            Route("unlink chats", menu.asks_unlink, menu.unlink),
            Route("link code", menu.gives_link_code, menu.link_with),
            Route("RSVP", notice.is_rsvp, notice.rsvp),
            Route("question to organizer", lambda ev: True, notice.ask_organizer),
            # ---- buttons of another time, idle drafts
            Route("unknown button", lambda ev: ev.inbound.button is not None and ev.tap is None, self._stale),
            Route("idle draft", self._idle, lambda ev: resume.ask(ev.st, ev.turn, expired=True)),
            Route("older message's button", self._foreign_stamp, self._old_button),
            # ---- global words (like ConversationHandler fallbacks), then the current flow
            Route(
                "global word",
                lambda ev: menu.global_word(ev) is not None,
                lambda ev: menu.command(ev, report),
            ),
            Route("home province", lambda ev: ev.flow == Flow.HOME, onboarding.home),
            Route("report: another step's button", self._other_step, self._other_step_tapped),
            Route("report", lambda ev: ev.flow == Flow.REPORT, report.answer),
            Route("resume", lambda ev: ev.flow == Flow.RESUME, lambda ev: resume.answer(ev, report)),
            Route("menu", lambda ev: True, lambda ev: menu.menu(ev, report)),
        )

    def advance(self, state: State, inbound: Inbound, ctx: Context) -> Turn:
        """The next Turn; `state` is a frozen value and stays as it was."""
        turn = Turn(state=state)
        tap = parse_payload(inbound.button) if inbound.button else None
        ev = Event(inbound=inbound, ctx=ctx, turn=turn, tap=tap, text=inbound.text.strip())
        for route in self.routes:
            if route.when(ev) and route.then(ev) is not False:
                break
        guard = state.join_guard
        if guard is not None and join_guard_live(guard, ctx.now):
            # The /join failure count outlives every reset of the conversation, declining consent
            # included: otherwise "ไม่ยินยอม" would wipe it and the guessing could go on.
            if any(isinstance(e, ForgetMe) for e in turn.effects):
                turn.effects = [e for e in turn.effects if not isinstance(e, ForgetMe)]
                turn.state = State()
                turn.save = True
            if turn.state.join_guard is None:
                turn.state = replace(turn.state, join_guard=guard)
        return turn

    def takes_media(self, state: State, *, consented: bool, now: datetime, draft_ttl: timedelta) -> bool:
        return self.report.takes_media(state, consented=consented, now=now, draft_ttl=draft_ttl)

    # ---- routes the table needs the engine for ----------------------------------------------------
    def _wake(self, ev: Event) -> None:
        if ev.flow == Flow.REPORT and (story := self.form.narrative) is not None and ev.st.step == story.id:
            self.report.answer(ev)

    @staticmethod
    def _standby(ev: Event) -> None:
        ev.turn.save = not ev.st.empty

    @staticmethod
    def _leave(ev: Event) -> None:
        ev.turn.effects.append(LeaveStaff())

    @staticmethod
    def _unconsented(ev: Event) -> bool:
        return ev.ctx.contact is None or ev.ctx.contact.consented_at is None

    def _welcome_back(self, ev: Event) -> None:
        ev.turn.replies.append(Reply("onboarding.welcome_back", buttons=MENU_BUTTONS))
        if ev.flow == Flow.REPORT:
            resume.ask(ev.st, ev.turn, expired=False)

    def _file_not_taken(self, ev: Event) -> bool:
        return ev.inbound.kind == InboundKind.MEDIA and not self.report.takes_media(
            ev.st, consented=True, now=ev.ctx.now, draft_ttl=ev.ctx.draft_ttl
        )

    def _idle(self, ev: Event) -> bool:
        """An old draft is never silently continued: ask first (unless this is the answer)."""
        tapped_resume = ev.tap is not None and ev.tap.step == "resume"
        return ev.flow == Flow.REPORT and self.report.idle(ev.st, ev.ctx) and not tapped_resume

    @staticmethod
    def _foreign_stamp(ev: Event) -> bool:
        return ev.tap is not None and ev.tap.stamp is not None and ev.tap.stamp != ev.st.stamp

    def _old_button(self, ev: Event) -> None:
        assert ev.tap is not None
        last = ev.st.last_submitted
        if last is not None and ev.tap.stamp == last.stamp and ev.tap.step == "sum":
            ev.turn.replies.append(Reply("report.already_sent", {"case_code": last.case_code}))
        else:
            self._stale(ev)

    @staticmethod
    def _other_step(ev: Event) -> bool:
        return (
            ev.flow == Flow.REPORT
            and ev.tap is not None
            and ev.tap.stamp is not None
            and ev.tap.step != str(ev.st.step)
        )

    def _other_step_tapped(self, ev: Event) -> None:
        ev.turn.state = replace(ev.st, touched=ev.ctx.now)  # the volunteer is here: the draft is not idle
        self._stale(ev)

    def _stale(self, ev: Event) -> None:
        st, ctx, turn = ev.st, ev.ctx, ev.turn
        turn.replies.append(Reply("common.stale_button"))
        if ev.flow == Flow.REPORT:
            turn.replies.append(self.report.question(st, ctx))
        elif ev.flow == Flow.RESUME:
            resume.ask(st, turn, expired=False)
        elif ev.flow == Flow.NOTICE and notice.organizer(ctx):
            turn.replies.append(notice.question(ev))
        else:
            turn.replies.append(Reply("menu.prompt", buttons=MENU_BUTTONS))
