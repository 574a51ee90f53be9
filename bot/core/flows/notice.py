"""The notice flow: an organizer composes a notice (`/broadcast`) on the form walker; a volunteer
answers one (RSVP buttons, a question to the organizer). The desk (`bot.runtime.broadcast`) does the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bot.core import words
from bot.core.compose import ORGANIZER_ROLES, parse_command, parse_rsvp
from bot.core.conversation import Context, Event, stamp, to_menu
from bot.core.effects import AskOrganizer, CreateBroadcast, PreviewBroadcast
from bot.core.forms.notice import NOTICE
from bot.core.forms.walker import SUMMARY, Walker
from bot.core.model import Button, InboundKind, Reply
from bot.core.state import Flow, OrganizerQuestion, State
from bot.core.words import meaningful

#: the step name the notice form's buttons carry (`<stamp>:bc:<value>`)
STEP = NOTICE.button_step or NOTICE.id
_WALKER = Walker(NOTICE)

#: how long after tapping สอบถาม the next message counts as the question to the organizer
QUESTION_WINDOW = timedelta(minutes=30)


def organizer(ctx: Context) -> bool:
    return ctx.staff is not None and ctx.staff.active and ctx.staff.role in ORGANIZER_ROLES


def is_command(ev: Event) -> bool:
    return ev.inbound.kind == InboundKind.TEXT and parse_command(ev.text) is not None


def command(ev: Event) -> None:
    cmd = parse_command(ev.text)
    assert cmd is not None
    if not organizer(ev.ctx):
        ev.turn.replies.append(Reply("broadcast.denied"))
        ev.turn.save = not ev.turn.state.empty
        return
    if cmd.action != "compose":
        ev.turn.effects.append(cmd)
        return
    ev.turn.state = State(flow=Flow.NOTICE, stamp=stamp(ev.ctx, 3), form=_WALKER.fresh())
    ev.turn.replies.extend([Reply("broadcast.start"), question(ev)])


def _confirm_buttons(st: State) -> tuple[Button, ...]:
    return (
        Button("broadcast.button.confirm", f"{st.stamp}:{STEP}:confirm"),
        Button("button.cancel", f"{st.stamp}:{STEP}:cancel"),
    )


def question(ev: Event) -> Reply:
    st = ev.st
    if st.step == SUMMARY:
        return Reply("broadcast.confirm_again", buttons=_confirm_buttons(st))
    return _WALKER.question(st, ev.ctx)


def compose(ev: Event, stale: Callable[[Event], None]) -> None:
    """An organizer's form, whether or not they ever consented as a volunteer."""
    st, ctx, turn, inbound, tap = ev.st, ev.ctx, ev.turn, ev.inbound, ev.tap
    if inbound.kind == InboundKind.MEDIA:
        turn.replies.append(Reply("media.not_kept"))
    if tap is not None and tap.stamp is not None and tap.stamp != st.stamp:
        stale(ev)
        return
    if not organizer(ctx):
        turn.state = to_menu(st, ctx)
        turn.replies.append(Reply("broadcast.denied"))
        return
    value = tap.value if tap is not None and tap.step == STEP else None
    text = inbound.text if inbound.kind == InboundKind.TEXT else ""
    choice = value or (words.word(text) if text else None)
    if choice in ("cancel", "menu"):
        turn.replies.append(Reply("broadcast.cancelled"))
        turn.state = to_menu(st, ctx)
        return
    if choice == "help":
        turn.replies.extend([Reply("broadcast.help"), question(ev)])
        return
    if st.step == SUMMARY:
        if choice in ("confirm", "yes"):
            turn.effects.append(CreateBroadcast(_draft(st, ctx)))
            turn.state = to_menu(st, ctx)
        else:
            turn.replies.append(Reply("broadcast.confirm_again", buttons=_confirm_buttons(st)))
        return
    # Only typed text answers (a file or a sticker is "please type it").
    typed = (
        inbound
        if inbound.kind in (InboundKind.TEXT, InboundKind.BUTTON)
        else replace(inbound, kind=InboundKind.TEXT, text="")
    )
    walk = _WALKER.answer(st, typed, value, ctx)
    assert walk.state is not None
    turn.state = st = walk.state
    turn.replies.extend(walk.replies)
    if walk.finished:
        turn.effects.append(PreviewBroadcast(_draft(st, ctx), _confirm_buttons(st)))


def _draft(st: State, ctx: Context) -> dict[str, Any]:
    assert NOTICE.to_record is not None
    record: dict[str, Any] = NOTICE.to_record(st.form.values if st.form else {}, ctx)
    return record


def is_rsvp(ev: Event) -> bool:
    return ev.inbound.button is not None and parse_rsvp(ev.inbound.button) is not None


def rsvp(ev: Event) -> None:
    assert ev.inbound.button is not None
    answer = parse_rsvp(ev.inbound.button)
    assert answer is not None
    asking = None
    if answer.answer == "ask" and answer.bc_id:
        # The next thing the volunteer writes (soon) is their question to the organizer.
        asking = OrganizerQuestion(notice=answer.bc_id, at=ev.ctx.now)
    ev.turn.state = replace(ev.st, organizer_question=asking)
    ev.turn.effects.append(answer)


def ask_organizer(ev: Event) -> bool:
    """The volunteer's question after tapping สอบถาม; any other message closes that window."""
    asking = ev.st.organizer_question
    if asking is not None:
        ev.turn.state = replace(ev.st, organizer_question=None)
    if (
        asking
        and ev.flow != Flow.REPORT
        and ev.inbound.kind == InboundKind.TEXT
        and meaningful(ev.text)
        and words.word(ev.text) is None
        and not ev.text.startswith("/")
        and ev.ctx.now - asking.at < QUESTION_WINDOW
    ):
        ev.turn.effects.append(AskOrganizer(asking.notice, ev.text))
        return True
    return False
