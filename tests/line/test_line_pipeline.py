"""The whole app on LINE: real SDK, real HTTP, the fake platform, SQLite (or PostgreSQL).

Each test drives the app the way LINE does (signed webhooks to ``/webhooks/line``) and checks what
reached the database, the media folder and the fake platform.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.core.model import LOCATION_PAYLOAD, Outbound, RenderedButton
from bot.settings import Settings
from handlers.line import LineChannel
from handlers.line_richmenu import install_rich_menu
from storage import tables as t
from tests.drivers_line import LineDriver, as_msg, line_driver
from tests.fakes.line import count_graphemes, sign
from tests.harness import FakeClock, Msg, Runner, evidence_jpeg

ONBOARD = ["> สวัสดี", "> [ยินยอม]", "> [ข้าม]"]
REPORT_UNTIL_EVIDENCE = [
    *ONBOARD,
    "> [แจ้งเบาะแส]",
    "> [จัดซื้อจัดจ้าง/ฮั้วประมูล]",
    "> ผู้รับเหมารายเดิมได้งานทุกโครงการ ราคากลางสูงเกินจริง ถนนสร้างเสร็จไม่ถึงเดือนก็พัง",
    "> อบต.ตาเมียง",
    "> [ข้าม]",
    "> อ.พนมดงรัก จ.สุรินทร์",
    "> ปีที่แล้ว",
    "> 2 ล้าน",
    "< มีหลักฐานไหม",
]
FINISH_REPORT = ["> [ไม่ต้องติดต่อ]", "< ตรวจสอบข้อมูลก่อนส่ง", "> [ยืนยันส่ง]", "< รหัสเรื่องของคุณคือ"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def bot(settings: Settings, clock: FakeClock, tmp_path: Path) -> AsyncIterator[LineDriver]:
    async with line_driver(settings, clock, tmp_path) as driver:
        yield driver


async def run(runner: Runner, lines: list[str]) -> None:
    for line in lines:
        await runner.step(line)


async def count(bot: LineDriver, table: Any, *where: Any) -> int:
    async with bot.services.store.transaction() as uow:
        query = select(func.count()).select_from(table)
        for condition in where:
            query = query.where(condition)
        return int((await uow.session.execute(query)).scalar_one())


async def inbox(bot: LineDriver) -> list[t.InboxRow]:
    async with bot.services.store.transaction() as uow:
        return list((await uow.session.execute(select(t.InboxRow).order_by(t.InboxRow.id))).scalars())


async def outbox(bot: LineDriver) -> list[t.OutboxRow]:
    async with bot.services.store.transaction() as uow:
        return list((await uow.session.execute(select(t.OutboxRow).order_by(t.OutboxRow.id))).scalars())


def aware(moment: datetime | None) -> datetime:
    assert moment is not None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def post(bot: LineDriver, *events: dict[str, Any], redelivery: bool = False) -> int:
    return await bot.line.deliver(bot.url, *events, redelivery=redelivery)


# -- evidence and alerts -------------------------------------------------------------------------


async def test_tip_with_two_photos_stores_both_encrypted(bot: LineDriver, clock: FakeClock) -> None:
    runner = Runner(bot, clock)
    await run(runner, REPORT_UNTIL_EVIDENCE)
    await run(runner, ["> @image หน้าร้าน.jpg", "< ได้รับหลักฐานแล้ว: 1 ชิ้น"])
    await run(runner, ["> @image ใบเสร็จ.jpg", "< ได้รับหลักฐานแล้ว: 2 ชิ้น", "> [เสร็จแล้ว]"])
    await run(runner, FINISH_REPORT)

    served = [c.data for c in bot.line.content.values() if c.downloads]
    assert sorted(served) == sorted([evidence_jpeg("หน้าร้าน.jpg"), evidence_jpeg("ใบเสร็จ.jpg")])
    async with bot.services.store.transaction() as uow:
        [tip] = (await uow.session.execute(select(t.Tip))).scalars().all()
        rows = (await uow.session.execute(select(t.Attachment))).scalars().all()
    assert sorted(r.sha256 for r in rows) == sorted(hashlib.sha256(d).hexdigest() for d in served)
    assert {r.tip_id for r in rows} == {tip.id}
    assert {r.kind for r in rows} == {"image"}

    media_dir = bot.services.settings.media_dir
    files = [p for p in media_dir.rglob("*") if p.is_file()]
    assert sorted(p.name for p in files) == sorted(r.storage_name for r in rows)
    for path in files:
        on_disk = path.read_bytes()
        assert all(data not in on_disk for data in served)
        assert all(data[:64] not in on_disk for data in served)


async def test_alert_reaches_the_line_group_of_the_region_only(bot: LineDriver, clock: FakeClock) -> None:
    runner = Runner(bot, clock)
    await run(runner, ["staff3> /join {invite:3}", "staff3< ปปท.เขต 3", "staff5> /join {invite:5}"])
    group3, group5 = bot.user("staff3"), bot.user("staff5")
    assert group3.group_id and group5.group_id
    before5 = len(bot.line.deliveries[group5.chat_id])

    await run(runner, [*REPORT_UNTIL_EVIDENCE, "> [ไม่มีหลักฐาน]", *FINISH_REPORT])

    await run(runner, ["staff3< 📣 เรื่องใหม่", "staff3< อ.พนมดงรัก จ.สุรินทร์"])
    assert len(bot.line.deliveries[group5.chat_id]) == before5
    # the alert went to the group itself (no reply token to use), never to a member's own chat
    assert bot.line.delivered_by[group3.chat_id][-1] == "push"
    alerts = bot.line.texts(group3.chat_id)[-1]
    assert group3.user_id not in alerts and bot.user("volunteer").user_id not in alerts
    assert await count(bot, t.OutboxRow, t.OutboxRow.kind == "alert", t.OutboxRow.status == "sent") == 1


# -- webhook input through the real app ----------------------------------------------------------


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda body, secret: (body, sign(body, "another-secret")), id="wrong-secret"),
        pytest.param(
            lambda body, secret: (body.replace(b"hello", b"hellO"), sign(body, secret)), id="changed"
        ),
        pytest.param(lambda body, secret: (body, None), id="missing-header"),
    ],
)
async def test_bad_signature_is_401_and_leaves_no_trace(bot: LineDriver, forge: Any) -> None:
    body = bot.line.webhook_body([bot.user("volunteer").text("hello")])
    sent, signature = forge(body, bot.line.channel_secret)
    status, _ = await bot.line.post_raw(bot.url, sent, signature=signature)
    assert status == 401
    await bot.services.settle()
    assert await count(bot, t.InboxRow) == 0
    assert bot.line.calls == []


async def test_connection_check_is_200(bot: LineDriver) -> None:
    status, _ = await bot.line.post_raw(bot.url, bot.line.webhook_body([]))
    assert status == 200
    assert await count(bot, t.InboxRow) == 0


async def test_body_over_one_mebibyte_is_413(bot: LineDriver) -> None:
    event = bot.user("volunteer").text("ก" * (1024 * 1024))
    status, _ = await bot.line.post_raw(bot.url, bot.line.webhook_body([event]))
    assert status == 413
    assert await count(bot, t.InboxRow) == 0


@pytest.mark.parametrize("redelivery", [False, True], ids=["replayed", "redelivered"])
async def test_a_repeated_event_is_stored_and_answered_once(bot: LineDriver, redelivery: bool) -> None:
    user = bot.user("volunteer")
    event = user.text("สวัสดี")
    assert await post(bot, event) == 200
    assert await post(bot, event, redelivery=redelivery) == 200
    await bot.services.settle()
    assert await post(bot, event, redelivery=redelivery) == 200
    await bot.services.settle()

    assert await count(bot, t.InboxRow) == 1
    assert await count(bot, t.OutboxRow) == 1
    assert len(bot.line.calls_to("reply")) == 1
    assert bot.line.calls_to("push") == []


async def test_unknown_event_type_does_not_stop_the_batch(bot: LineDriver) -> None:
    user = bot.user("volunteer")
    unknown = user._event("somethingNew", something={"x": 1})
    assert await post(bot, unknown, user.text("สวัสดี")) == 200
    await bot.services.settle()

    rows = {r.event_id: r for r in await inbox(bot)}
    assert rows[unknown["webhookEventId"]].status == "ignored"
    assert len(rows) == 2 and sum(r.status == "done" for r in rows.values()) == 1
    assert any("PACC Connect" in text for text in bot.line.texts(user.chat_id))


async def test_event_without_required_fields_is_kept_as_ignored(bot: LineDriver) -> None:
    user = bot.user("volunteer")
    broken = user.text("ข้อความที่ไม่มีรหัสเหตุการณ์")
    del broken["webhookEventId"], broken["deliveryContext"]
    good = user.text("สวัสดี")
    assert await post(bot, broken, good) == 200
    await bot.services.settle()

    rows = await inbox(bot)
    assert len(rows) == 2
    by_id = {r.event_id: r for r in rows}
    assert by_id[good["webhookEventId"]].status == "done"
    [kept] = [r for r in rows if r.event_id != good["webhookEventId"]]
    assert kept.event_id.startswith("invalid:") and kept.status == "ignored"
    assert len(bot.line.calls_to("reply")) == 1


async def test_a_batch_is_processed_per_user_in_timestamp_order(bot: LineDriver) -> None:
    a, b, c = (bot.line.user() for _ in range(3))
    base = int(datetime.now(UTC).timestamp() * 1000)
    events = [
        a.text("สาม", at_ms=base + 3),
        b.text("สี่", at_ms=base + 4),
        a.text("หนึ่ง", at_ms=base + 1),
        c.text("สอง", at_ms=base + 2),
        b.text("ศูนย์", at_ms=base + 0),
    ]
    assert await post(bot, *events) == 200
    await bot.services.settle()

    rows = {r.event_id: r for r in await inbox(bot)}
    assert len(rows) == 5 and {r.status for r in rows.values()} == {"done"}
    for user in (a, b):
        mine = [e for e in events if e["source"]["userId"] == user.user_id]
        by_time = sorted(mine, key=lambda e: e["timestamp"])
        by_processing = sorted(mine, key=lambda e: aware(rows[e["webhookEventId"]].processed_at))
        assert by_processing == by_time
    for user in (a, b, c):
        assert bot.line.texts(user.chat_id), "every user got an answer"


async def test_the_webhook_wakes_the_pipeline(settings: Settings, clock: FakeClock, tmp_path: Path) -> None:
    """With the app's own loops running, a message is answered without anyone settling."""
    async with line_driver(settings, clock, tmp_path, background=True) as bot:
        user = bot.user("volunteer")
        assert await post(bot, user.text("สวัสดี")) == 200
        for _ in range(200):
            if bot.line.texts(user.chat_id):
                break
            await asyncio.sleep(0.02)
        assert any("PACC Connect" in text for text in bot.line.texts(user.chat_id))
        assert bot.line.delivered_by[user.chat_id][0] == "reply"


