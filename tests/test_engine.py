"""The engine alone: a pure function, tested without storage, clock or platform."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core import casecode
from bot.core.effects import Consent, ForgetMe, JoinStaff, SubmitTip
from bot.core.engine import Context, Engine, Turn, parse_payload
from bot.core.model import ContactRecord, Inbound, InboundKind
from bot.core.routing import RegionTable
from bot.core.state import Flow, State
from bot.core.understanding import ThaiUnderstanding

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
REGIONS = RegionTable.load()
UNDERSTANDING = ThaiUnderstanding(REGIONS)
ENGINE = Engine()
CONSENTED = ContactRecord(1, "webchat", "th", NOW, None, False, True)


def ctx(contact: ContactRecord | None = CONSENTED, seed: int = 1, now: datetime = NOW) -> Context:
    rnd = random.Random(seed)
    return Context(
        now=now,
        today=now.date(),
        entropy=rnd.randbytes,
        contact=contact,
        staff=None,
        my_tips=(),
        regions=REGIONS,
        understanding=UNDERSTANDING,
    )


def say(text: str, kind: InboundKind = InboundKind.TEXT, chat_kind: Any = "private") -> Inbound:
    return Inbound("webchat", "c1", kind, "e", NOW, chat_kind=chat_kind, text=text)


def tap(payload: str) -> Inbound:
    return Inbound("webchat", "c1", InboundKind.BUTTON, "e", NOW, button=payload)


def buttons(turn: Turn) -> dict[str, str]:
    return {b.label: b.payload for r in turn.replies for b in r.buttons}


def test_first_contact_asks_for_consent_and_decline_keeps_nothing() -> None:
    turn = ENGINE.advance(State(), say("สวัสดี"), ctx(contact=None))
    assert [r.key for r in turn.replies] == ["onboarding.welcome", "onboarding.consent"]
    decline = buttons(turn)["button.decline"]
    turn2 = ENGINE.advance(turn.state, tap(decline), ctx(contact=None))
    assert any(isinstance(e, ForgetMe) for e in turn2.effects)
    assert turn2.save is False


def test_consent_accept() -> None:
    turn = ENGINE.advance(State(), say("สวัสดี"), ctx(contact=None))
    turn2 = ENGINE.advance(turn.state, tap(buttons(turn)["button.accept"]), ctx(contact=None))
    assert Consent(True) in turn2.effects
    assert turn2.replies[-1].key == "onboarding.home_province"


def test_groups_answer_only_join_and_staff_commands() -> None:
    assert ENGINE.advance(State(), say("สวัสดีครับ", chat_kind="group"), ctx()).replies == []
    turn = ENGINE.advance(State(), say("/join JOIN-ACDEF-GHJKM", chat_kind="group"), ctx())
    assert turn.effects == [JoinStaff("JOIN-ACDEF-GHJKM")]
    assert (
        ENGINE.advance(State(), say("", InboundKind.JOINED_GROUP, "group"), ctx()).replies[0].key
        == "staff.group_hint"
    )


def walk_to_summary() -> Turn:
    turn = ENGINE.advance(State(Flow.MENU, "000000"), tap("g:report"), ctx())
    turn = ENGINE.advance(turn.state, tap(buttons(turn)["category.bribery"]), ctx())
    for answer in ("เจ้าหน้าที่เรียกเงินสองพันบาทเพื่อออกใบอนุญาต", "ข้าม"):
        turn = ENGINE.advance(turn.state, say(answer), ctx())
    while turn.state.step != "sum":
        b = buttons(turn)
        choice = (
            b.get("button.yes")
            or b.get("button.skip")
            or b.get("button.no_evidence")
            or b.get("report.contact.no")
        )
        if choice is None and turn.state.step == "place":
            turn = ENGINE.advance(turn.state, say("สุรินทร์"), ctx())
            continue
        assert choice is not None, (turn.state.step, b)
        turn = ENGINE.advance(turn.state, tap(choice), ctx())
    return turn


def test_confirm_submits_once_and_a_second_tap_is_told_it_was_sent() -> None:
    summary = walk_to_summary()
    confirm = buttons(summary)["button.confirm"]
    done = ENGINE.advance(summary.state, tap(confirm), ctx(seed=2))
    submits = [e for e in done.effects if isinstance(e, SubmitTip)]
    assert len(submits) == 1
    assert submits[0].tip.region == "3" and submits[0].tip.province == "สุรินทร์"
    assert casecode.find(submits[0].tip.case_code) == submits[0].tip.case_code
    again = ENGINE.advance(done.state, tap(confirm), ctx(seed=3))
    assert not any(isinstance(e, SubmitTip) for e in again.effects)
    assert again.replies[0].key == "report.already_sent"


def test_buttons_of_an_old_draft_are_refused() -> None:
    summary = walk_to_summary()
    asked = ENGINE.advance(summary.state, say("ยกเลิก"), ctx())
    assert asked.replies[0].key == "report.cancel_confirm"
    assert not asked.state.empty and asked.state.flow == Flow.REPORT  # nothing discarded yet
    cancel = ENGINE.advance(asked.state, say("ยืนยันยกเลิก"), ctx())
    assert cancel.replies[0].key == "report.cancelled"
    stale = ENGINE.advance(cancel.state, tap(buttons(summary)["button.confirm"]), ctx())
    assert stale.replies[0].key == "common.stale_button"
    assert not any(isinstance(e, SubmitTip) for e in stale.effects)


def test_idle_draft_asks_to_continue() -> None:
    turn = ENGINE.advance(State(Flow.MENU, "000000"), tap("g:report"), ctx())
    later = ctx(now=NOW + timedelta(days=2))
    turn2 = ENGINE.advance(turn.state, say("ข้อความหลังจากหายไปนาน"), later)
    assert turn2.replies[0].key == "report.expired"


def test_the_engine_is_deterministic() -> None:
    a = walk_to_summary()
    b = walk_to_summary()
    assert a.state == b.state and a.replies == b.replies


def test_payloads_fit_telegram_callback_data() -> None:
    summary = walk_to_summary()
    for payload in buttons(summary).values():
        assert len(payload.encode()) <= 64
        assert parse_payload(payload) is not None


texts = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        ["ยกเลิก", "ย้อนกลับ", "ข้าม", "เมนู", "ช่วยเหลือ", "สถานะ", "ใช่", "1", "13", "/join x", "/lang en"]
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.booleans(), texts, st.integers(0, 20)), max_size=25))
def test_no_input_sequence_crashes_the_engine(steps: list[tuple[bool, str, int]]) -> None:
    state = State(Flow.MENU, "000000")
    last: dict[str, str] = {}
    for i, (press, text, pick) in enumerate(steps):
        inbound = tap(sorted(last.values())[pick % len(last)]) if press and last else say(text)
        c = replace(ctx(seed=i), today=date(2026, 11, 23))
        turn = ENGINE.advance(state, inbound, c)
        assert turn.replies or turn.effects or turn.save
        state = turn.state
        last = buttons(turn) or last
