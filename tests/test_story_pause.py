"""The story step's pause, in the pure engine: each message joins the story and asks for a WAKE;
only the latest WAKE (or "เล่าจบแล้ว") moves on; an earlier WAKE changes nothing and says nothing."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from bot.core.effects import WakeLater
from bot.core.engine import Context, Turn
from bot.core.model import Inbound, InboundKind
from bot.core.state import State
from bot.settings import Settings
from tests.drivers import console_driver
from tests.harness import FakeClock, Runner
from tests.test_engine import ENGINE, NOW, ctx

PAUSE = timedelta(seconds=20)


def pctx(pause: timedelta = PAUSE) -> Context:
    return replace(ctx(), entropy=random.Random(7).randbytes, story_pause=pause)


def event(kind: InboundKind, text: str = "", event_id: str = "e", button: str | None = None) -> Inbound:
    return Inbound("webchat", "c1", kind, event_id, NOW, text=text, button=button, message_id=event_id)


def at_story(pause: timedelta = PAUSE) -> State:
    turn = ENGINE.advance(State(), event(InboundKind.TEXT, "แจ้งเบาะแส"), pctx(pause))
    category = next(b.payload for r in turn.replies for b in r.buttons if b.payload.endswith(":bribery"))
    turn = ENGINE.advance(turn.state, event(InboundKind.BUTTON, button=category), pctx(pause))
    assert turn.replies[-1].key == "report.story.ask", [r.key for r in turn.replies]
    return turn.state


def say(st: State, text: str, event_id: str, pause: timedelta = PAUSE) -> Turn:
    return ENGINE.advance(st, event(InboundKind.TEXT, text, event_id), pctx(pause))


def wake(st: State, token: str) -> Turn:
    return ENGINE.advance(st, event(InboundKind.WAKE, token, f"wake:{token}"), pctx())


def test_parts_join_and_only_the_latest_pause_moves_on() -> None:
    st = at_story()
    one = say(st, "เจ้าหน้าที่เรียกเงินค่าออกใบอนุญาต", "m1")
    assert one.effects == [WakeLater(PAUSE, "m1")]
    assert [r.key for r in one.replies] == ["report.story.more"]
    two = say(one.state, "สามพันบาทที่เทศบาล", "m2")
    assert two.effects == [WakeLater(PAUSE, "m2")]
    stale = wake(two.state, "m1")
    assert stale.replies == [] and stale.effects == []
    assert stale.state.form == two.state.form  # nothing changed
    done = wake(two.state, "m2")
    assert done.state.form is not None
    assert done.state.form.values["story"] == "เจ้าหน้าที่เรียกเงินค่าออกใบอนุญาต\nสามพันบาทที่เทศบาล"
    assert done.state.step != "story"
    assert [r.key for r in done.replies][-1] != "report.story.more"
    # both messages answered the story: unsending either reaches it
    assert done.state.form.answers["m1"] == done.state.form.answers["m2"] == "story"


def test_told_typed_moves_on_at_once_and_a_later_pause_is_silent() -> None:
    one = say(at_story(), "เจ้าหน้าที่เรียกเงินค่าออกใบอนุญาตสามพันบาท", "m1")
    told = say(one.state, "เล่าจบแล้วครับ", "m2")
    assert told.state.step != "story" and told.effects == []
    late = wake(told.state, "m1")
    assert late.replies == [] and late.state.form == told.state.form


def test_a_part_over_the_limit_is_refused_with_the_room_left() -> None:
    one = say(at_story(), "ก" * 7000, "m1")
    over = say(one.state, "ข" * 1500, "m2")
    assert [r.key for r in over.replies] == ["report.story.full", "report.story.more"]
    assert over.replies[0].params["left"] == "999"
    assert over.effects == []  # the pause of the earlier part still stands
    assert over.state.form == one.state.form


def test_a_story_too_short_when_told_is_kept_and_more_is_asked() -> None:
    one = say(at_story(), "โกง", "m1")
    told = say(one.state, "เล่าจบแล้ว", "m2")
    assert [r.key for r in told.replies] == ["report.text_invalid", "report.story.more"]
    assert told.state.step == "story"
    more = say(told.state, "เบิกค่าอาหารกลางวันเกินจริง", "m3")
    assert more.state.form is not None
    assert more.state.form.values["_story_parts"] == "โกง\nเบิกค่าอาหารกลางวันเกินจริง"


def test_without_a_pause_the_story_is_taken_at_once() -> None:
    turn = say(at_story(timedelta(0)), "เจ้าหน้าที่เรียกเงินค่าออกใบอนุญาตสามพันบาท", "m1", timedelta(0))
    assert turn.effects == [] and turn.state.step != "story"


async def test_a_pause_survives_a_restart(settings: Settings, tmp_path: Path) -> None:
    """The WAKE waits in the inbox: an app started after the first one stopped asks the next
    question once the pause has passed, and the story told before the restart is whole."""
    settings = settings.model_copy(update={"story_pause": PAUSE})
    clock = FakeClock()
    async with console_driver(settings, clock, tmp_path) as first:
        runner = Runner(first, clock)
        for line in ("> สวัสดี", "> [ยินยอม]", "> [ข้าม]", "> [แจ้งเบาะแส]", "> [เรียกรับสินบน]"):
            await runner.step(line)
        await runner.step("> เจ้าหน้าที่เรียกเงินค่าออกใบอนุญาตสามพันบาท")
        await runner.step("< ได้รับแล้ว")
        await runner.step("<! เกิดที่หน่วยงานไหน")
    clock.offset += PAUSE + timedelta(seconds=5)
    async with console_driver(settings, clock, tmp_path) as second:
        await second.services.settle()
        shown = [m.text for m in second.received("volunteer")]
        assert any("เกิดที่หน่วยงานไหน" in text for text in shown), shown
