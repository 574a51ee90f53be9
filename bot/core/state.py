"""The conversation state: where one chat is, as a typed, frozen value.

Flows and the form walker take a `State` and return a new one (`dataclasses.replace`); nothing
changes a State in place. `State.from_dict` / `State.to_dict` are the storage boundary only: the
dispatcher and the desks that load or save a conversation call them, nothing else. `from_dict`
reads every shape stored so far (a notice composed before the form walker, records without the
newer keys, values of the wrong type), so existing databases keep working.

Pure: knows no flow's rules, no form's fields, no storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Flow(StrEnum):
    """Where a chat is; the value is what the stored conversation says (its "flow" key)."""

    CONSENT = "consent"  # asked to consent, not yet answered
    HOME = "home"  # asked for the home province after consenting
    MENU = "menu"
    REPORT = "report"  # walking the report form
    RESUME = "resume"  # a paused or idle draft: continue, restart or cancel?
    NOTICE = "broadcast"  # an organizer composing a notice
    FORGET = "forget"  # told what erasing their data does, asked to confirm


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a form's walk got (stored flat: step, draft, prefilled, history, answers)."""

    step: str | None = None
    #: the answers so far, by field id (stored as "draft"); JSON values, never changed in place
    values: Mapping[str, Any] = field(default_factory=dict)
    #: fields taken from an earlier message, waiting for "yes" or "change"
    prefilled: tuple[str, ...] = ()
    history: tuple[str, ...] = ()
    #: which message answered which field (message id → field id), for unsend and edit
    answers: Mapping[str, str] = field(default_factory=dict)
    #: the field was chosen from the summary's edit menu: back to the summary after it
    from_summary: bool = False


@dataclass(frozen=True, slots=True)
class Submitted:
    """The tip just sent: its buttons' stamp, and which message gave which redactable answer."""

    stamp: str | None
    case_code: str | None
    draft_id: str | None
    answers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StaffQuestion:
    """A staff member asked the volunteer about a tip: the next message is the answer."""

    code: str
    staff: int


@dataclass(frozen=True, slots=True)
class OrganizerQuestion:
    """The volunteer tapped สอบถาม under a notice: a message soon after is the question."""

    notice: int
    at: datetime


@dataclass(frozen=True, slots=True)
class JoinGuard:
    """Wrong `/join` codes lately and the lock-out (rules in `bot.core.joinguard`)."""

    fails: tuple[datetime, ...] = ()
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class State:
    flow: Flow | None = None
    stamp: str | None = None  # the current buttons' stamp
    form: Progress | None = None  # a form being walked (report, notice)
    draft_id: str | None = None
    touched: datetime | None = None  # the volunteer's last move in the draft (idle drafts)
    resume_step: str | None = None  # the step a paused draft goes back to
    last_submitted: Submitted | None = None
    question: StaffQuestion | None = None
    organizer_question: OrganizerQuestion | None = None
    join_guard: JoinGuard | None = None

    @property
    def empty(self) -> bool:
        return self == _EMPTY

    @property
    def step(self) -> str | None:
        return self.form.step if self.form is not None else None

    # ---- the storage boundary ----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> State:
        """A stored conversation, of any shape stored so far; what cannot be read is left out."""
        if not isinstance(d, Mapping):
            return cls()
        return cls(
            flow=_flow(d.get("flow")),
            stamp=_str(d.get("stamp")),
            form=_progress(d),
            draft_id=_str(d.get("draft_id")),
            touched=_moment(d.get("touched")),
            resume_step=_str(d.get("resume_step")),
            last_submitted=_submitted(d.get("last_submitted")),
            question=_question(d.get("question")),
            organizer_question=_organizer_question(d.get("bc_question")),
            join_guard=_join_guard(d.get("join_guard")),
        )

    def to_dict(self) -> dict[str, Any]:
        """The shape the database holds (keys unchanged since before this type)."""
        out: dict[str, Any] = {}
        if self.flow is not None:
            out["flow"] = self.flow.value
        if self.stamp is not None:
            out["stamp"] = self.stamp
        if (p := self.form) is not None:
            if p.step is not None:
                out["step"] = p.step
            out["draft"] = dict(p.values)
            out["prefilled"] = list(p.prefilled)
            out["history"] = list(p.history)
            out["answers"] = dict(p.answers)
            if p.from_summary:
                out["from_summary"] = True
        if self.draft_id is not None:
            out["draft_id"] = self.draft_id
        if self.touched is not None:
            out["touched"] = self.touched.isoformat()
        if self.resume_step is not None:
            out["resume_step"] = self.resume_step
        if (last := self.last_submitted) is not None:
            out["last_submitted"] = {
                "stamp": last.stamp,
                "case_code": last.case_code,
                "draft_id": last.draft_id,
                "answers": dict(last.answers),
            }
        if (q := self.question) is not None:
            out["question"] = {"code": q.code, "staff": q.staff}
        if (oq := self.organizer_question) is not None:
            out["bc_question"] = {"id": oq.notice, "at": oq.at.isoformat()}
        if (g := self.join_guard) is not None:
            out["join_guard"] = {
                "fails": [at.isoformat() for at in g.fails],
                "until": g.until.isoformat() if g.until else None,
            }
        return out