# -- sending: reply token, push, rate limits, quota --------------------------------------------


async def test_reply_token_first_then_push_with_retry_key(bot: LineDriver, clock: FakeClock) -> None:
    user = bot.user("volunteer")
    assert await post(bot, user.text("สวัสดี")) == 200
    await bot.services.settle()
    assert set(bot.line.delivered_by[user.chat_id]) == {"reply"}

    # a used or expired token: LINE answers "Invalid reply token" and the adapter pushes
    event = user.text("ช่วยเหลือ")
    bot.line.expire_reply_token(event["replyToken"])
    assert await post(bot, event) == 200
    await bot.services.settle()
    [push] = bot.line.calls_to("push")
    assert push.status == 200 and push.headers.get("X-Line-Retry-Key")
    assert bot.line.calls_to("reply")[-1].status == 400

    # a token older than its lifetime is not even tried
    replies = len(bot.line.calls_to("reply"))
    assert await post(bot, user.text("ช่วยเหลือ")) == 200
    await bot.services.dispatcher.drain()
    clock.offset += timedelta(minutes=2)
    await bot.services.relay.drain()
    assert len(bot.line.calls_to("reply")) == replies
    assert len(bot.line.calls_to("push")) == 2
    keys = [c.headers["X-Line-Retry-Key"] for c in bot.line.calls_to("push")]
    assert len(set(keys)) == 2
    assert bot.line.delivered_by[user.chat_id][-1] == "push"


