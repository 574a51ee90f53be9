"""The pieces of the organizer's notice form: Thai dates and times ahead, audiences, one chat per
volunteer, and the form's navigation."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.compose import choose, parse_audience, parse_command
from bot.core.effects import CreateBroadcast, PreviewBroadcast
from bot.core.engine import Context, Engine, Turn
from bot.core.model import Audience, AudienceMember, Inbound, InboundKind, StaffChatRecord
from bot.core.routing import RegionTable
from bot.core.state import Flow, State
from bot.core.understanding import ThaiUnderstanding
from bot.thai.when import parse_when

TODAY = date(2026, 11, 23)  # a Monday
REGIONS = RegionTable.load()
U = ThaiUnderstanding(REGIONS)


@pytest.mark.parametrize(
    ("text", "day", "clock"),
    [
        ("๑๕ ธ.ค. ๖๙ เวลา ๑๓.๓๐ น.", date(2026, 12, 15), (13, 30)),
        ("15/12/2569 13:30", date(2026, 12, 15), (13, 30)),
        ("2026-12-01 08:30", date(2026, 12, 1), (8, 30)),
        ("3 ม.ค. 9:00", date(2027, 1, 3), (9, 0)),  # no year: the next 3 January
        ("พรุ่งนี้ บ่ายสองโมง", date(2026, 11, 24), (14, 0)),
        ("มะรืนนี้ สองทุ่ม", date(2026, 11, 25), (20, 0)),
        ("วันศุกร์หน้า 9 โมงเช้า", date(2026, 11, 27), (9, 0)),
        ("วันจันทร์หน้า เที่ยง", date(2026, 11, 30), (12, 0)),
        ("อีก 3 วัน 14 น.", date(2026, 11, 26), (14, 0)),
        ("15 ธันวาคม 2569 บ่ายโมงครึ่ง", date(2026, 12, 15), (13, 30)),
        ("บ่ายสาม", None, (15, 0)),
        ("ยังไม่แน่ใจ", None, None),
    ],
)
def test_dates_and_times_ahead(text: str, day: date | None, clock: tuple[int, int] | None) -> None:
    assert parse_when(text, TODAY) == (day, clock)


@given(st.text(max_size=60))
def test_any_text_gives_a_future_day_or_none(text: str) -> None:
    day, clock = parse_when(text, TODAY)
    assert day is None or day >= TODAY
    assert clock is None or (0 <= clock[0] < 24 and 0 <= clock[1] < 60)


def test_audiences() -> None:
    assert parse_audience("ทุกคน", U, regions=REGIONS) == (Audience(), [])
    assert parse_audience("เขต ๓", U, regions=REGIONS) == (Audience(regions=("3",)), [])
    audience, unknown = parse_audience("เขต 3 และ โคราช, จ.บุรีรัมย์", U, regions=REGIONS)
    assert audience == Audience(regions=("3",), provinces=("นครราชสีมา", "บุรีรัมย์")) and unknown == []
    assert parse_audience("สุรินทร์ ดาวอังคาร", U, regions=REGIONS)[1] == ["ดาวอังคาร"]
    assert parse_audience("อะไรก็ได้", U, regions=REGIONS)[0] is None


def test_one_chat_per_volunteer() -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    members = [
        AudienceMember(1, "line", "th", "p1", now - timedelta(hours=1)),
        AudienceMember(2, "telegram", "th", "p1", now - timedelta(hours=5)),
        AudienceMember(3, "line", "th", "c3", now),
    ]
    assert [m.contact_id for m in choose(members)] == [1, 3]  # the chat used last
    assert [m.contact_id for m in choose(members, avoid=("line",))] == [2, 3]  # spare the LINE quota


def test_commands() -> None:
    assert parse_command("/broadcast").action == "compose"  # type: ignore[union-attr]
    assert parse_command("/broadcast report #12") == parse_command("/ประกาศ รายงาน 12")
    assert parse_command("/broadcast cancel x").action == "help"  # type: ignore[union-attr]
    assert parse_command("ประกาศ") is None


def organizer_turn(engine: Engine, state: State, text: str | None, value: str | None, now: datetime) -> Turn:
    """One organizer event: typed text, or a tap of the notice form's button with `value`."""
    ctx = Context(
        now=now,
        today=now.date(),
        entropy=random.Random(7).randbytes,
        contact=None,
        staff=StaffChatRecord(1, "webchat", "org", "3", "organizer", True),
        my_tips=(),
        regions=REGIONS,
        understanding=U,
    )
    if value is not None:
        inbound = Inbound("webchat", "org", InboundKind.BUTTON, "e", now, button=f"{state.stamp}:bc:{value}")
    else:
        inbound = Inbound("webchat", "org", InboundKind.TEXT, "e", now, text=text or "")
    return engine.advance(state, inbound, ctx)


def test_the_form_walks_back_skips_and_ends_in_a_preview() -> None:
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    engine = Engine()
    state = organizer_turn(engine, State(), "/broadcast", None, now).state
    answers = [
        ("อบรม", None),
        ("พรุ่งนี้", None),  # a day without a time is asked again
        ("พรุ่งนี้ 9 โมงเช้า", None),
        (None, "back"),  # back to the time
        ("พรุ่งนี้ บ่ายโมง", None),
        (None, "skip"),  # no place
        ("รายละเอียด", None),
        ("เขต 3", None),
        (None, "rsvp_on"),
    ]
    for text, value in answers:
        turn = organizer_turn(engine, state, text, value, now)
        state = turn.state
        assert state.flow == Flow.NOTICE and not turn.effects
    assert state.step == "send_at"
    preview = organizer_turn(engine, state, None, "now", now)
    [effect] = preview.effects
    assert isinstance(effect, PreviewBroadcast)
    assert effect.draft["when"] == "2026-11-24T06:00:00+00:00"  # 13:00 Thai time
    assert effect.draft["place"] is None and effect.draft["rsvp"] is True and effect.draft["send_at"] is None
    done = organizer_turn(engine, preview.state, None, "confirm", now)
    assert done.state.flow == Flow.MENU and isinstance(done.effects[0], CreateBroadcast)


def test_a_notice_stored_before_the_form_walker_carries_on() -> None:
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    old = {"flow": "broadcast", "stamp": "abc123", "bc_step": "rsvp", "bc": {"title": "อบรม", "when": None}}
    turn = organizer_turn(Engine(), State.from_dict(old), None, "rsvp_off", now)
    assert (
        turn.state.step == "send_at"
        and turn.state.form is not None
        and turn.state.form.values["rsvp"] is False
    )
    assert turn.replies[-1].key == "broadcast.ask.send"
