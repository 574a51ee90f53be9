"""The conversation engine: a pure function from (state, event, context) to the next Turn.

No I/O, no clock, no randomness: time, random bytes and facts from storage come in `Context`.
Replies are message keys with parameters, never text; effects say what the dispatcher must store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from bot import casecode, words
from bot.casecode import find_link_code, new_link_code
from bot.catalog import ref, region_ref, thai_date
from bot.compose import (
    ORGANIZER_ROLES,
    STEP,
    Composer,
    parse_command,
    parse_rsvp,
)
from bot.effects import (
    AnswerQuestion,
    AskOrganizer,
    BroadcastCommand,
    Consent,
    Effect,
    ForgetAttachment,
    ForgetMe,
    JoinStaff,
    LeaveStaff,
    LinkStart,
    LinkWith,
    MarkUnreachable,
    RedactTip,
    ShowNotices,
    StaffAction,
    SubmitTip,
    Unlink,
    UpdateContact,
)
from bot.forms import Form, Understanding
from bot.forms.report import REFERRALS, REPORT
from bot.forms.walker import Walk, Walker
from bot.joinguard import JOIN_GUARD, join_guard_live
from bot.model import (
    Button,
    ContactRecord,
    Inbound,
    InboundKind,
    Reply,
    StaffChatRecord,
    TipRecord,
    TipSummary,
)
from bot.routing import RegionTable
from bot.words import meaningful

# ---- what the engine needs to know and may ask for ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    now: datetime
    today: date
    #: the random source (os.urandom in production, a seeded one in tests); read through `token`
    entropy: Callable[[int], bytes]
    contact: ContactRecord | None
    staff: StaffChatRecord | None
    my_tips: tuple[TipSummary, ...]
    regions: RegionTable
    understanding: Understanding
    draft_ttl: timedelta = timedelta(hours=24)
    default_locale: str = "th"

    def token(self, n: int) -> bytes:
        """`n` fresh random bytes: stamps, draft ids, case codes and link codes never share any."""
        return self.entropy(n)


@dataclass(slots=True)
class Turn:
    state: dict[str, Any]
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    save: bool = True  # False: leave no conversation behind (declined consent, groups)


# ---- words and buttons -----------------------------------------------------------------------------

GLOBAL_PREFIX = "g"
#: how long after tapping สอบถาม the next message counts as the question to the organizer
QUESTION_WINDOW = timedelta(minutes=30)  # stampless buttons (menus, rich menu): always valid


def _btn(label: str, payload: str, **params: Any) -> Button:
    return Button(label=label, payload=payload, params=params)


def _gbtn(label: str, cmd: str) -> Button:
    return Button(label=label, payload=f"{GLOBAL_PREFIX}:{cmd}")


MENU_BUTTONS = (
    _gbtn("button.report", "report"),
    _gbtn("button.my_tips", "status"),
    _gbtn("button.help", "help"),
)


@dataclass(frozen=True, slots=True)
class Tap:
    stamp: str | None  # None for global buttons
    step: str
    value: str


def parse_payload(payload: str) -> Tap | None:
    parts = payload.split(":", 2)
    if len(parts) == 2 and parts[0] in (GLOBAL_PREFIX, "menu"):
        return Tap(stamp=None, step="g", value=parts[1])
    if len(parts) == 3 and re.fullmatch(r"[0-9a-f]{6}", parts[0]):
        return Tap(stamp=parts[0], step=parts[1], value=parts[2])
    return None


# ---- the engine ------------------------------------------------------------------------------------


class Engine:
    """Walks the onboarding and the report form. `advance` is the only entry point."""

    def __init__(self, form: Form = REPORT) -> None:
        self.form = form
        self.walker = Walker(form)

    def advance(self, state: Mapping[str, Any], inbound: Inbound, ctx: Context) -> Turn:
        turn = self._advance(state, inbound, ctx)
        guard = state.get(JOIN_GUARD)
        if guard and join_guard_live(state, ctx.now):
            # The /join failure count outlives every reset of the conversation, declining consent
            # included: otherwise "ไม่ยินยอม" would wipe it and the guessing could go on.
            if any(isinstance(e, ForgetMe) for e in turn.effects):
                turn.effects = [e for e in turn.effects if not isinstance(e, ForgetMe)]
                turn.state.clear()
                turn.save = True
            turn.state.setdefault(JOIN_GUARD, guard)
        return turn

    def takes_media(
        self, state: Mapping[str, Any], *, consented: bool, now: datetime, draft_ttl: timedelta
    ) -> bool:
        """Whether a file sent now would be kept: a consented volunteer's draft is in progress.

        Evidence is asked for at its own step, but a photo sent earlier in the form is kept for
        that step too (the volunteer means it for this report). Not before consent, not without
        a draft, not while an idle draft waits for "continue?", not at the summary.
        """
        if not consented or state.get("flow") != "report":
            return False
        touched = state.get("touched")
        if touched and now - datetime.fromisoformat(touched) > draft_ttl:
            return False
        return self.walker.asks_field(state.get("step"))

    def _advance(self, state: Mapping[str, Any], inbound: Inbound, ctx: Context) -> Turn:
        st: dict[str, Any] = dict(state)
        turn = Turn(state=st)
        if inbound.standby:
            turn.save = bool(state)
            return turn
        if inbound.chat_kind == "group":
            self._group(inbound, ctx, turn)
            turn.save = False
            return turn
        kind = inbound.kind
        if kind == InboundKind.IGNORED:
            return turn
        if kind == InboundKind.UNFOLLOW:
            turn.effects.append(MarkUnreachable())
            return turn
        if kind == InboundKind.UNSEND:
            self._unsend(inbound, ctx, turn)
            return turn
        if kind == InboundKind.EDIT:
            self._edit(inbound, ctx, turn)
            return turn

        text = inbound.text.strip()
        if kind == InboundKind.TEXT and (join := _join_code(text)) is not None:
            turn.effects.append(JoinStaff(join))
            return turn
        if kind == InboundKind.TEXT and text.casefold() in ("/leave",):
            turn.effects.append(LeaveStaff())
            return turn
        if kind == InboundKind.TEXT and text.casefold().startswith("/lang"):
            self._lang(text, ctx, turn)
            return turn
        if (action := staff_action(inbound)) is not None:
            turn.effects.append(action)
            return turn
        if kind == InboundKind.TEXT and (command := parse_command(text)) is not None:
            self._broadcast_command(command, ctx, turn)
            return turn
        if st.get("flow") == "broadcast":
            # An organizer's form, whether or not they ever consented as a volunteer.
            if kind == InboundKind.MEDIA:
                turn.replies.append(Reply("media.not_kept"))
            tap = parse_payload(inbound.button) if inbound.button else None
            if tap is not None and tap.stamp is not None and tap.stamp != st.get("stamp"):
                self._stale(st, ctx, turn)
            else:
                self._compose(inbound, tap, ctx, turn)
            return turn

        if ctx.contact is None or ctx.contact.consented_at is None:
            self._onboarding(inbound, ctx, turn)
            return turn

        if kind == InboundKind.FOLLOW:
            turn.replies.append(Reply("onboarding.welcome_back", buttons=MENU_BUTTONS))
            if st.get("flow") == "report":
                self._ask_resume(st, turn, expired=False)
            return turn

        if kind == InboundKind.MEDIA and not self.takes_media(
            st, consented=True, now=ctx.now, draft_ttl=ctx.draft_ttl
        ):
            self._not_kept(st, ctx, turn)
            return turn

        question = st.get("question")
        if (
            question
            and kind == InboundKind.TEXT
            and meaningful(text)
            and words.word(text) is None
            and not text.startswith("/")
        ):
            # The next thing the volunteer writes after a staff question is the answer.
            st.pop("question", None)
            turn.effects.append(AnswerQuestion(str(question["code"]), int(question["staff"]), text))
            if st.get("flow") == "report":
                turn.replies.append(self._question(st, ctx))
            return turn

        if kind == InboundKind.TEXT and st.get("flow") != "report":
            folded = words.without_politeness(text)
            if folded in words.LINK_WORDS:
                code = new_link_code(ctx.token(8))
                turn.effects.append(LinkStart(code))
                turn.replies.append(Reply("link.code", {"code": code}))
                return turn
            if folded in words.UNLINK_WORDS:
                turn.effects.append(Unlink())
                return turn
            if len(text) <= 40 and (link := find_link_code(text)) is not None:
                turn.effects.append(LinkWith(link))
                return turn
        if inbound.button is not None and (rsvp := parse_rsvp(inbound.button)) is not None:
            st.pop("bc_question", None)
            if rsvp.answer == "ask" and rsvp.bc_id:
                # The next thing the volunteer writes (soon) is their question to the organizer.
                st["bc_question"] = {"id": rsvp.bc_id, "at": ctx.now.isoformat()}
            turn.effects.append(rsvp)
            return turn
        asking = st.pop("bc_question", None)
        if (
            asking
            and st.get("flow") != "report"
            and kind == InboundKind.TEXT
            and meaningful(text)
            and words.word(text) is None
            and not text.startswith("/")
            and ctx.now - datetime.fromisoformat(asking["at"]) < QUESTION_WINDOW
        ):
            turn.effects.append(AskOrganizer(int(asking["id"]), text))
            return turn

        tap = parse_payload(inbound.button) if inbound.button else None
        if inbound.button is not None and tap is None:
            self._stale(st, ctx, turn)
            return turn

        # Draft expiry: ask before anything else, so an old draft is never silently continued.
        if st.get("flow") == "report" and st.get("touched"):
            idle = ctx.now - datetime.fromisoformat(st["touched"])
            if idle > ctx.draft_ttl and not (tap and tap.step == "resume"):
                self._ask_resume(st, turn, expired=True)
                return turn

        if tap is not None and tap.stamp is not None and tap.stamp != st.get("stamp"):
            last = st.get("last_submitted") or {}
            if tap.stamp == last.get("stamp") and tap.step == "sum":
                turn.replies.append(Reply("report.already_sent", {"case_code": last.get("case_code")}))
            else:
                self._stale(st, ctx, turn)
            return turn

        cmd = tap.value if tap is not None and tap.stamp is None else None
        if cmd is None and kind == InboundKind.TEXT:
            word = words.word(text)
            # In a free-text field only the unmistakable commands count as commands.
            if word in words.GLOBAL:
                cmd = word
            elif text.casefold() == "/start":
                cmd = "menu"
        if cmd is not None and self._global(cmd, st, ctx, turn):
            return turn

        flow = st.get("flow")
        if flow == "home":
            self._home(inbound, ctx, turn)
        elif flow == "report":
            st["touched"] = ctx.now.isoformat()
            self._report(inbound, tap, ctx, turn)
        elif flow == "resume":
            self._resume(inbound, tap, ctx, turn)
        else:
            self._menu(inbound, ctx, turn)
        return turn

    # ---- groups, lifecycle --------------------------------------------------------------------
    def _group(self, inbound: Inbound, ctx: Context, turn: Turn) -> None:
        if inbound.kind == InboundKind.JOINED_GROUP:
            turn.replies.append(Reply("staff.group_hint"))
        elif inbound.kind == InboundKind.LEFT_GROUP:
            turn.effects.append(LeaveStaff())
        elif (action := staff_action(inbound)) is not None:
            turn.effects.append(action)
        elif inbound.kind == InboundKind.TEXT:
            text = inbound.text.strip()
            if (code := _join_code(text)) is not None:
                turn.effects.append(JoinStaff(code))
            elif text.casefold().split("@")[0] == "/leave":
                turn.effects.append(LeaveStaff())
            elif text.casefold().split("@")[0] in ("/help", "/start") and ctx.staff is not None:
                turn.replies.append(Reply("staff.help", {"region": region_ref(ctx.staff.region)}))

    def _lang(self, text: str, ctx: Context, turn: Turn) -> None:
        wanted = text.split()[1].casefold() if len(text.split()) > 1 else ""
        if wanted in ("th", "en") and ctx.contact is not None:
            turn.effects.append(UpdateContact({"locale": wanted}))
            turn.replies.append(Reply("common.language_set"))
        else:
            turn.replies.append(Reply("common.language_usage"))

    def _unsend(self, inbound: Inbound, ctx: Context, turn: Turn) -> None:
        ref_id = inbound.ref_message_id
        if not ref_id or ctx.contact is None:
            return
        st = turn.state
        changed = self.walker.unsent(st, ref_id)
        turn.effects.append(ForgetAttachment(ref_id))
        if changed and st.get("flow") == "report":
            turn.replies.append(Reply("report.unsent_removed"))
        last = st.get("last_submitted") or {}
        field_id = (last.get("answers") or {}).get(ref_id)
        if field_id in self.form.redactable:
            turn.effects.append(RedactTip(str(last["case_code"]), field_id))

    def _edit(self, inbound: Inbound, ctx: Context, turn: Turn) -> None:
        st = turn.state
        ref_id = inbound.ref_message_id or inbound.message_id
        field_id = (st.get("answers") or {}).get(ref_id or "")
        draft = st.get("draft")
        if st.get("flow") != "report" or not field_id or draft is None or field_id not in draft:
            return
        f = self.walker.edited(st, field_id, inbound.text.strip(), ctx)
        if f is not None:
            turn.replies.append(Reply("report.edited", {"field": ref(f.label)}))

    def _not_kept(self, st: dict[str, Any], ctx: Context, turn: Turn) -> None:
        """A file outside a draft: nothing was downloaded; say so and how to attach evidence."""
        flow = st.get("flow")
        if flow in ("report", "resume"):
            touched = st.get("touched")
            idle = bool(touched) and ctx.now - datetime.fromisoformat(str(touched)) > ctx.draft_ttl
            if flow == "resume" or idle:
                # a paused or idle draft: it must be taken up again before it takes evidence
                turn.replies.append(Reply("media.not_kept_paused"))
                self._ask_resume(st, turn, expired=flow == "report")
                return
            turn.replies.append(Reply("media.not_kept_summary"))
            turn.replies.append(self._question(st, ctx))
            return
        turn.replies.append(Reply("media.not_kept"))
        if flow == "home":
            turn.replies.append(self._home_question(st))
        else:
            st.setdefault("flow", "menu")
            st.setdefault("stamp", _stamp(ctx, 0))
            turn.replies.append(Reply("menu.prompt", buttons=MENU_BUTTONS))

    # ---- onboarding ---------------------------------------------------------------------------
    def _onboarding(self, inbound: Inbound, ctx: Context, turn: Turn) -> None:
        st = turn.state
        choice: str | None = None
        tap = parse_payload(inbound.button) if inbound.button else None
        if tap is not None and tap.step == "consent":
            choice = tap.value
        elif inbound.kind == InboundKind.TEXT:
            w = words.word(inbound.text)
            choice = {"accept": "accept", "decline": "decline", "yes": "accept", "no": "decline"}.get(w or "")
        if st.get("flow") == "consent" and choice == "accept":
            turn.effects.append(Consent(True))
            st.clear()
            st.update(flow="home", stamp=_stamp(ctx, 0))
            turn.replies.append(Reply("onboarding.thanks"))
            turn.replies.append(self._home_question(st))
            return
        if st.get("flow") == "consent" and choice == "decline":
            turn.effects.append(ForgetMe())
            turn.replies.append(Reply("onboarding.declined"))
            turn.save = False
            return
        stamp = _stamp(ctx, 0)
        st.clear()
        st.update(flow="consent", stamp=stamp)
        if inbound.kind == InboundKind.TEXT and len(inbound.text.strip()) > 30:
            # Nothing of what was said before consent is kept; tell them so they can resend.
            turn.replies.append(Reply("onboarding.not_kept"))
        elif inbound.kind == InboundKind.MEDIA:
            turn.replies.append(Reply("media.not_kept_consent"))
        turn.replies.append(Reply("onboarding.welcome"))
        turn.replies.append(
            Reply(
                "onboarding.consent",
                buttons=(
                    _btn("button.accept", f"{stamp}:consent:accept"),
                    _btn("button.decline", f"{stamp}:consent:decline"),
                ),
            )
        )

    def _home_question(self, st: dict[str, Any]) -> Reply:
        return Reply(
            "onboarding.home_province",
            buttons=(_btn("button.skip", f"{st['stamp']}:home:skip"),),
        )

    def _home(self, inbound: Inbound, ctx: Context, turn: Turn) -> None:
        st = turn.state
        tap = parse_payload(inbound.button) if inbound.button else None
        if (tap is not None and tap.value == "skip") or words.word(inbound.text) == "skip":
            st.clear()
            st.update(flow="menu", stamp=_stamp(ctx, 0))
            turn.replies.append(Reply("menu.prompt", buttons=MENU_BUTTONS))
            return
        found = ctx.understanding.parse_province(inbound.text) if inbound.text.strip() else None
        if found is None:
            turn.replies.append(Reply("onboarding.home_unknown"))
            turn.replies.append(self._home_question(st))
            return
        turn.effects.append(UpdateContact({"home_province": found[0]}))
        st.clear()
        st.update(flow="menu", stamp=_stamp(ctx, 0))
        turn.replies.append(Reply("onboarding.home_saved", {"province": found[0]}, buttons=MENU_BUTTONS))

    # ---- global commands and menu -------------------------------------------------------------
    def _global(self, cmd: str, st: dict[str, Any], ctx: Context, turn: Turn) -> bool:
        in_report = st.get("flow") in ("report", "resume")
        if cmd == "report":
            if in_report:
                self._ask_resume(st, turn, expired=False)
            else:
                self._start_report(st, ctx, turn)
            return True
        if cmd == "menu":
            if in_report:
                turn.replies.append(Reply("report.menu_in_draft"))
                self._ask_resume(st, turn, expired=False)
            else:
                turn.replies.append(Reply("menu.prompt", buttons=MENU_BUTTONS))
            return True
        if cmd == "help":
            turn.replies.append(Reply("help.text"))
            if st.get("flow") == "report":
                turn.replies.append(self._question(st, ctx))
            else:
                turn.replies.append(Reply("menu.prompt", buttons=MENU_BUTTONS))
            return True
        if cmd == "status":
            self._status(None, ctx, turn)
            if st.get("flow") == "report":
                turn.replies.append(self._question(st, ctx))
            return True
        if cmd == "notices":
            turn.effects.append(ShowNotices())
            return True
        if cmd in ("optout", "optin"):
            turn.effects.append(UpdateContact({"opted_out": cmd == "optout"}))
            turn.replies.append(Reply("notices.opted_out" if cmd == "optout" else "notices.opted_in"))
            if st.get("flow") == "report":
                turn.replies.append(self._question(st, ctx))
            return True
        if cmd == "cancel":
            if in_report:
                self._to_menu(st, ctx)
                turn.replies.append(Reply("report.cancelled", buttons=MENU_BUTTONS))
            else:
                turn.replies.append(Reply("menu.nothing_to_cancel", buttons=MENU_BUTTONS))
            return True
        if cmd in ("back", "skip") and st.get("flow") in ("report", "home", "resume"):
            return False  # handled by the flow itself
        if cmd in ("back", "skip"):
            turn.replies.append(Reply("menu.prompt", buttons=MENU_BUTTONS))
            return True
        return False

    # ---- broadcasts (organizers) ------------------------------------------------------------
    @staticmethod
    def _organizer(ctx: Context) -> bool:
        return ctx.staff is not None and ctx.staff.active and ctx.staff.role in ORGANIZER_ROLES

    def _broadcast_command(self, command: BroadcastCommand, ctx: Context, turn: Turn) -> None:
        if not self._organizer(ctx):
            turn.replies.append(Reply("broadcast.denied"))
            turn.save = bool(turn.state)
            return
        if command.action == "compose":
            step = Composer(ctx.understanding, ctx.regions).start(turn.state, _stamp(ctx, 3))
            turn.replies.extend(step.replies)
        else:
            turn.effects.append(command)

    def _compose(self, inbound: Inbound, tap: Tap | None, ctx: Context, turn: Turn) -> None:
        st = turn.state
        if not self._organizer(ctx):
            self._to_menu(st, ctx)
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
            self._to_menu(st, ctx)

    def _to_menu(self, st: dict[str, Any], ctx: Context) -> None:
        keep = {k: st[k] for k in ("last_submitted",) if k in st}
        st.clear()
        st.update(flow="menu", stamp=_stamp(ctx, 1), **keep)

    def _menu(self, inbound: Inbound, ctx: Context, turn: Turn) -> None:
        st = turn.state
        st.setdefault("flow", "menu")
        st.setdefault("stamp", _stamp(ctx, 0))
        text = inbound.text.strip()
        if inbound.kind == InboundKind.FOLLOW:
            turn.replies.append(Reply("menu.prompt", buttons=MENU_BUTTONS))
            return
        if inbound.kind == InboundKind.TEXT and (code := casecode.find(text)):
            self._status(code, ctx, turn)
            return
        if inbound.kind == InboundKind.TEXT and meaningful(text) and len(text) >= 25:
            # A long message at the menu is almost always a tip: start the report with it.
            self._start_report(st, ctx, turn, first_text=text, message_id=inbound.message_id)
            return
        turn.replies.append(Reply("menu.confused", buttons=MENU_BUTTONS))

    def _status(self, code: str | None, ctx: Context, turn: Turn) -> None:
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

    # ---- the report form ----------------------------------------------------------------------
    def _start_report(
        self,
        st: dict[str, Any],
        ctx: Context,
        turn: Turn,
        first_text: str | None = None,
        message_id: str | None = None,
    ) -> None:
        keep = {k: st[k] for k in ("last_submitted",) if k in st}
        stamp = _stamp(ctx, 2)
        st.clear()
        st.update(
            flow="report",
            draft_id=ctx.token(12).hex(),
            touched=ctx.now.isoformat(),
            **self.walker.fresh(stamp),
            **keep,
        )
        turn.replies.append(Reply("report.intro"))
        if first_text:
            walk = Walk()
            self.walker.told(st, first_text, message_id, ctx, walk)
            turn.replies.extend(walk.replies)
            return
        turn.replies.append(self._question(st, ctx))

    def _question(self, st: dict[str, Any], ctx: Context) -> Reply:
        return self.walker.question(st, ctx)

    def _report(self, inbound: Inbound, tap: Tap | None, ctx: Context, turn: Turn) -> None:
        st = turn.state
        if tap is not None and tap.stamp is not None and tap.step != str(st.get("step")):
            self._stale(st, ctx, turn)
            return
        walk = self.walker.answer(st, inbound, tap.value if tap is not None else None, ctx)
        turn.replies.extend(walk.replies)
        if walk.cancelled:
            self._to_menu(st, ctx)
            turn.replies.append(Reply("report.cancelled", buttons=MENU_BUTTONS))
        elif walk.confirmed:
            self._submit(ctx, turn)

    def _submit(self, ctx: Context, turn: Turn) -> None:
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
        self._to_menu(st, ctx)
        st["last_submitted"] = last

    # ---- resume, stale ------------------------------------------------------------------------
    def _ask_resume(self, st: dict[str, Any], turn: Turn, expired: bool) -> None:
        if st.get("flow") == "report":
            st["resume_step"] = st.get("step")
        st["flow"] = "resume"
        stamp = st["stamp"]
        turn.replies.append(
            Reply(
                "report.expired" if expired else "report.resume",
                buttons=(
                    _btn("button.continue", f"{stamp}:resume:continue"),
                    _btn("button.restart", f"{stamp}:resume:restart"),
                    _btn("button.cancel", f"{stamp}:resume:cancel"),
                ),
            )
        )

    def _resume(self, inbound: Inbound, tap: Tap | None, ctx: Context, turn: Turn) -> None:
        st = turn.state
        choice = tap.value if tap is not None else words.word(inbound.text)
        if choice in ("continue", "yes"):
            st["flow"] = "report"
            st["step"] = st.pop("resume_step", None) or self.form.fields[0].id
            st["touched"] = ctx.now.isoformat()
            turn.replies.append(self._question(st, ctx))
        elif choice == "restart":
            self._start_report(st, ctx, turn)
        elif choice in ("cancel", "no"):
            self._to_menu(st, ctx)
            turn.replies.append(Reply("report.cancelled", buttons=MENU_BUTTONS))
        else:
            self._ask_resume(st, turn, expired=False)

    def _stale(self, st: dict[str, Any], ctx: Context, turn: Turn) -> None:
        turn.replies.append(Reply("common.stale_button"))
        if st.get("flow") == "report":
            turn.replies.append(self._question(st, ctx))
        elif st.get("flow") == "resume":
            self._ask_resume(st, turn, expired=False)
        elif st.get("flow") == "broadcast" and self._organizer(ctx):
            turn.replies.append(Composer(ctx.understanding, ctx.regions).question(st))
        else:
            turn.replies.append(Reply("menu.prompt", buttons=MENU_BUTTONS))


# ---- helpers ---------------------------------------------------------------------------------------


def draft_attachment_ids(state: Mapping[str, Any]) -> set[int]:
    """The attachments a conversation's draft still holds (kept by the orphan sweep)."""
    draft = state.get("draft") or {}
    return {int(e["id"]) for e in draft.get("evid") or () if isinstance(e, dict) and e.get("id") is not None}