async def test_rate_limited_send_waits_for_retry_after(bot: LineDriver, clock: FakeClock) -> None:
    user = bot.user("volunteer")
    bot.line.rate_limit_next("reply", retry_after=7)
    assert await post(bot, user.text("สวัสดี")) == 200
    await bot.services.settle()
    [row] = await outbox(bot)
    assert row.status == "pending" and row.attempts == 1 and "429" in (row.last_error or "")
    assert aware(row.next_attempt_at) - clock() > timedelta(seconds=6)
    assert bot.line.texts(user.chat_id) == []

    clock.offset += timedelta(seconds=3)
    await bot.services.settle()
    assert bot.line.texts(user.chat_id) == []

    clock.offset += timedelta(seconds=5)
    await bot.services.settle()
    [row] = await outbox(bot)
    assert row.status == "sent" and row.attempts == 2
    assert len(bot.line.calls_to("reply")) == 2
    assert bot.line.delivered_by[user.chat_id] == ["reply"] * len(bot.line.texts(user.chat_id))
    await bot.services.settle()
    assert len(bot.line.calls_to("reply")) == 2


async def test_server_error_is_retried_with_backoff(bot: LineDriver, clock: FakeClock) -> None:
    user = bot.user("volunteer")
    bot.line.fail_next("reply", 2, status=500)
    assert await post(bot, user.text("สวัสดี")) == 200
    await bot.services.settle()
    [row] = await outbox(bot)
    assert row.status == "pending" and row.attempts == 1
    first_wait = aware(row.next_attempt_at) - clock()
    assert timedelta(0) < first_wait <= timedelta(seconds=2)  # backoff is 1–2 s from the failed send

    clock.offset += timedelta(seconds=3)
    await bot.services.settle()
    [row] = await outbox(bot)
    assert row.status == "pending" and row.attempts == 2
    assert aware(row.next_attempt_at) - clock() <= timedelta(seconds=4)

    clock.offset += timedelta(seconds=5)
    await bot.services.settle()
    [row] = await outbox(bot)
    assert row.status == "sent" and row.attempts == 3
    assert len(bot.line.calls_to("reply")) == 3
    texts = bot.line.texts(user.chat_id)
    assert texts and len(texts) == len(set(texts)), "delivered once"


