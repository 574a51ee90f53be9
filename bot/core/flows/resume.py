"""The resume flow: a paused or idle draft asks "continue, start over or cancel?" before anything."""

from __future__ import annotations

from typing import Any

from bot.core import words
from bot.core.conversation import MENU_BUTTONS, Event, Flow, Turn, btn, to_menu
from bot.core.flows.report import ReportFlow
from bot.core.model import Reply


def ask(st: dict[str, Any], turn: Turn, expired: bool) -> None:
    if st.get("flow") == Flow.REPORT:
        st["resume_step"] = st.get("step")
    st["flow"] = Flow.RESUME.value
    stamp = st["stamp"]
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
        st["flow"] = Flow.REPORT.value
        st["step"] = st.pop("resume_step", None) or report.form.fields[0].id
        st["touched"] = ctx.now.isoformat()
        turn.replies.append(report.question(st, ctx))
    elif choice == "restart":
        report.start(st, ctx, turn)
    elif choice in ("cancel", "no"):
        to_menu(st, ctx)
        turn.replies.append(Reply("report.cancelled", buttons=MENU_BUTTONS))
    else:
        ask(st, turn, expired=False)
