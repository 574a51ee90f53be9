"""The menu flow and the global words: report, menu, help, status, notices, cancel; the menu's
own answers (a case code, a long message that is a tip), language, account linking words, and
files sent where no draft takes them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.core import casecode, words
from bot.core.casecode import find_link_code, new_link_code
from bot.core.catalog import ref, thai_date
from bot.core.conversation import MENU_BUTTONS, Context, Event, Turn, stamp, to_menu
from bot.core.effects import LinkStart, LinkWith, ShowNotices, Unlink, UpdateContact
from bot.core.flows import onboarding, resume, rights
from bot.core.flows.report import ReportFlow
from bot.core.model import InboundKind, Reply, TipSummary
from bot.core.state import Flow, State
from bot.core.words import meaningful


def global_word(ev: Event) -> str | None:
    """The global command a tap or a typed word is; None for anything else."""
    if ev.tap is not None and ev.tap.stamp is None:
        return ev.tap.value
    if ev.inbound.kind == InboundKind.TEXT:
        # In a free-text field only the unmistakable commands count as commands.
        word = words.word(ev.text)
        if word in words.GLOBAL:
            return word
        if ev.text.casefold() == "/start":
            return "menu"
    return None


def command(ev: Event, report: ReportFlow) -> bool:
    """A global command; False when the current flow answers it itself (back, skip)."""
    cmd = global_word(ev)
    st, ctx, turn = ev.st, ev.ctx, ev.turn
    in_report = ev.flow in (Flow.REPORT, Flow.RESUME)
    if cmd == "report":
        if in_report:
            resume.ask(st, turn, expired=False)
        else:
            report.start(st, ctx, turn)
        return True
    if cmd == "menu":
        if in_report:
            turn.replies.append(Reply("report.menu_in_draft"))
            resume.ask(st, turn, expired=False)
        else:
            turn.replies.append(Reply("menu.prompt", buttons=MENU_BUTTONS))
        return True
    if cmd == "help":
        turn.replies.append(Reply("help.text"))
        if ev.flow == Flow.REPORT:
            turn.replies.append(report.question(st, ctx))
        else:
            turn.replies.append(Reply("menu.prompt", buttons=MENU_BUTTONS))
        return True
    if cmd == "status":
        status(None, ctx, turn)
        if ev.flow == Flow.REPORT:
            turn.replies.append(report.question(st, ctx))
        return True
    if cmd == "notices":
        turn.effects.append(ShowNotices())
        return True
    if cmd == "mydata":
        rights.mydata(ev)
        return True
    if cmd == "forget":
        rights.ask(ev)
        return True
    if cmd in ("optout", "optin"):
        turn.effects.append(UpdateContact({"opted_out": cmd == "optout"}))
        turn.replies.append(Reply("notices.opted_out" if cmd == "optout" else "notices.opted_in"))
        if ev.flow == Flow.REPORT:
            turn.replies.append(report.question(st, ctx))
        return True
    if cmd == "cancel":
        if ev.flow == Flow.REPORT:
            return False  # the form asks "really cancel?" first
        if in_report:
            turn.state = to_menu(st, ctx)
            turn.replies.append(Reply("report.cancelled", buttons=MENU_BUTTONS))
        else:
            turn.replies.append(Reply("menu.nothing_to_cancel", buttons=MENU_BUTTONS))
        return True
    if cmd in ("back", "skip") and ev.flow in (Flow.REPORT, Flow.HOME, Flow.RESUME):
        return False  # handled by the flow itself
    if cmd in ("back", "skip"):
        turn.replies.append(Reply("menu.prompt", buttons=MENU_BUTTONS))
        return True
    return False


def menu(ev: Event, report: ReportFlow) -> None:
    ctx, turn, inbound, text = ev.ctx, ev.turn, ev.inbound, ev.text
    turn.state = st = at_menu(ev.st, ctx)
    if inbound.kind == InboundKind.FOLLOW:
        turn.replies.append(Reply("menu.prompt", buttons=MENU_BUTTONS))
        return
    if inbound.kind == InboundKind.TEXT and (code := casecode.find(text)):
        status(code, ctx, turn)
        return
    if inbound.kind == InboundKind.TEXT and len(text) <= 40 and (typed := casecode.near_miss(text)):
        turn.replies.append(Reply("status.check_code", {"case_code": typed}, buttons=MENU_BUTTONS))
        return
    if inbound.kind == InboundKind.TEXT and meaningful(text) and len(text) >= 25:
        # A long message at the menu is almost always a tip: start the report with it.
        report.start(st, ctx, turn, first_text=text, message_id=inbound.message_id)
        return
    turn.replies.append(Reply("menu.confused", buttons=MENU_BUTTONS))


def at_menu(st: State, ctx: Context) -> State:
    """A chat that is nowhere yet (no flow, no stamp) is at the menu; any other is left as it is."""
    fresh = stamp(ctx, 0)  # drawn either way, as always: seeded replays keep their random bytes
    return replace(st, flow=st.flow or Flow.MENU, stamp=st.stamp if st.stamp is not None else fresh)


def status(code: str | None, ctx: Context, turn: Turn) -> None:
    if code is not None:
        tip = next((t for t in ctx.my_tips if t.case_code == code), None)
        if tip is None:
            turn.replies.append(Reply("status.not_found", {"case_code": code}))
        else:
            turn.replies.append(Reply("status.one", _tip_params(tip)))
        return
    if not ctx.my_tips:
        turn.replies.append(Reply("status.none", buttons=MENU_BUTTONS))
        return
    lines = [ref("status.line", **_tip_params(t)) for t in ctx.my_tips[-10:]]
    turn.replies.append(Reply("status.list", {"tips": lines, "count": len(ctx.my_tips)}))


def _tip_params(tip: TipSummary) -> dict[str, Any]:
    return {
        "case_code": tip.case_code,
        "status": ref(f"status.{tip.status}"),
        "category": ref(f"category.{tip.category}"),
        "date": thai_date(tip.created_at.date()),
        "meaning": ref(f"status_meaning.{tip.status}"),
    }


def language(ev: Event) -> None:
    parts = ev.text.split()
    wanted = parts[1].casefold() if len(parts) > 1 else ""
    if wanted in ("th", "en") and ev.ctx.contact is not None:
        ev.turn.effects.append(UpdateContact({"locale": wanted}))
        ev.turn.replies.append(Reply("common.language_set"))
    else:
        ev.turn.replies.append(Reply("common.language_usage"))


def not_kept(ev: Event, report: ReportFlow) -> None:
    """A file outside a draft: nothing was downloaded; say so and how to attach evidence."""
    st, ctx, turn, flow = ev.st, ev.ctx, ev.turn, ev.flow
    if flow in (Flow.REPORT, Flow.RESUME):
        if flow == Flow.RESUME or report.idle(st, ctx):
            # a paused or idle draft: it must be taken up again before it takes evidence
            turn.replies.append(Reply("media.not_kept_paused"))
            resume.ask(st, turn, expired=flow == Flow.REPORT)
            return
        turn.replies.append(Reply("media.not_kept_summary"))
        turn.replies.append(report.question(st, ctx))
        return
    turn.replies.append(Reply("media.not_kept"))
    if flow == Flow.HOME:
        turn.replies.append(onboarding.home_question(st))
    else:
        turn.state = at_menu(st, ctx)
        turn.replies.append(Reply("menu.prompt", buttons=MENU_BUTTONS))


# ---- one volunteer, two platforms (typed outside a report) --------------------------------------------


def _linking(ev: Event) -> bool:
    return ev.inbound.kind == InboundKind.TEXT and ev.flow != Flow.REPORT


def asks_link(ev: Event) -> bool:
    return _linking(ev) and words.without_politeness(ev.text) in words.LINK_WORDS


def link(ev: Event) -> None:
    code = new_link_code(ev.ctx.token(8))
    ev.turn.effects.append(LinkStart(code))
    ev.turn.replies.append(Reply("link.code", {"code": code}))


def asks_unlink(ev: Event) -> bool:
    return _linking(ev) and words.without_politeness(ev.text) in words.UNLINK_WORDS


def unlink(ev: Event) -> None:
    ev.turn.effects.append(Unlink())


def gives_link_code(ev: Event) -> bool:
    return _linking(ev) and len(ev.text) <= 40 and find_link_code(ev.text) is not None


def link_with(ev: Event) -> None:
    code = find_link_code(ev.text)
    assert code is not None
    ev.turn.effects.append(LinkWith(code))
