"""The whole app on Telegram: real HTTP webhook, real PTB `Bot`, the fake Bot API, the database.

What the unit tests of the adapter cannot show: what is stored, what is sent, and what happens to
outbox rows and contacts when Telegram answers with an error.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from sqlalchemy import func, select

from bot.app import Services, StoreKeyValue, build_services, create_app
from bot.settings import Settings
from handlers.telegram import SECRET_HEADER
from handlers.telegram_polling import OFFSET_KEY
from storage import tables as t
from storage.media import FileMediaStore
from storage.repositories import utc
from tests.drivers_telegram import (
    WEBHOOK_SECRET,
    TelegramDriver,
    buttons_of,
    telegram_driver,
    telegram_polling_driver,
    telegram_settings,
)
from tests.fakes.telegram import FakeTelegram, FakeTelegramUser, WebhookState
from tests.harness import FakeClock, Runner, evidence_jpeg

ONBOARD = """
> สวัสดี
> [ยินยอม]
> [ข้าม]
< เลือกจากปุ่มด้านล่าง
"""

#: a region 3 (Surin) procurement tip with one photo, from the menu to the case code
PHOTO_TIP = """
> [แจ้งเบาะแส]
> [จัดซื้อจัดจ้าง/ฮั้วประมูล]
> ผู้รับเหมารายเดิมได้งานทุกโครงการ ราคากลางสูงเกินจริง ถนนสร้างเสร็จไม่ถึงเดือนก็พัง
> อบต.ตาเมียง
> [ข้าม]
< จังหวัดไหน
> อ.พนมดงรัก จ.สุรินทร์
> ปีที่แล้ว
> 2 ล้าน
< มีหลักฐานไหม
> @image road.jpg
< ได้รับหลักฐานแล้ว: 1 ชิ้น
> [เสร็จแล้ว]
> [ไม่ต้องติดต่อ]
> [ยืนยันส่ง]
< รหัสเรื่องของคุณคือ
"""


@dataclass
class Bench:
    driver: TelegramDriver
    clock: FakeClock
    runner: Runner

    @property
    def fake(self) -> FakeTelegram:
        return self.driver.fake

    @property
    def services(self) -> Services:
        return self.driver.services

    async def script(self, text: str) -> None:
        for line in text.strip().splitlines():
            if line.strip():
                await self.runner.step(line.strip())

    def user(self, actor: str = "volunteer") -> FakeTelegramUser:
        return self.driver.user(actor)

    async def rows(self, model: Any, *where: Any) -> list[Any]:
        async with self.services.store.transaction() as uow:
            return list((await uow.session.execute(select(model).where(*where))).scalars().all())

    async def count(self, model: Any, *where: Any) -> int:
        async with self.services.store.transaction() as uow:
            query = select(func.count()).select_from(model).where(*where)
            return int((await uow.session.execute(query)).scalar_one())

    async def post(self, body: bytes, headers: dict[str, str]) -> int:
        async with ClientSession() as session:
            data = io.BytesIO(body)  # aiohttp warns about large raw bytes bodies
            async with session.post(self.driver.webhook_url, data=data, headers=headers) as response:
                await response.read()
                return response.status

    async def deliver_and_settle(self, update: dict[str, Any]) -> None:
        await self.driver.send(update)
        await self.services.settle()


@pytest.fixture
async def bench(settings: Settings, tmp_path: Path) -> AsyncIterator[Bench]:
    clock = FakeClock()
    async with telegram_driver(settings, clock, tmp_path) as driver:
        yield Bench(driver, clock, Runner(driver, clock))


def authentic(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Content-Type": "application/json", SECRET_HEADER: WEBHOOK_SECRET, **(extra or {})}


# -- a tip with a photo, alerted to the right Telegram group ---------------------------------------


async def test_a_photo_tip_is_stored_encrypted_and_alerted_to_its_regions_group_only(
    bench: Bench, settings: Settings
) -> None:
    await bench.script("""
        staff3> /join {invite:3}
        staff3< ลงทะเบียนแชตนี้เป็นเจ้าหน้าที่ของ ปปท.เขต 3 แล้ว
        staff5> /join {invite:5}
        staff5< ปปท.เขต 5
    """)
    await bench.script(ONBOARD + PHOTO_TIP)

    served = bench.fake.downloads
    assert len(served) == 1 and served[0] == evidence_jpeg("road.jpg")  # the largest size only
    attachments = await bench.rows(t.Attachment)
    assert len(attachments) == 1
    attachment = attachments[0]
    assert attachment.sha256 == hashlib.sha256(served[0]).hexdigest()
    assert attachment.tip_id is not None and attachment.kind == "image"
    on_disk = [p.read_bytes() for p in Path(settings.media_dir).rglob("*") if p.is_file()]
    assert len(on_disk) == 1
    assert served[0] not in on_disk[0] and served[0][:64] not in on_disk[0]
    assert FileMediaStore(Path(settings.media_dir)).get(attachment.storage_name) == served[0]

    staff3, staff5 = bench.user("staff3").chat_id, bench.user("staff5").chat_id
    assert staff3 < 0 and staff5 < 0  # Telegram groups
    alerts = [text for text in bench.fake.texts_to(staff3) if "📣 เรื่องใหม่" in text]
    assert len(alerts) == 1
    assert "อ.พนมดงรัก จ.สุรินทร์" in alerts[0] and "2,000,000 บาท" in alerts[0]
    assert str(bench.user().id) not in alerts[0]
    assert not any("📣" in text for text in bench.fake.texts_to(staff5))
    assert await bench.count(t.OutboxRow, t.OutboxRow.kind == "alert") == 1

    # every tap was a callback query, and every one of them was answered
    assert bench.driver.callback_ids
    assert [a["id"] for a in bench.fake.answered_callbacks] == bench.driver.callback_ids

    # staff ask for the details: the photo follows, as a copy without its EXIF/GPS block
    await bench.script("""
        staff3> [ดูรายละเอียด]
        staff3< หลักฐานชิ้นที่ 1/1
    """)
    photos = [d for d in bench.fake.deliveries if d.chat_id == str(staff3) and d.method == "sendPhoto"]
    assert len(photos) == 1 and photos[0].file is not None
    assert not Image.open(io.BytesIO(photos[0].file)).getexif()
    assert Image.open(io.BytesIO(served[0])).getexif()  # the stored original keeps its evidence
    assert not [d for d in bench.fake.deliveries if d.chat_id == str(staff5) and d.method == "sendPhoto"]


# -- bad input through the real app ----------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {SECRET_HEADER: "not-the-secret"},
        {},
        {SECRET_HEADER: "ความลับ"},
        {SECRET_HEADER: WEBHOOK_SECRET[:-1]},
        {SECRET_HEADER: ""},
    ],
    ids=["wrong", "missing", "non-ascii", "prefix", "empty"],
)
async def test_a_request_without_the_secret_is_refused_and_leaves_no_trace(
    bench: Bench, headers: dict[str, str]
) -> None:
    body = json.dumps(bench.user().says("สวัสดี")).encode()
    status = await bench.post(body, {"Content-Type": "application/json", **headers})
    assert status == 403
    await bench.services.settle()
    assert await bench.count(t.InboxRow) == 0
    assert bench.fake.deliveries == []


@pytest.mark.parametrize(
    "body",
    [b'{"update_id": 1, "message": ', b"\xff\xfe not json", b"[]", b'{"message": {}}', b"NaN"],
    ids=["truncated", "binary", "array", "no-update-id", "nan"],
)
async def test_a_body_that_is_not_an_update_is_a_400(bench: Bench, body: bytes) -> None:
    assert await bench.post(body, authentic()) == 400
    assert await bench.count(t.InboxRow) == 0


async def test_a_duplicate_update_is_stored_once_and_answered_once(bench: Bench) -> None:
    update = bench.user().says("สวัสดี")
    await bench.driver.send(update)
    await bench.driver.send(update)  # Telegram redelivers when our 200 got lost
    await bench.services.settle()
    assert await bench.count(t.InboxRow) == 1
    assert await bench.count(t.OutboxRow) == 1
    first = len(bench.fake.sent_to(bench.user().chat_id))
    assert first >= 1

    await bench.driver.send(update)
    await bench.services.settle()
    assert len(bench.fake.sent_to(bench.user().chat_id)) == first


async def test_an_unknown_update_type_is_stored_and_marked_ignored(bench: Bench) -> None:
    user = bench.user()
    update = {
        "update_id": bench.fake.next_update_id(),
        "some_future_update": {"from": user.user_dict(), "date": 1_760_000_000, "value": 1},
    }
    await bench.deliver_and_settle(update)
    rows = await bench.rows(t.InboxRow)
    assert [row.status for row in rows] == ["ignored"]
    assert bench.fake.deliveries == []


async def test_a_200_kb_text_is_handled_without_a_server_error(bench: Bench) -> None:
    update = bench.user().says("ก" * 200_000)
    status = await bench.post(json.dumps(update, ensure_ascii=False).encode(), authentic())
    assert status in (200, 413)
    await bench.services.settle()
    if status == 200:
        assert [row.status for row in await bench.rows(t.InboxRow)] == ["done"]
        assert bench.fake.sent_to(bench.user().chat_id)  # answered, with parts within the limits

    huge = bench.user().says("ก" * 400_000)  # 1.2 MB of UTF-8: over the body limit
    assert await bench.post(json.dumps(huge, ensure_ascii=False).encode(), authentic()) == 413


async def test_a_button_of_an_old_draft_gets_the_stale_reply_and_is_answered(bench: Bench) -> None:
    await bench.script(ONBOARD + "> [แจ้งเบาะแส]\n< ประเภทไหน")
    chat = bench.user().chat_id
    old = next(d for d in reversed(bench.fake.sent_to(chat)) if "ประเภทไหน" in (d.text or ""))
    bribery = next(payload for label, payload in buttons_of(old) if label == "เรียกรับสินบน")
    await bench.script("> ยกเลิก\n> [ยืนยันยกเลิก]\n< ยกเลิกแล้ว\n> [แจ้งเบาะแส]\n< ประเภทไหน")

    update = bench.user().taps(bribery, message_id=old.message_id)
    await bench.deliver_and_settle(update)

    bench.runner.expect("volunteer", "ปุ่มนี้เป็นของขั้นตอนเก่าแล้ว")
    bench.runner.expect("volunteer", "ประเภทไหน")  # the current question again
    assert update["callback_query"]["id"] in [a["id"] for a in bench.fake.answered_callbacks]
    assert await bench.count(t.InboxRow, t.InboxRow.status != "done") == 0


# -- sending: rate limits, blocks, migrations -------------------------------------------------------


async def test_a_429_reschedules_the_row_durably_and_it_is_delivered_once_later(bench: Bench) -> None:
    await bench.script(ONBOARD)
    chat = bench.user().chat_id
    bench.fake.fail_next_sends(retry_after=30, chat_id=chat)
    before = bench.clock()
    await bench.script("> [แจ้งเบาะแส]")

    row = (await bench.rows(t.OutboxRow, t.OutboxRow.status != "sent"))[0]
    assert row.status == "pending" and row.attempts == 1
    assert "RetryAfter" in (row.last_error or "")
    next_attempt = utc(row.next_attempt_at)
    assert next_attempt is not None and next_attempt >= before + timedelta(seconds=30)
    assert not any("ประเภทไหน" in text for text in bench.fake.texts_to(chat))

    assert await bench.services.relay.drain() == 0  # not due yet: no sleeping, no hot loop
    bench.clock.offset += timedelta(seconds=31)
    assert await bench.services.relay.drain() == 1
    assert await bench.services.relay.drain() == 0

    (row,) = await bench.rows(t.OutboxRow, t.OutboxRow.id == row.id)
    assert row.status == "sent" and row.attempts == 2
    assert sum("ประเภทไหน" in text for text in bench.fake.texts_to(chat)) == 1


async def test_a_volunteer_who_blocked_the_bot_is_marked_unreachable_without_retries(bench: Bench) -> None:
    await bench.script(ONBOARD)
    user = bench.user()
    await bench.driver.say("volunteer", "ช่วยเหลือ")
    bench.fake.set_blocked(user.id, True)  # blocked before the answer went out
    tries = bench.fake.attempts[str(user.chat_id)]
    await bench.services.settle()

    (contact,) = await bench.rows(t.Contact)
    assert contact.reachable is False
    (failed,) = await bench.rows(t.OutboxRow, t.OutboxRow.status != "sent")
    assert failed.status == "failed" and "Forbidden" in (failed.last_error or "")
    assert failed.attempts == 1
    bench.clock.offset += timedelta(hours=2)
    assert await bench.services.relay.drain() == 0
    assert bench.fake.attempts[str(user.chat_id)] == tries + 1


async def test_an_alert_to_a_group_that_became_a_supergroup_follows_it(bench: Bench) -> None:
    old_id, new_id = -400_123_456, -1_001_400_123_456
    bench.driver.users["staff3"] = bench.fake.user(first_name="staff").in_group(old_id, "ปปท. เขต 3")
    await bench.script("staff3> /join {invite:3}\nstaff3< ปปท.เขต 3")
    bench.fake.fail_next_sends(migrate_to=new_id, chat_id=old_id)

    await bench.script(ONBOARD + PHOTO_TIP)

    alerts = [text for text in bench.fake.texts_to(new_id) if "📣 เรื่องใหม่" in text]
    assert len(alerts) == 1
    assert not any("📣" in text for text in bench.fake.texts_to(old_id))
    async with bench.services.store.transaction() as uow:
        moved = await uow.staff.get("telegram", str(new_id))
        assert moved is not None and moved.active and moved.region == "3"
        assert await uow.staff.get("telegram", str(old_id)) is None
    (alert,) = await bench.rows(t.OutboxRow, t.OutboxRow.kind == "alert")
    assert alert.status == "sent" and alert.address_enc == str(new_id)


# -- edits and membership ---------------------------------------------------------------------------


async def test_an_edited_answer_updates_that_field_of_the_draft(bench: Bench) -> None:
    await bench.script(ONBOARD + "> [แจ้งเบาะแส]\n> [เรียกรับสินบน]\n< เล่าสิ่งที่เกิดขึ้น")
    await bench.script("> เจ้าหน้าที่เรียกเงินค่าดำเนินการออกใบอนุญาต ถ้าไม่จ่ายจะไม่ออกให้")
    story_message = bench.user().last_message_id
    assert story_message is not None
    bench.runner.expect("volunteer", "หน่วยงาน")

    corrected = "เจ้าหน้าที่เทศบาลเรียกเงินห้าพันบาทเพื่อออกใบอนุญาตก่อสร้าง ถ้าไม่จ่ายจะไม่ออกให้"
    await bench.deliver_and_settle(bench.user().edits(story_message, corrected))

    bench.runner.expect("volunteer", "ตามข้อความที่แก้แล้ว")
    (conversation,) = await bench.rows(t.Conversation)
    assert conversation.state["draft"]["story"] == corrected
    assert conversation.state["step"] == "agency"  # the form did not move


async def test_a_volunteer_who_blocks_the_bot_becomes_unreachable(bench: Bench) -> None:
    await bench.script(ONBOARD)
    await bench.deliver_and_settle(bench.user().blocks_bot())
    (contact,) = await bench.rows(t.Contact)
    assert contact.reachable is False
    assert [row.status for row in await bench.rows(t.InboxRow)][-1] == "done"


async def test_a_group_that_adds_the_bot_gets_the_staff_join_hint(bench: Bench) -> None:
    admin = bench.fake.user(first_name="admin")
    group_id = -1_001_777_000_111
    sent = len(bench.fake.deliveries)
    await bench.deliver_and_settle(admin.adds_bot_to_group(group_id))
    texts = bench.fake.texts_to(group_id)
    assert len(texts) == 1 and "/join" in texts[0]
    assert len(bench.fake.deliveries) == sent + 1
    assert await bench.count(t.StaffChat) == 0


# -- polling -----------------------------------------------------------------------------------------


async def test_polling_keeps_its_offset_in_the_database(settings: Settings, tmp_path: Path) -> None:
    clock = FakeClock()
    async with telegram_polling_driver(settings, clock, tmp_path) as driver:
        runner = Runner(driver, clock)
        for line in ONBOARD.strip().splitlines():
            await runner.step(line.strip())
        fake, services = driver.fake, driver.services
        assert fake.calls.index("deleteWebhook") < fake.calls.index("getUpdates")
        assert fake.webhook is None and fake.webhook_posts == []
        last = fake.next_update_id() - 1
        assert await StoreKeyValue(services.store).get(OFFSET_KEY) == str(last)
        assert [a["id"] for a in fake.answered_callbacks] == driver.callback_ids


async def test_serve_with_polling_answers_what_waited_and_publishes_the_command_menu(
    settings: Settings, tmp_path: Path
) -> None:
    """`tipbot serve --telegram-polling`: the composition root's own loops, no test driving them."""
    async with FakeTelegram() as fake:
        fake.webhook = WebhookState("https://old.example/webhooks/telegram", "old", None)
        user = fake.user()
        fake.queue_update(user.says("สวัสดี"))  # sent while the bot was down
        factory = partial(build_services, migrate=True)
        app = create_app(telegram_settings(settings, fake), services_factory=factory, telegram_polling=True)
        async with TestClient(TestServer(app, host="127.0.0.1")):
            deadline = time.monotonic() + 10
            while len(fake.texts_to(user.id)) < 2:
                assert time.monotonic() < deadline, "no answer through polling"
                await asyncio.sleep(0.02)
            assert fake.webhook is None and fake.dropped_pending == 0
            assert set(fake.commands) == {None, "th", "en"}
            assert [name for name, _ in fake.commands["th"]] == [
                "start",
                "report",
                "status",
                "news",
                "help",
                "cancel",
                "mydata",
                "forget",
            ]
            assert fake.commands[None] == fake.commands["th"]
