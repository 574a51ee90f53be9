"""The conversation state: a frozen value that survives the database and older stored shapes."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from bot.core.engine import Engine
from bot.core.state import (
    Flow,
    JoinGuard,
    OrganizerQuestion,
    Progress,
    StaffQuestion,
    State,
    Submitted,
)
from tests.test_engine import buttons, ctx, say, tap

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)

names = st.text(min_size=1, max_size=12)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
progress = st.builds(
    Progress,
    step=st.none() | names,
    values=st.dictionaries(names, json, max_size=4),
    prefilled=st.lists(names, max_size=3).map(tuple),
    history=st.lists(names, max_size=3).map(tuple),
    answers=st.dictionaries(names, names, max_size=3),
    from_summary=st.booleans(),
)
states = st.builds(
    State,
    flow=st.none() | st.sampled_from(Flow),
    stamp=st.none() | names,
    form=st.none() | progress,
    draft_id=st.none() | names,
    touched=st.none() | moments,
    resume_step=st.none() | names,
    last_submitted=st.none()
    | st.builds(
        Submitted,
        stamp=st.none() | names,
        case_code=st.none() | names,
        draft_id=st.none() | names,
        answers=st.dictionaries(names, names, max_size=3),
    ),
    question=st.none() | st.builds(StaffQuestion, code=names, staff=st.integers(1, 10**6)),
    organizer_question=st.none() | st.builds(OrganizerQuestion, notice=st.integers(1, 10**6), at=moments),
    join_guard=st.none()
    | st.builds(JoinGuard, fails=st.lists(moments, max_size=4).map(tuple), until=st.none() | moments),
)


@given(states)
def test_a_state_survives_the_database(s: State) -> None:
    assert State.from_dict(s.to_dict()) == s


def test_older_stored_shapes_load() -> None:
    # a notice composed before the form walker ran it
    notice = State.from_dict(
        {"flow": "broadcast", "stamp": "abc123", "bc_step": "confirm", "bc": {"title": "อบรม", "rsvp": True}}
    )
    assert notice.flow == Flow.NOTICE and notice.step == "sum"
    assert notice.form is not None and notice.form.values == {"title": "อบรม", "rsvp": True}
    assert notice.form.history == ("title", "rsvp")
    assert State.from_dict({"bc_step": "send", "bc": {}}).step == "send_at"
    # a draft without the keys added later, a tip sent before answers were remembered
    old = State.from_dict(
        {
            "flow": "report",
            "stamp": "0a0b0c",
            "step": "agency",
            "draft": {"story": "..."},
            "touched": NOW.isoformat(),
            "last_submitted": {"stamp": "111111", "case_code": "AB12-CD34"},
            "join_guard": {"fails": [NOW.isoformat()], "until": None},
            "bc_question": {"id": 7, "at": NOW.isoformat()},
            "question": {"code": "AB12-CD34", "staff": "3"},
        }
    )
    assert old.form == Progress(step="agency", values={"story": "..."})
    assert old.touched == NOW
    assert old.last_submitted == Submitted("111111", "AB12-CD34", None, {})
    assert old.join_guard == JoinGuard((NOW,), None)
    assert old.organizer_question == OrganizerQuestion(7, NOW)
    assert old.question == StaffQuestion("AB12-CD34", 3)
    # menus, empty rows, unknown flows and values of the wrong type
    assert State.from_dict({}) == State() and State().empty
    assert State.from_dict({"flow": "menu", "stamp": "000000"}) == State(Flow.MENU, "000000")
    assert State.from_dict({"flow": "no-such-flow"}).flow is None
    broken = State.from_dict({"flow": "report", "step": "x", "draft": 7, "touched": "soon", "history": "a"})
    assert broken.form == Progress(step="x") and broken.touched is None


def test_advancing_never_changes_the_state_given() -> None:
    engine = Engine()
    turn = engine.advance(State(Flow.MENU, "000000"), tap("g:report"), ctx())
    seen: list[State] = []
    steps = (tap(buttons(turn)["category.bribery"]), say("เจ้าหน้าที่เรียกเงินใต้โต๊ะ 5000 บาท ที่สุรินทร์"))
    for inbound in steps:
        before = turn.state
        snapshot = copy.deepcopy(before.to_dict())
        turn = engine.advance(before, inbound, ctx())
        assert before.to_dict() == snapshot  # nothing of it (nor of its draft) was changed
        assert turn.state is not before
        seen.append(turn.state)
    assert seen[0] != seen[1]