async def test_monthly_limit_parks_the_row_and_pauses_line(bot: LineDriver, clock: FakeClock) -> None:
    user = bot.user("volunteer")
    assert await post(bot, user.text("สวัสดี")) == 200
    await bot.services.dispatcher.drain()
    clock.offset += timedelta(minutes=2)  # the reply token is gone: only push is left
    bot.line.monthly_limit_next("push")
    await bot.services.relay.drain()

    [row] = await outbox(bot)
    assert row.status == "pending" and "monthly limit" in (row.last_error or "")
    assert aware(row.next_attempt_at) - clock() >= timedelta(hours=1) - timedelta(seconds=1)
    async with bot.services.store.transaction() as uow:
        paused = await uow.kv.get("paused.line")
    assert paused is not None and datetime.fromisoformat(paused) >= clock() + timedelta(minutes=59)
    assert bot.line.texts(user.chat_id) == []

    await bot.services.settle()
    assert len(bot.line.calls_to("push")) == 1, "no hot loop"

    clock.offset += timedelta(hours=1, seconds=1)
    await bot.services.settle()
    [row] = await outbox(bot)
    assert row.status == "sent"
    assert bot.line.delivered_by[user.chat_id] and set(bot.line.delivered_by[user.chat_id]) == {"push"}


# -- media ---------------------------------------------------------------------------------------