_JOIN = re.compile(r"^/(?:join|start)(?:@\w+)?\s+([A-Za-z0-9-]{6,40})$", re.IGNORECASE)


def _join_code(text: str) -> str | None:
    m = _JOIN.match(text.strip())
    if not m:
        return None
    code = m.group(1)
    if text.strip().casefold().startswith("/start") and not code.upper().startswith("JOIN"):
        return None
    return code


_STAFF_COMMANDS = {
    "/tips": "list",
    "/tip": "detail",
    "/status": "set",
    "/ask": "ask",
    "/reassign": "reassign",
}


def staff_action(inbound: Inbound) -> StaffAction | None:
    """A staff command typed (`/status CODE STATUS note`) or a staff button (`s:ack:CODE`)."""
    if inbound.kind == InboundKind.BUTTON and inbound.button and inbound.button.startswith("s:"):
        parts = inbound.button.split(":", 3)
        if len(parts) < 3:
            return None
        return StaffAction(parts[1], casecode.find(parts[2]) or parts[2], parts[3] if len(parts) > 3 else "")
    if inbound.kind != InboundKind.TEXT:
        return None
    words = inbound.text.strip().split(None, 3)
    if not words:
        return None
    command = _STAFF_COMMANDS.get(words[0].casefold().split("@")[0])
    if command is None:
        return None
    code = casecode.find(words[1]) if len(words) > 1 else None
    rest = words[2:] if len(words) > 2 else []
    if command != "list" and code is None:
        return None  # "/status" alone is a volunteer asking about their own tips
    if command == "list":
        return StaffAction("list")
    if command == "detail":
        return StaffAction("detail", code or "")
    if command in ("set", "reassign"):
        return StaffAction(command, code or "", rest[0] if rest else "", rest[1] if len(rest) > 1 else "")
    return StaffAction("ask", code or "", "", " ".join(rest))


def _stamp(ctx: Context, salt: int) -> str:
    return bytes(b ^ salt for b in ctx.token(3)).hex()


def _tip_params(tip: TipSummary) -> dict[str, Any]:
    return {
        "case_code": tip.case_code,
        "status": ref(f"status.{tip.status}"),
        "category": ref(f"category.{tip.category}"),
        "date": thai_date(tip.created_at.date()),
    }
