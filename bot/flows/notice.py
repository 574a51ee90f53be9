"""The notice flow: an organizer composes a notice (`/broadcast`) on the form walker; a volunteer
answers one (RSVP buttons, a question to the organizer). The desk (`bot.broadcast`) does the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from bot import words
from bot.compose import ORGANIZER_ROLES, STEP, Composer, parse_command, parse_rsvp
from bot.conversation import Context, Event, Flow, stamp, to_menu
from bot.effects import AskOrganizer
from bot.model import InboundKind, Reply
from bot.words import meaningful

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
        ev.turn.save = bool(ev.turn.state)
        return
    if cmd.action == "compose":
        step = Composer(ev.ctx.understanding, ev.ctx.regions).start(ev.st, stamp(ev.ctx, 3))
        ev.turn.replies.extend(step.replies)
    else:
        ev.turn.effects.append(cmd)


def question(ev: Event) -> Reply:
    return Composer(ev.ctx.understanding, ev.ctx.regions).question(ev.st)


def compose(ev: Event, stale: Callable[[Event], None]) -> None:
    """An organizer's form, whether or not they ever consented as a volunteer."""
    st, ctx, turn, inbound, tap = ev.st, ev.ctx, ev.turn, ev.inbound, ev.tap
    if inbound.kind == InboundKind.MEDIA:
        turn.replies.append(Reply("media.not_kept"))
    if tap is not None and tap.stamp is not None and tap.stamp != st.get("stamp"):
        stale(ev)
        return
    if not organizer(ctx):
        to_menu(st, ctx)
        turn.replies.append(Reply("broadcast.denied"))
        return
    text = inbound.text if inbound.kind == InboundKind.TEXT else ""
    value = tap.value if tap is not None and tap.step == STEP else None
    word = words.word(text) if text else None
    step = Composer(ctx.understanding, ctx.regions).advance(
        st, text=text, value=value, word=word, now=ctx.now
    )
    turn.replies.extend(step.replies)
    turn.effects.extend(step.effects)
    if step.done:
        to_menu(st, ctx)


def is_rsvp(ev: Event) -> bool:
    return ev.inbound.button is not None and parse_rsvp(ev.inbound.button) is not None


def rsvp(ev: Event) -> None:
    assert ev.inbound.button is not None
    answer = parse_rsvp(ev.inbound.button)
    assert answer is not None
    ev.st.pop("bc_question", None)
    if answer.answer == "ask" and answer.bc_id:
        # The next thing the volunteer writes (soon) is their question to the organizer.
        ev.st["bc_question"] = {"id": answer.bc_id, "at": ev.ctx.now.isoformat()}
    ev.turn.effects.append(answer)


def ask_organizer(ev: Event) -> bool:
    """The volunteer's question after tapping สอบถาม; any other message closes that window."""
    asking = ev.st.pop("bc_question", None)
    if (
        asking
        and ev.flow != Flow.REPORT
        and ev.inbound.kind == InboundKind.TEXT
        and meaningful(ev.text)
        and words.word(ev.text) is None
        and not ev.text.startswith("/")
        and ev.ctx.now - datetime.fromisoformat(asking["at"]) < QUESTION_WINDOW
    ):
        ev.turn.effects.append(AskOrganizer(int(asking["id"]), ev.text))
        return True
    return False
