"""The resume flow: a paused or idle draft asks "continue, start over or cancel?" before anything."""

from __future__ import annotations

from dataclasses import replace

from bot.core import words
from bot.core.conversation import MENU_BUTTONS, Event, Turn, btn, to_menu
from bot.core.flows.report import ReportFlow
from bot.core.model import Reply
from bot.core.state import Flow, Progress, State


def ask(st: State, turn: Turn, expired: bool) -> None:
    if st.flow == Flow.REPORT:
        st = replace(st, resume_step=st.step)
    turn.state = st = replace(st, flow=Flow.RESUME)
    stamp = st.stamp
    turn.replies.append(
        Reply(
            "report.expired" if expired else "report.resume",
            buttons=(
                btn("button.continue", f"{stamp}:resume:continue"),
                btn("button.restart", f"{stamp}:resume:restart"),
                btn("button.cancel", f"{stamp}:resume:cancel"),
            ),
        )
    )


def answer(ev: Event, report: ReportFlow) -> None:
    st, ctx, turn = ev.st, ev.ctx, ev.turn
    choice = ev.tap.value if ev.tap is not None else words.word(ev.inbound.text)
    if choice in ("continue", "yes"):
        step = st.resume_step or report.form.fields[0].id
        st = replace(
            st,
            flow=Flow.REPORT,
            form=replace(st.form or Progress(), step=step),
            resume_step=None,
            touched=ctx.now,
        )
        turn.state = st
        turn.replies.append(report.question(st, ctx))
    elif choice == "restart":
        report.start(st, ctx, turn)
    elif choice in ("cancel", "no"):
        turn.state = to_menu(st, ctx)
        turn.replies.append(Reply("report.cancelled", buttons=MENU_BUTTONS))
    else:
        ask(st, turn, expired=False)