_EMPTY = State()


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _flow(v: Any) -> Flow | None:
    try:
        return Flow(str(v))
    except ValueError:
        return None


def _moment(v: Any) -> datetime | None:
    if not isinstance(v, str):
        return None
    try:
        return datetime.fromisoformat(v)
    except ValueError:
        return None


def _strs(v: Any) -> tuple[str, ...]:
    return tuple(x for x in v if isinstance(x, str)) if isinstance(v, list | tuple) else ()


def _str_map(v: Any) -> dict[str, str]:
    if not isinstance(v, Mapping):
        return {}
    return {k: x for k, x in v.items() if isinstance(k, str) and isinstance(x, str)}


def _progress(d: Mapping[str, Any]) -> Progress | None:
    if "bc_step" in d:
        # A notice being composed before the form walker ran it: `bc_step` and its draft `bc`,
        # filled in the form's order (so its keys are the way back).
        old = d.get("bc")
        values = dict(old) if isinstance(old, Mapping) else {}
        step = _str(d.get("bc_step"))
        return Progress(
            step="sum" if step == "confirm" else {"send": "send_at"}.get(step or "", step),
            values=values,
            history=tuple(values),
        )
    if "draft" not in d and "step" not in d:
        return None
    draft = d.get("draft")
    return Progress(
        step=_str(d.get("step")),
        values=dict(draft) if isinstance(draft, Mapping) else {},
        prefilled=_strs(d.get("prefilled")),
        history=_strs(d.get("history")),
        answers=_str_map(d.get("answers")),
        from_summary=d.get("from_summary") is True,
    )


def _submitted(v: Any) -> Submitted | None:
    if not isinstance(v, Mapping):
        return None
    return Submitted(
        stamp=_str(v.get("stamp")),
        case_code=_str(v.get("case_code")),
        draft_id=_str(v.get("draft_id")),
        answers=_str_map(v.get("answers")),
    )


def _question(v: Any) -> StaffQuestion | None:
    if not isinstance(v, Mapping) or v.get("code") is None or v.get("staff") is None:
        return None
    return StaffQuestion(code=str(v["code"]), staff=int(v["staff"]))


def _organizer_question(v: Any) -> OrganizerQuestion | None:
    if not isinstance(v, Mapping) or (at := _moment(v.get("at"))) is None or v.get("id") is None:
        return None
    return OrganizerQuestion(notice=int(v["id"]), at=at)


def _join_guard(v: Any) -> JoinGuard | None:
    if not isinstance(v, Mapping):
        return None
    fails = tuple(at for at in (_moment(x) for x in v.get("fails") or ()) if at is not None)
    return JoinGuard(fails=fails, until=_moment(v.get("until")))
