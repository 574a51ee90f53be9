"""The reporter's rights in chat: see what is stored (`/mydata`), erase it (`/forget`, also
"withdraw consent") after an explanation and a confirm button. The erasure itself is the rights
desk's (`bot.runtime.rights`); this flow only explains and asks."""

from __future__ import annotations

from dataclasses import replace

from bot.core import words
from bot.core.catalog import ref
from bot.core.conversation import MENU_BUTTONS, Event, btn, stamp
from bot.core.effects import EraseMe, ShowMyData
from bot.core.flows import resume
from bot.core.model import Reply
from bot.core.state import Flow

#: a tip not yet acknowledged by staff may be withdrawn entirely; later ones stay as evidence
WITHDRAWABLE = ("received",)


def mydata(ev: Event) -> None:
    ev.turn.effects.append(ShowMyData())


def ask(ev: Event) -> None:
    """What erasing does, for this chat's tips, and the confirm button."""
    st, ctx = ev.st, ev.ctx
    new = stamp(ctx, 0)
    withdrawn = [t.case_code for t in ctx.my_tips if t.status in WITHDRAWABLE]
    kept = [t.case_code for t in ctx.my_tips if t.status not in WITHDRAWABLE]
    replies = [Reply("rights.forget_explain")]
    if withdrawn:
        replies.append(Reply("rights.forget_withdrawn", {"codes": ", ".join(withdrawn)}))
    if kept:
        replies.append(Reply("rights.forget_kept", {"codes": ", ".join(kept)}))
    replies.append(_question(new))
    ev.turn.replies.extend(replies)
    # a draft in progress is kept in the state until the answer, so "don't erase" goes back to it
    ev.turn.state = replace(st, flow=Flow.FORGET, stamp=new, resume_step=st.step or st.resume_step)


def _question(at: str) -> Reply:
    return Reply(
        "rights.forget_confirm",
        buttons=(
            btn("button.forget_confirm", f"{at}:forget:yes"),
            btn("button.forget_keep", f"{at}:forget:no"),
        ),
    )


def answer(ev: Event) -> None:
    """The answer to the confirm question: erase, keep, or ask again."""
    st, turn = ev.st, ev.turn
    if ev.tap is not None and ev.tap.step == "forget" and ev.tap.stamp == st.stamp:
        choice = ev.tap.value
    else:
        w = words.word(ev.text)
        choice = {"forget_confirm": "yes", "forget_keep": "no", "no": "no", "cancel": "no", "menu": "no"}.get(
            w or "", ""
        )
    if choice == "yes":
        turn.effects.append(EraseMe())
        turn.save = False  # the conversation goes with the contact
        return
    if choice == "no":
        turn.replies.append(Reply("rights.forget_cancelled"))
        if st.form is not None and st.draft_id is not None:
            # back to the draft the volunteer left: continue, restart or cancel
            resume.ask(replace(st, flow=Flow.RESUME), turn, expired=False)
        else:
            turn.state = replace(st, flow=Flow.MENU, resume_step=None)
            turn.replies.append(Reply("menu.prompt", buttons=MENU_BUTTONS))
        return
    turn.replies.append(Reply("rights.forget_choose", {"confirm": ref("button.forget_confirm")}))
    turn.replies.append(_question(st.stamp or stamp(ev.ctx, 0)))
