"""LINE shows the messages that stand on their own (the summary, the case receipt, staff alerts,
status notices and workshop notices) as Flex bubbles with an altText and their buttons inside;
the fake platform checks Flex messages as LINE does and refuses invalid ones."""

from __future__ import annotations

import json
import string
import uuid
from typing import Any

import pytest

from bot.core.catalog import CARDS, Catalog
from bot.core.model import Address, Button, Outbound, RenderedButton, Reply, SendStatus
from handlers.line import MAX_ALT_TEXT, LineChannel, alt_text
from tests.fakes.line import FakeLine, _Invalid, _validate_messages

CATALOG = Catalog.load()


def filled(key: str) -> dict[str, Any]:
    """Every placeholder of the Thai message, filled with invented Thai words."""
    names = {name for _, name, _, _ in string.Formatter().parse(CATALOG.messages["th"][key]) if name}
    return {name: f"ตัวอย่าง{name}" for name in names}


def buttons_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    footer = message["contents"].get("footer") or {"contents": []}
    return [b["action"] for b in footer["contents"] if b["type"] == "button"]


@pytest.mark.parametrize("key", sorted(CARDS))
async def test_each_card_is_a_valid_bubble_with_alt_text_and_its_buttons_inside(
    key: str, line: FakeLine, channel: LineChannel
) -> None:
    user = line.user()
    reply = Reply(
        key,
        filled(key),
        buttons=(
            Button("broadcast.button.rsvp_on", "rsvp:12:yes"),
            Button("button.cancel", "a1b2c3:sum:cancel"),
        ),
    )
    outbound = CATALOG.render(reply, "th")
    assert outbound.card == CARDS[key]
    result = await channel.send(
        Address("line", user.user_id), [outbound], reply_token=None, retry_key=str(uuid.uuid4())
    )
    assert result.status is SendStatus.SENT, result  # the fake refuses an invalid Flex message
    [message] = line.deliveries[user.user_id]
    assert message["type"] == "flex"
    assert message["contents"]["type"] == "bubble"
    assert 0 < len(message["altText"]) <= MAX_ALT_TEXT
    assert message["altText"].startswith(outbound.text.strip().split("\n")[0][:40])
    assert "quickReply" not in message  # the buttons stay in the bubble, they do not vanish
    actions = buttons_of(message)
    assert [(a["type"], a["data"]) for a in actions] == [
        ("postback", "rsvp:12:yes"),
        ("postback", "a1b2c3:sum:cancel"),
    ]
    texts = json.dumps(message["contents"], ensure_ascii=False)
    for value in filled(key).values():
        assert value in texts  # nothing of the message is left out of the bubble


async def test_plain_messages_stay_text_with_quick_replies(line: FakeLine, channel: LineChannel) -> None:
    user = line.user()
    outbound = CATALOG.render(Reply("report.story.ask", buttons=(Button("button.cancel", "x:y:z"),)), "th")
    assert outbound.card == ""
    await channel.send(
        Address("line", user.user_id), [outbound], reply_token=None, retry_key=str(uuid.uuid4())
    )
    [message] = line.deliveries[user.user_id]
    assert message["type"] == "text"
    assert message["quickReply"]["items"][0]["action"]["data"] == "x:y:z"


async def test_a_card_too_big_for_a_bubble_goes_as_text_and_nothing_is_lost(
    line: FakeLine, channel: LineChannel
) -> None:
    user = line.user()
    story = "เรื่องยาว " * 3000  # about 30,000 characters: over 30 KB as a bubble
    outbound = Outbound(
        f"ตรวจสอบข้อมูลก่อนส่ง\n{story}", (RenderedButton("ยืนยันส่ง", "s:sum:confirm"),), card="summary"
    )
    result = await channel.send(
        Address("line", user.user_id), [outbound], reply_token=None, retry_key=str(uuid.uuid4())
    )
    assert result.status is SendStatus.SENT
    delivered = line.deliveries[user.user_id]
    assert {m["type"] for m in delivered} == {"text"}
    assert "".join(m["text"] for m in delivered).count("เรื่องยาว") == 3000
    assert delivered[-1]["quickReply"]["items"][0]["action"]["data"] == "s:sum:confirm"


def test_alt_text_keeps_whole_lines_and_says_it_was_cut() -> None:
    text = "\n".join(f"บรรทัดที่ {n} " + "ก" * 30 for n in range(40))
    alt = alt_text(text)
    assert len(alt) <= MAX_ALT_TEXT
    assert alt.endswith("…")
    assert alt[:-1].rstrip() in text and text.startswith(alt[:-1].rstrip())
    assert alt_text("สั้น") == "สั้น"


def flex(contents: dict[str, Any], alt: str = "สรุป") -> dict[str, Any]:
    return {"type": "flex", "altText": alt, "contents": contents}


def bubble(*components: dict[str, Any], footer: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "bubble",
        "body": {"type": "box", "layout": "vertical", "contents": list(components)},
    }
    if footer is not None:
        out["footer"] = {"type": "box", "layout": "vertical", "contents": footer}
    return out


def text(t: str) -> dict[str, Any]:
    return {"type": "text", "text": t, "wrap": True}


def postback(label: str, data: str) -> dict[str, Any]:
    return {"type": "button", "action": {"type": "postback", "label": label, "data": data}}


def test_the_fake_takes_a_valid_bubble_and_carousel() -> None:
    ok = bubble(text("ข่าวกิจกรรม"), footer=[postback("เข้าร่วม", "rsvp:1:yes")])
    assert _validate_messages([flex(ok)])
    assert _validate_messages([flex({"type": "carousel", "contents": [ok, ok]})])


@pytest.mark.parametrize(
    ("message", "where"),
    [
        (flex(bubble(text("x")), alt=""), "messages[0].altText"),
        (flex(bubble(text("x")), alt="ก" * 401), "messages[0].altText"),
        ({"type": "flex", "contents": bubble(text("x"))}, "messages[0].altText"),
        (flex({"type": "bubbles", "body": {}}), "messages[0].contents.type"),
        (flex({"type": "carousel", "contents": []}), "messages[0].contents.contents"),
        (flex({"type": "bubble"}), "messages[0].contents"),
        (
            flex({"type": "bubble", "body": {"type": "box", "contents": []}}),
            "messages[0].contents.body.layout",
        ),
        (flex(bubble({"type": "text"})), "messages[0].contents.body.contents[0].text"),
        (flex(bubble({"type": "label", "text": "x"})), "messages[0].contents.body.contents[0].type"),
        (
            flex(bubble(text("x"), footer=[postback("ก" * 21, "d")])),
            "messages[0].contents.footer.contents[0].action.label",
        ),
        (
            flex(bubble(text("x"), footer=[postback("ตอบ", "d" * 301)])),
            "messages[0].contents.footer.contents[0].action.data",
        ),
        (flex(bubble(text("ก" * 11_000))), "messages[0].contents"),  # 33 KB of UTF-8
    ],
)
def test_the_fake_refuses_an_invalid_flex_message(message: dict[str, Any], where: str) -> None:
    with pytest.raises(_Invalid) as refused:
        _validate_messages([message])
    assert where in [d["property"] for d in refused.value.details], refused.value.details