async def test_media_not_ready_is_fetched_again_later(bot: LineDriver, clock: FakeClock) -> None:
    runner = Runner(bot, clock)
    await run(runner, REPORT_UNTIL_EVIDENCE)
    user = bot.user("volunteer")
    photo = evidence_jpeg("ยังไม่พร้อม")
    event = user.image(photo, not_ready=1)
    message_id = event["message"]["id"]
    assert await post(bot, event) == 200
    await bot.services.settle()

    [row] = [r for r in await inbox(bot) if r.event_id == event["webhookEventId"]]
    assert row.status == "pending" and row.attempts == 1
    assert await count(bot, t.Attachment) == 0
    assert bot.line.content[message_id].downloads == 1

    clock.offset += timedelta(seconds=11)
    await bot.services.settle()
    [row] = [r for r in await inbox(bot) if r.event_id == event["webhookEventId"]]
    assert row.status == "done"
    async with bot.services.store.transaction() as uow:
        [attachment] = (await uow.session.execute(select(t.Attachment))).scalars().all()
    assert attachment.sha256 == hashlib.sha256(photo).hexdigest()
    assert bot.line.content[message_id].downloads == 2
    await run(runner, ["< ได้รับหลักฐานแล้ว: 1 ชิ้น"])


async def test_a_message_waits_behind_a_photo_that_is_not_ready(bot: LineDriver, clock: FakeClock) -> None:
    runner = Runner(bot, clock)
    await run(runner, REPORT_UNTIL_EVIDENCE)
    user = bot.user("volunteer")
    seen = len(bot.received("volunteer"))
    assert await post(bot, user.image(evidence_jpeg("ช้า"), not_ready=1)) == 200
    await bot.services.settle()
    assert await post(bot, user.text("เสร็จแล้ว")) == 200
    await bot.services.settle()
    clock.offset += timedelta(seconds=11)
    await bot.services.settle()

    texts = [m.text for m in bot.received("volunteer")[seen:]]
    assert texts, "the volunteer got answers"
    assert "ได้รับหลักฐานแล้ว: 1 ชิ้น" in texts[0], "the photo is answered before the later message"


# -- rich menu -----------------------------------------------------------------------------------

#: catalog keys of the rich menu's four panels, left to right
RICH_MENU_KEYS = ("button.report", "button.my_tips", "richmenu.notices", "button.help")


async def test_rich_menu_installs_and_every_panel_is_understood(bot: LineDriver, clock: FakeClock) -> None:
    catalog = bot.services.catalog
    labels = [catalog.text(k) for k in RICH_MENU_KEYS]
    channel = bot.services.channels["line"]
    assert isinstance(channel, LineChannel)
    menu_id = await install_rich_menu(channel, labels)
    assert bot.line.default_rich_menu == menu_id
    actions = [area["action"] for area in bot.line.rich_menus[menu_id]["areas"]]
    assert [a["displayText"] for a in actions] == labels

    await run(Runner(bot, clock), ONBOARD)
    expected = {
        "menu:report": catalog.text("report.intro"),
        "menu:status": catalog.text("status.none"),
        "menu:notices": catalog.text("notices.none"),
        "menu:help": catalog.text("help.text").splitlines()[0],
    }
    assert [a["data"] for a in actions] == list(expected)
    for action in reversed(actions):  # report last: the others answer the same way at every step
        seen = len(bot.received("volunteer"))
        await bot.tap("volunteer", action["displayText"], action["data"])
        await bot.services.settle()
        texts = [m.text for m in bot.received("volunteer")[seen:]]
        assert any(expected[action["data"]] in text for text in texts), (action["data"], texts)
        assert catalog.text("menu.confused") not in texts


# -- the driver itself ---------------------------------------------------------------------------


def test_driver_reads_back_full_labels_that_line_shortens() -> None:
    long_label = "ยักยอกทรัพย์สินของทางราชการโดยเจ้าหน้าที่"
    channel = LineChannel(channel_secret="s", access_token="t")
    outbound = Outbound(
        "เลือก",
        (RenderedButton(long_label, "abc123:cat:x"), RenderedButton("ส่งโลเคชัน", LOCATION_PAYLOAD)),
    )
    [message] = channel.render([outbound])
    wire = message.to_dict()
    assert count_graphemes(wire["quickReply"]["items"][0]["action"]["label"]) <= 20
    assert as_msg(wire) == Msg("เลือก", [(long_label, "abc123:cat:x"), ("ส่งโลเคชัน", LOCATION_PAYLOAD)])
