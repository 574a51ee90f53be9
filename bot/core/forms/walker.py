"""The form walker: asks a form's fields in order, reads answers, confirms what the first message
already said, follows up, goes back, shows the summary. Runs any form; holds no field id.

Takes the conversation's `State` (its stamp and form progress) and returns a new one with what to
say; the State given is never changed. Pure: no I/O, no clock (time is in `Reading`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from bot.core import words
from bot.core.catalog import ref, region_ref, thai_date
from bot.core.forms import Field, Form, Invalid, Kind, Reading
from bot.core.model import LOCATION_PAYLOAD, Button, Inbound, InboundKind, Reply
from bot.core.routing import CENTRAL
from bot.core.state import Progress, State
from bot.core.words import meaningful

SUMMARY = "sum"
EDIT_MENU = "sum_edit"
#: a message longer than this right after the story is taken as more of the story
MORE_STORY_CHARS = 120
#: the story told so far in several messages, while the story step waits for more (draft keys)
_STORY_BUF = "_story_parts"
_STORY_WAKE = "_story_wake"
#: the story step's "I have told it all" button value (typed, it is the word "done")
STORY_TOLD = "told"
#: "really cancel?" (forms with `confirm_cancel`); the step it came from waits in `_RESUME`
CANCEL_ASK = "cancel_ask"
_RESUME = "_resume_step"


def button(label: str, payload: str) -> Button:
    return Button(label=label, payload=payload)


def read(f: Field, answer: str, reading: Reading) -> Any:
    """An answer as its kind reads it; None when it is not an answer."""
    if f.kind in (Kind.CHOICE, Kind.CONTACT):
        a = answer.strip().casefold()
        if a.isdigit() and 1 <= int(a) <= len(f.options):
            return f.options[int(a) - 1].id
        for o in f.options:
            if a == o.id.casefold():
                return o.id
        if f.kind == Kind.CONTACT:
            return {"yes": "yes", "accept": "yes", "no": "no", "decline": "no"}.get(words.word(answer) or "")
        return None
    if not meaningful(answer):
        return None
    if f.kind == Kind.TEXT:
        if len(answer) > f.max_length:
            # never cut without saying so: the volunteer is told the limit and what they sent
            return Invalid("report.too_long", {"max": f"{f.max_length:,}", "length": f"{len(answer):,}"})
        return answer if len(answer) >= f.min_length else None
    if f.kind == Kind.PLACE:
        found = reading.understanding.parse_province(answer)
        return None if found is None else {"province": found[0], "district": found[1]}
    if f.kind == Kind.DATE:
        parsed = reading.understanding.parse_date(answer, reading.today)
        if parsed is None:
            return None
        d, vague = parsed
        return {"date": d.isoformat() if d else None, "text": vague}
    if f.kind == Kind.MONEY:
        amount = reading.understanding.parse_amount(answer)
        return None if amount is None or amount < 0 else amount
    return None


def show(f: Field, value: Any, draft: Mapping[str, Any], reading: Reading) -> Any:
    """A value as the summary and the confirmations show it."""
    if f.show is not None:
        shown = f.show(value, draft, reading)
        if shown is not None:
            return shown
    if value is None:
        return ref("common.not_given")
    if f.kind in (Kind.CHOICE, Kind.CONTACT):
        opt = next((o for o in f.options if o.id == value), None)
        return ref(opt.label) if opt else value
    if f.kind == Kind.PLACE:
        prov = value.get("province")
        region = region_ref(reading.regions.region_of(prov) or CENTRAL)
        if value.get("district"):
            return ref("common.place_district", district=value["district"], province=prov, region=region)
        return ref("common.place", province=prov, region=region)
    if f.kind == Kind.DATE:
        if value.get("date"):
            return thai_date(date.fromisoformat(value["date"]))
        return value.get("text") or ref("common.not_given")
    if f.kind == Kind.MONEY:
        return ref("common.baht", amount=f"{int(value):,}")
    if f.kind == Kind.EVIDENCE:
        return evidence_count(value or [])
    return value


def evidence_count(items: list[dict[str, Any]]) -> Any:
    """Files and shared locations counted apart, as staff alerts and /tip count them (files)."""
    files = sum(1 for e in items if e.get("kind") != "location")
    places = len(items) - files
    if places:
        return ref("common.files_and_places", files=files, places=places)
    return ref("common.items", count=files)


@dataclass(slots=True)
class Walk:
    """What one answer produced: the new state, replies, and whether the volunteer confirmed or
    cancelled."""

    state: State | None = None
    replies: list[Reply] = field(default_factory=list)
    confirmed: bool = False
    cancelled: bool = False
    finished: bool = False  # the last field is answered and the form has no summary of its own
    #: the story step waits for more messages: come back with a WAKE event with this token
    wake: str | None = None


@dataclass(slots=True)
class _Work:
    """One call's working copy of a form's progress; the State it came from is never changed.

    The walker's rules read in order ("take the answer, note the message, move on"); a private
    copy lets them say so plainly, and `done` turns it back into a new frozen State.
    """

    stamp: str
    step: str | None
    draft: dict[str, Any]
    prefilled: list[str]
    history: list[str]
    answers: dict[str, str]
    from_summary: bool

    @classmethod
    def of(cls, st: State) -> _Work:
        p = st.form or Progress()
        return cls(
            stamp=st.stamp or "",
            step=p.step,
            draft=copy.deepcopy(dict(p.values)),  # evidence lists grow in place here
            prefilled=list(p.prefilled),
            history=list(p.history),
            answers=dict(p.answers),
            from_summary=p.from_summary,
        )

    def done(self, st: State) -> State:
        progress = Progress(
            step=self.step,
            values=self.draft,
            prefilled=tuple(self.prefilled),
            history=tuple(self.history),
            answers=self.answers,
            from_summary=self.from_summary,
        )
        return replace(st, form=progress)

    def take_from_summary(self) -> bool:
        was, self.from_summary = self.from_summary, False
        return was


@dataclass(slots=True)
class _At:
    """One event at one field, as the readings of `Walker._field` see it."""

    st: _Work
    f: Field
    inbound: Inbound
    value: str | None  # the tapped button's value
    word: str | None  # the typed text as a word of `bot.core.words`
    text: str
    reading: Reading
    walk: Walk


class Walker:
    def __init__(self, form: Form) -> None:
        self.form = form

    # ---- state -----------------------------------------------------------------------------------
    def fresh(self) -> Progress:
        return Progress(step=self.form.fields[0].id)

    # ---- the walker's answers, each a new State (the one given is never changed) ------------------
    def question(self, st: State, reading: Reading) -> Reply:
        return self._ask(_Work.of(st), reading)

    def told(self, st: State, text: str, message_id: str | None, reading: Reading) -> Walk:
        """The volunteer told the story up front (see `_told`); the Walk carries the new state."""
        work, walk = _Work.of(st), Walk()
        self._told(work, text, message_id, reading, walk)
        walk.state = work.done(st)
        return walk

    def answer(self, st: State, inbound: Inbound, value: str | None, reading: Reading) -> Walk:
        """One event at the current step; `value` is the tapped button's value, if any."""
        work = _Work.of(st)
        walk = self._answer(work, inbound, value, reading)
        walk.state = work.done(st)
        return walk

    def edited(self, st: State, field_id: str, text: str, reading: Reading) -> tuple[State, Field | None]:
        """A typed answer edited in the chat, read again: the new state and the field, if it took."""
        work = _Work.of(st)
        f = self._edited(work, field_id, text, reading)
        return work.done(st), f

    def unsent(self, st: State, message_id: str) -> tuple[State, bool]:
        """Forget what an unsent message gave the draft; True when it had given something."""
        work = _Work.of(st)
        changed = self._unsent(work, message_id)
        return work.done(st), changed

    # ---- inside one call: a private working copy ----------------------------------------------------

    def asks_field(self, step: Any) -> bool:
        """Whether `step` is one of the form's own fields (not a follow-up or the summary)."""
        return self.form.get(str(step)) is not None

    def _told(self, st: _Work, text: str, message_id: str | None, reading: Reading, walk: Walk) -> None:
        """The volunteer told the story up front: keep it, take what it says, ask for the rest."""
        story = self.form.narrative
        assert story is not None, self.form.id
        st.draft[story.id] = text[: story.max_length]
        if message_id:
            st.answers[message_id] = story.id
        self.prefill(text, reading, st)
        self.next(st, reading, walk, after=None)

    def prefill(self, text: str, reading: Reading, st: _Work) -> None:
        found = reading.understanding.extract(text, reading.today)
        draft, pre = st.draft, st.prefilled
        for f in self.form.fields:
            if f.prefill is None or f.id in draft:
                continue
            value = f.prefill(found)
            if value in (None, "", {}):
                continue
            draft[f.id] = value
            pre.append(f.id)

    # ---- questions ---------------------------------------------------------------------------------
    def _ask(self, st: _Work, reading: Reading) -> Reply:
        step = st.step
        if step == SUMMARY:
            return self.summary(st, reading)
        if step == EDIT_MENU:
            return self.edit_menu(st)
        if step == CANCEL_ASK:
            return Reply(
                "report.cancel_confirm",
                buttons=(
                    button("button.cancel_yes", f"{st.stamp}:{CANCEL_ASK}:yes"),
                    button("button.keep_going", f"{st.stamp}:{CANCEL_ASK}:no"),
                ),
            )
        pair = self.form.follow_up(str(step))
        if pair is not None:
            follow = pair[1]
            payload = f"{st.stamp}:{follow.id}:{follow.skip_as}"
            skip = (button(follow.skip_label, payload),) if follow.optional else ()
            return Reply(follow.ask, buttons=(*skip, *self.nav(st, follow.id, optional=False)))
        f = self.form.get(str(step))
        assert f is not None, step
        stamp = st.stamp
        draft = st.draft
        if f.id in st.prefilled and f.id in draft:
            from_map = f.kind == Kind.PLACE and bool((draft.get("location") or {}).get("guess"))
            return Reply(
                "report.place.location_confirm" if from_map else "report.confirm_prefill",
                {"field": ref(f.label), "value": show(f, draft[f.id], draft, reading)},
                buttons=(
                    button("button.yes", f"{stamp}:{f.id}:ok"),
                    button("button.change", f"{stamp}:{f.id}:change"),
                ),
            )
        if f.narrative and _STORY_BUF in draft:
            told = str(draft[_STORY_BUF])
            return Reply(
                "report.story.more",
                {
                    "length": f"{len(told):,}",
                    "max": f"{f.max_length:,}",
                    "seconds": int(reading.story_pause.total_seconds()),
                },
                buttons=(
                    button("button.story_told", f"{stamp}:{f.id}:{STORY_TOLD}"),
                    *self.nav(st, f.id, False),
                ),
            )
        if f.kind in (Kind.CHOICE, Kind.CONTACT) and not self.form.numbered:
            return Reply(f.ask, buttons=tuple(button(o.label, f"{stamp}:{f.id}:{o.id}") for o in f.options))
        if self.form.numbered:
            number = {"n": self.form.index(f.id) + 1, "total": len(self.form.fields)}
            step = self._step(f)
            offered = tuple(button(o.label, f"{stamp}:{step}:{o.id}") for o in f.options)
            return Reply(f.ask, number, buttons=(*offered, *self.nav(st, f.id, f.optional)))
        if f.kind == Kind.PLACE:
            buttons = (button("button.share_location", LOCATION_PAYLOAD), *self.nav(st, f.id, f.optional))
            return Reply(f.ask, buttons=buttons, request_location=True)
        if f.kind == Kind.EVIDENCE:
            count = len(draft.get(f.id) or [])
            buttons = (
                button("button.done" if count else "button.no_evidence", f"{stamp}:{f.id}:done"),
                *self.nav(st, f.id, optional=False),
            )
            key = "report.evid.more" if count else f.ask
            return Reply(
                key, {"count": count, "items": evidence_count(draft.get(f.id) or [])}, buttons=buttons
            )
        return Reply(f.ask, buttons=self.nav(st, f.id, f.optional))

    def _step(self, f: Field) -> str:
        """The step name a field's buttons carry."""
        return self.form.button_step or f.id

    def nav(self, st: _Work, field_id: str, optional: bool) -> tuple[Button, ...]:
        stamp = st.stamp
        f = self.form.get(field_id)
        step = self._step(f) if f is not None else field_id
        out = []
        if optional:
            skip = f or Field(field_id, Kind.TEXT, "")
            out.append(button(skip.skip_label, f"{stamp}:{step}:{skip.skip_as}"))
        if st.history and self.form.back_button:
            out.append(button("button.back", f"{stamp}:{step}:back"))
        out.append(button("button.cancel", f"{stamp}:{step}:cancel"))
        return tuple(out)

    def summary(self, st: _Work, reading: Reading) -> Reply:
        draft = st.draft
        lines = []
        for f in self.form.fields:
            value = draft.get(f.id) if f.kind != Kind.EVIDENCE else draft.get(f.id) or []
            lines.append(ref("report.summary_line", label=ref(f.label), value=show(f, value, draft, reading)))
        stamp = st.stamp
        return Reply(
            "report.summary",
            {"lines": lines},
            buttons=(
                button("button.confirm", f"{stamp}:{SUMMARY}:confirm"),
                button("button.edit", f"{stamp}:{SUMMARY}:edit"),
                button("button.cancel", f"{stamp}:{SUMMARY}:cancel"),
            ),
        )

    def edit_menu(self, st: _Work) -> Reply:
        stamp = st.stamp
        buttons = [button(f.label, f"{stamp}:{EDIT_MENU}:{f.id}") for f in self.form.fields]
        buttons.append(button("button.back", f"{stamp}:{EDIT_MENU}:back"))
        return Reply("report.edit_which", buttons=tuple(buttons[:13]))

    # ---- answers -----------------------------------------------------------------------------------
    def _answer(self, st: _Work, inbound: Inbound, value: str | None, reading: Reading) -> Walk:
        walk = Walk()
        step = str(st.step)
        text = inbound.text.strip()
        word = words.word(text) if inbound.kind == InboundKind.TEXT else None
        if step == CANCEL_ASK:
            if value == "yes" or (value is None and word in ("yes", "cancel")):
                walk.cancelled = True
                return walk
            st.step = st.draft.pop(_RESUME, None) or self.form.fields[0].id
            walk.replies.append(Reply("report.cancel_kept"))
            walk.replies.append(self._ask(st, reading))
            return walk
        if value == "cancel" or (value is None and word == "cancel"):
            if not self.form.confirm_cancel:
                walk.cancelled = True
                return walk
            st.draft[_RESUME] = step
            st.step = CANCEL_ASK
            walk.replies.append(self._ask(st, reading))
            return walk
        if value == "back" or (value is None and word == "back"):
            self.back(st, reading, walk)
            return walk
        if step == SUMMARY:
            choice = value or {"confirm": "confirm", "yes": "confirm", "edit": "edit", "no": "edit"}.get(
                word or ""
            )
            self._summary_answer(st, choice, reading, walk)
            return walk
        if step == EDIT_MENU:
            f = self.form.get(value or "")
            if f is None:
                walk.replies.append(self.edit_menu(st))
                return walk
            st.from_summary = True
            if f.id in st.prefilled:
                st.prefilled.remove(f.id)
            st.step = f.id
            walk.replies.append(self._ask(st, reading))
            return walk
        pair = self.form.follow_up(step)
        if pair is not None:
            parent, follow = pair
            if follow.optional and (value == follow.skip_as or (value is None and word in ("skip", "no"))):
                st.draft.pop(follow.id, None)
                self.next(st, reading, walk, after=parent.id)
                return walk
            answer = read(follow, text, reading)
            if answer is None:
                walk.replies.append(Reply(follow.invalid or "report.text_invalid"))
                walk.replies.append(self._ask(st, reading))
                return walk
            st.draft[follow.id] = answer
            self.next(st, reading, walk, after=parent.id)
            return walk
        f = self.form.get(step)
        assert f is not None, step
        self._field(st, f, inbound, value, word, reading, walk)
        return walk

    def _field(
        self,
        st: _Work,
        f: Field,
        inbound: Inbound,
        value: str | None,
        word: str | None,
        reading: Reading,
        walk: Walk,
    ) -> None:
        """An event at a field: the first of these readings that applies answers it."""
        at = _At(st, f, inbound, value, word, inbound.text.strip(), reading, walk)
        for handled in (
            self._not_an_answer,
            self._early_evidence,
            self._story_part,
            self._more_story,
            self._prefilled,
            self._skip,
            self._evidence_step,
            self._shared_location,
            self._told_instead,
        ):
            if handled(at):
                return
        self._take(at)

    def _not_an_answer(self, at: _At) -> bool:
        """A sticker, or the location button's label typed: ask again, changing nothing."""
        typed_button = at.f.kind == Kind.PLACE and at.word == "location" and at.value is None
        if at.inbound.kind in (InboundKind.STICKER, InboundKind.FOLLOW) or typed_button:
            at.walk.replies.append(self._ask(at.st, at.reading))
            return True
        return False

    def _early_evidence(self, at: _At) -> bool:
        """Evidence sent early is kept for the evidence step rather than lost; it answers nothing,
        so a prefilled value waiting for confirmation stays as it is."""
        inbound = at.inbound
        if inbound.kind != InboundKind.MEDIA or inbound.media is None or at.f.kind == Kind.EVIDENCE:
            return False
        if inbound.media.attachment_id is not None and (evid := self._evidence_field()) is not None:
            self._add_evidence(inbound, at.st.draft, evid)
            at.walk.replies.append(Reply("report.evid.kept_early"))
        at.walk.replies.append(self._ask(at.st, at.reading))
        return True

    def _story_part(self, at: _At) -> bool:
        """At the story step (when a pause is set) each typed message joins the story told so
        far; the next question comes when the volunteer says it is all told (button or words)
        or when the pause passes without a new message (a WAKE event with the latest token)."""
        st, f, inbound = at.st, at.f, at.inbound
        if not f.narrative or at.reading.story_pause <= timedelta(0):
            return False
        told = at.value == STORY_TOLD or (at.value is None and at.word == "done")
        if inbound.kind == InboundKind.WAKE:
            if _STORY_BUF not in st.draft or st.draft.get(_STORY_WAKE) != inbound.text:
                return True  # an earlier pause, overtaken by a later message or by "told": nothing
            told = True
        if told:
            if _STORY_BUF not in st.draft:
                at.walk.replies.append(self._ask(st, at.reading))  # nothing told yet: ask for it
                return True
            story = str(st.draft[_STORY_BUF])
            if self._read(f, story, at.reading) is None:
                # too short to be a story yet: say so and keep what was told, waiting for more
                at.walk.replies.append(
                    Reply("report.text_invalid", {"field": ref(f.label), "min": f.min_length})
                )
                at.walk.replies.append(self._ask(st, at.reading))
                return True
            st.draft.pop(_STORY_BUF)
            st.draft.pop(_STORY_WAKE, None)
            self._take(_At(st, f, inbound, None, None, story, at.reading, at.walk))
            return True
        if at.value is not None or inbound.kind != InboundKind.TEXT or not at.text:
            return False
        if len(at.text) > f.max_length:
            return False  # refused whole with its limit by the ordinary reading
        so_far = st.draft.get(_STORY_BUF)
        joined = at.text if so_far is None else f"{so_far}\n{at.text}"
        if len(joined) > f.max_length:
            left = max(f.max_length - len(str(so_far)) - 1, 0)
            at.walk.replies.append(
                Reply("report.story.full", {"max": f"{f.max_length:,}", "left": f"{left:,}"})
            )
            at.walk.replies.append(self._ask(st, at.reading))
            return True
        st.draft[_STORY_BUF] = joined
        st.draft[_STORY_WAKE] = inbound.event_id
        if inbound.message_id:
            st.answers[inbound.message_id] = f.id
        at.walk.wake = inbound.event_id
        at.walk.replies.append(self._ask(st, at.reading))
        return True

    def _more_story(self, at: _At) -> bool:
        """A long message right after the story is more of the story (a volunteer who split it
        into several messages), not the answer to the next question: it joins the story."""
        story, st, text = self.form.narrative, at.st, at.text
        if (
            story is None
            or at.value is not None
            or at.inbound.kind != InboundKind.TEXT
            # right after the story: it was the last answer, or the first message told it
            or (st.history and st.history[-1] != story.id)
            or story.id not in st.draft
            or not (len(text) > MORE_STORY_CHARS or len(text) > at.f.max_length)
        ):
            return False
        joined = f"{st.draft[story.id]}\n{text}"
        if len(joined) > story.max_length:
            left = max(story.max_length - len(st.draft[story.id]) - 1, 0)
            at.walk.replies.append(
                Reply("report.story.full", {"max": f"{story.max_length:,}", "left": f"{left:,}"})
            )
            at.walk.replies.append(self._ask(st, at.reading))
            return True
        st.draft[story.id] = joined
        if at.inbound.message_id:
            st.answers[at.inbound.message_id] = story.id
        self.prefill(text, at.reading, st)
        at.walk.replies.append(
            Reply("report.story.added", {"length": f"{len(joined):,}", "max": f"{story.max_length:,}"})
        )
        at.walk.replies.append(self._ask(st, at.reading))
        return True

    def _prefilled(self, at: _At) -> bool:
        """A value taken from an earlier message waits for "yes" or "change"."""
        st, f, draft = at.st, at.f, at.st.draft
        if f.id not in st.prefilled or f.id not in draft:
            return False
        st.prefilled.remove(f.id)
        if at.value == "ok" or (at.value is None and at.word == "yes"):
            # a value read from the story gets the same note as one chosen (e.g. where vote-buying goes)
            if f.note is not None and (note := f.note(draft.get(f.id))) is not None:
                at.walk.replies.append(Reply(note[0], note[1]))
            self.next(st, at.reading, at.walk, after=f.id)
            return True
        draft.pop(f.id, None)
        if at.value == "change" or (at.value is None and at.word in ("no", "edit")):
            at.walk.replies.append(self._ask(st, at.reading))
            return True
        return False  # anything else typed is a new answer to the field

    def _skip(self, at: _At) -> bool:
        st, f, draft = at.st, at.f, at.st.draft
        if not (
            at.value == f.skip_as or (at.value is None and at.word == f.skip_as and f.kind != Kind.EVIDENCE)
        ):
            return False
        if not f.optional:
            at.walk.replies.append(Reply(f.required, {"field": ref(f.label)}))
            at.walk.replies.append(self._ask(st, at.reading))
            return True
        draft.pop(f.id, None)
        if self.form.summary:
            draft.setdefault("skipped", [])
            if f.id not in draft["skipped"]:
                draft["skipped"].append(f.id)
        else:
            draft[f.id] = None  # the record says "not given" in so many words
        self.next(st, at.reading, at.walk, after=f.id)
        return True

    def _evidence_step(self, at: _At) -> bool:
        if at.f.kind != Kind.EVIDENCE:
            return False
        self._evidence(at.st, at.f, at.inbound, at.value, at.word, at.reading, at.walk)
        return True

    def _shared_location(self, at: _At) -> bool:
        """A shared location at the place question: kept, and its address read as a guess to confirm."""
        st, f, inbound = at.st, at.f, at.inbound
        if inbound.kind != InboundKind.LOCATION or inbound.location is None or f.kind != Kind.PLACE:
            return False
        loc = inbound.location
        draft = st.draft
        draft["location"] = {
            "lat": loc.latitude,
            "lon": loc.longitude,
            "title": loc.title,
            "address": loc.address,
        }
        found = at.reading.understanding.parse_province(" ".join(x for x in (loc.address, loc.title) if x))
        if found is None:
            # no usable address: the coordinates themselves, against the offline gazetteer
            found = at.reading.understanding.locate(loc.latitude, loc.longitude)
            draft["location"]["guess"] = found is not None
        if found is None:
            at.walk.replies.append(Reply("report.place.location_kept"))
            at.walk.replies.append(Reply("report.place.ask_typed", buttons=self.nav(st, f.id, f.optional)))
            return True
        draft[f.id] = {"province": found[0], "district": found[1]}
        st.prefilled.append(f.id)  # a guess from the address or the map: confirm it
        at.walk.replies.append(self._ask(st, at.reading))
        return True

    def _told_instead(self, at: _At) -> bool:
        """The volunteer told the story instead of picking: keep it, take what it already says,
        and only ask for (or confirm) the rest."""
        story, text = self.form.narrative, at.text
        if (
            at.f.kind == Kind.CHOICE
            and at.value is None
            and story is not None
            and story.id not in at.st.draft
            and meaningful(text)
            and len(text) >= 15
            and self._read(at.f, text, at.reading) is None
        ):
            self._told(at.st, text, at.inbound.message_id, at.reading, at.walk)
            return True
        return False

    def _take(self, at: _At) -> None:
        """The answer itself: read it, say what was understood, then the follow-up or the next field."""
        st, f, value, reading, walk = at.st, at.f, at.value, at.reading, at.walk
        draft = st.draft
        answer = value if value is not None else at.text
        taken = self.accept(f, answer, tapped=value is not None, reading=reading, st=st)
        if taken is not True:
            if isinstance(taken, Invalid):
                walk.replies.append(Reply(taken.key, taken.params))
            else:
                invalid = f.invalid or (
                    "report.text_invalid" if f.kind == Kind.TEXT else f"{self.form.id}.{f.id}.invalid"
                )
                walk.replies.append(Reply(invalid, {"field": ref(f.label), "min": f.min_length}))
            walk.replies.append(self._ask(st, reading))
            return
        if at.inbound.message_id and value is None:
            st.answers[at.inbound.message_id] = f.id
        if value is None and f.kind in (Kind.PLACE, Kind.DATE, Kind.MONEY):
            # Show what was understood from the typed words, so a misreading is caught at once.
            shown = show(f, draft[f.id], draft, reading)
            walk.replies.append(Reply("report.understood", {"field": ref(f.label), "value": shown}))
        if f.rereads:
            # Any free text may already say where, when or how much: take it, confirm it later.
            self.prefill(at.text, reading, st)
        if f.note is not None and (note := f.note(draft.get(f.id))) is not None:
            walk.replies.append(Reply(note[0], note[1]))
        if f.follow_up is not None and draft.get(f.id) == f.when:
            st.history.append(f.id)
            st.step = f.follow_up.id
            walk.replies.append(self._ask(st, reading))
            return
        self.next(st, reading, walk, after=f.id)

    def _read(self, f: Field, answer: str, reading: Reading) -> Any:
        return (f.parse or read)(f, answer, reading)

    def accept(self, f: Field, answer: str, *, tapped: bool, reading: Reading, st: _Work) -> bool | Invalid:
        """Read an answer into the draft; False (or why) when it is not a valid answer."""
        if f.kind in (Kind.CHOICE, Kind.CONTACT):
            chosen = answer if answer in [o.id for o in f.options] else None
            if chosen is None and not tapped:
                chosen = self._read(f, answer, reading)
        elif f.kind == Kind.EVIDENCE:
            chosen = None
        else:
            # a button offered beside typing answers as its id would, typed
            chosen = self._read(f, answer, reading)
        if isinstance(chosen, Invalid):
            return chosen
        if chosen is None:
            return False
        st.draft[f.id] = chosen
        return True

    def _evidence_field(self) -> Field | None:
        return next((f for f in self.form.fields if f.kind == Kind.EVIDENCE), None)

    def _evidence(
        self,
        st: _Work,
        f: Field,
        inbound: Inbound,
        value: str | None,
        word: str | None,
        reading: Reading,
        walk: Walk,
    ) -> None:
        draft = st.draft
        if value == "done" or word in ("done", "skip", "no"):
            self.next(st, reading, walk, after=f.id)
            return
        if inbound.kind == InboundKind.MEDIA and inbound.media is not None:
            # No attachment: the download failed and the dispatcher already said why (too
            # large, gone); one explanation is enough, so only the question follows.
            self._add_evidence(inbound, draft, f)
            walk.replies.append(self._ask(st, reading))
            return
        if inbound.kind == InboundKind.LOCATION and inbound.location is not None:
            loc = inbound.location
            draft.setdefault(f.id, []).append(
                {"kind": "location", "lat": loc.latitude, "lon": loc.longitude, "msg": inbound.message_id}
            )
            walk.replies.append(self._ask(st, reading))
            return
        # the hint names the button the question shows: เสร็จแล้ว once something came, else ไม่มีหลักฐาน
        walk.replies.append(Reply("report.evid.how" if draft.get(f.id) else "report.evid.how_none"))
        walk.replies.append(self._ask(st, reading))

    @staticmethod
    def _add_evidence(inbound: Inbound, draft: dict[str, Any], f: Field) -> None:
        assert inbound.media is not None
        if inbound.media.attachment_id is None:
            return
        draft.setdefault(f.id, []).append(
            {"kind": inbound.media.kind, "id": inbound.media.attachment_id, "msg": inbound.message_id}
        )

    # ---- moving ------------------------------------------------------------------------------------
    def next(self, st: _Work, reading: Reading, walk: Walk, after: str | None) -> None:
        """Move to the next field that still needs an answer or a confirmation."""
        if after is not None:
            st.history.append(after)
        if st.take_from_summary():
            st.step = SUMMARY
            walk.replies.append(self._ask(st, reading))
            return
        draft = st.draft
        start = 0 if after is None else self.form.index(after) + 1
        for f in self.form.fields[start:]:
            if f.id in draft and f.id not in st.prefilled and f.kind != Kind.EVIDENCE:
                continue
            # Evidence sent early does not answer the evidence step: it is still asked (showing
            # what was received), so more can be added.
            st.step = f.id
            walk.replies.append(self._ask(st, reading))
            return
        st.step = SUMMARY
        if self.form.summary:
            walk.replies.append(self._ask(st, reading))
        else:
            walk.finished = True

    def back(self, st: _Work, reading: Reading, walk: Walk) -> None:
        history = st.history or []
        if not history:
            walk.replies.append(Reply("report.no_back"))
            walk.replies.append(self._ask(st, reading))
            return
        prev = history.pop()
        st.step = prev
        if prev in st.draft and prev not in st.prefilled:
            st.draft.pop(prev, None)
        walk.replies.append(self._ask(st, reading))

    def _summary_answer(self, st: _Work, choice: str | None, reading: Reading, walk: Walk) -> None:
        if choice == "edit":
            st.step = EDIT_MENU
            walk.replies.append(self.edit_menu(st))
            return
        if choice != "confirm":
            walk.replies.append(Reply("report.summary_hint"))
            walk.replies.append(self.summary(st, reading))
            return
        walk.confirmed = True

    # ---- taking back -------------------------------------------------------------------------------
    def _edited(self, st: _Work, field_id: str, text: str, reading: Reading) -> Field | None:
        """A typed answer the volunteer edited in their chat: read it again; the field, if it took."""
        f = self.form.get(field_id)
        if f is None or f.kind not in (Kind.TEXT, Kind.DATE, Kind.MONEY, Kind.PLACE):
            return None
        return f if self.accept(f, text, tapped=False, reading=reading, st=st) is True else None

    def _unsent(self, st: _Work, message_id: str) -> bool:
        """Forget what an unsent message gave the draft (an answer, a file); True when it had."""
        draft = st.draft
        changed = False
        for f in self.form.fields:
            if f.kind != Kind.EVIDENCE:
                continue
            for item in list(draft.get(f.id) or []):
                if item.get("msg") == message_id:
                    draft[f.id].remove(item)
                    changed = True
        answered = st.answers.get(message_id)
        answered_field = self.form.get(answered or "")
        if (
            answered
            and answered in draft
            and (answered_field is None or answered_field.kind != Kind.EVIDENCE)
        ):
            draft.pop(answered, None)
            changed = True
        return changed
