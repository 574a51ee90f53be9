"""getUpdates polling: deleteWebhook first, same inbox shape as the webhook, offset stored after ingest."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bot.core.ports import StorageUnavailable
from handlers.telegram import TelegramChannel
from handlers.telegram_polling import OFFSET_KEY, poll_updates
from handlers.telegram_setup import delete_webhook, set_webhook
from tests.fakes.telegram import FakeTelegram, WebhookState
from tests.ports import RecordingIngest
from tests.telegram.support import SECRET, MemoryStore


async def eventually(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


class Poller:
    """Runs poll_updates in the background the way `tipbot serve --polling` would."""

    def __init__(
        self, channel: TelegramChannel, ingest: RecordingIngest, store: MemoryStore, **options: float
    ) -> None:
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(
            poll_updates(channel, ingest, store, stop=self.stop, timeout=1, **options)  # type: ignore[arg-type]
        )

    async def halt(self) -> float:
        started = time.monotonic()
        self.stop.set()
        await asyncio.wait_for(self.task, 5)
        return time.monotonic() - started


async def test_updates_flow_into_ingest_and_the_offset_survives_a_restart(
    fake: FakeTelegram, channel: TelegramChannel, ingest: RecordingIngest
) -> None:
    store = MemoryStore()
    user = fake.user()
    first = [user.says("หนึ่ง"), user.taps("cat:bribe"), user.shares_location(13.75, 100.5)]
    for update in first:
        fake.queue_update(update)

    poller = Poller(channel, ingest, store)
    await eventually(lambda: len(ingest.events) == 3)
    await eventually(lambda: store.values.get(OFFSET_KEY) == str(first[-1]["update_id"]))
    await poller.halt()

    second = [user.says("สอง"), user.sends_photo(b"\xff\xd8\xff" + b"p" * 100)]
    for update in second:
        fake.queue_update(update)
    poller = Poller(channel, ingest, store)
    await eventually(lambda: len(ingest.events) == 5)
    await eventually(lambda: store.values.get(OFFSET_KEY) == str(second[-1]["update_id"]))
    await poller.halt()

    expected = [channel.inbox_event(u) for u in first + second]
    assert [e.event_id for e in ingest.events] == [e.event_id for e in expected]
    assert [e.payload for e in ingest.events] == [e.payload for e in expected]
    assert len(ingest.seen) == 5  # nothing fetched twice across the restart


async def test_delete_webhook_comes_first_and_keeps_pending_updates(
    fake: FakeTelegram, channel: TelegramChannel, ingest: RecordingIngest
) -> None:
    await set_webhook(channel, "https://tipbot.example/webhooks/telegram", SECRET)
    fake.queue_update(fake.user().says("ระหว่างที่ระบบปิด"))
    fake.calls.clear()

    poller = Poller(channel, ingest, MemoryStore())
    await eventually(lambda: len(ingest.events) == 1)
    await poller.halt()

    assert fake.calls[0] == "deleteWebhook"
    assert "getUpdates" in fake.calls
    assert fake.webhook is None
    assert fake.dropped_pending == 0


async def test_storage_down_means_no_offset_and_a_refetch(
    fake: FakeTelegram, channel: TelegramChannel, ingest: RecordingIngest
) -> None:
    store = MemoryStore()
    ingest.fail = StorageUnavailable("locked")
    update = fake.user().says("ต้องไม่หาย")
    fake.queue_update(update)

    poller = Poller(channel, ingest, store, max_backoff=0.1)
    await eventually(lambda: fake.calls.count("getUpdates") >= 2)
    assert store.writes == []
    ingest.fail = None
    await eventually(lambda: len(ingest.events) == 1)
    await eventually(lambda: OFFSET_KEY in store.values)
    await poller.halt()

    assert ingest.events[0].event_id == f"{fake.bot_id}:{update['update_id']}"
    assert store.values[OFFSET_KEY] == str(update["update_id"])


async def test_conflict_is_survived_with_a_backoff(
    fake: FakeTelegram, channel: TelegramChannel, ingest: RecordingIngest
) -> None:
    poller = Poller(channel, ingest, MemoryStore(), max_backoff=0.1)
    await eventually(lambda: "getUpdates" in fake.calls)
    # somebody sets a webhook while we poll: getUpdates answers 409 until it is removed
    fake.webhook = WebhookState(url="https://elsewhere.example/hook", secret_token=None, allowed_updates=None)
    fake.queue_update(fake.user().says("x"))
    await asyncio.sleep(1.5)
    assert ingest.events == []
    assert not poller.task.done()

    await delete_webhook(channel)
    await eventually(lambda: len(ingest.events) == 1)
    await poller.halt()


async def test_stop_interrupts_a_long_poll(
    fake: FakeTelegram, channel: TelegramChannel, ingest: RecordingIngest
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(poll_updates(channel, ingest, MemoryStore(), stop=stop, timeout=30))
    await eventually(lambda: "getUpdates" in fake.calls)
    await asyncio.sleep(0.1)

    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, 5)

    assert time.monotonic() - started < 1.0


async def test_stored_offset_is_used_on_start(
    fake: FakeTelegram, channel: TelegramChannel, ingest: RecordingIngest
) -> None:
    user = fake.user()
    old, new = user.says("เก่า"), user.says("ใหม่")
    fake.queue_update(old)
    fake.queue_update(new)
    store = MemoryStore()
    await store.set(OFFSET_KEY, str(old["update_id"]))

    poller = Poller(channel, ingest, store)
    await eventually(lambda: len(ingest.events) == 1)
    await poller.halt()

    assert ingest.events[0].payload["message"]["text"] == "ใหม่"


async def test_webhook_info_and_keyboard_edits_are_recorded_by_the_fake(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    done = InlineKeyboardMarkup([[InlineKeyboardButton("✓", callback_data="noop")]])
    fake.queue_update(fake.user().says("รอ"))
    await set_webhook(channel, "https://tipbot.example/webhooks/telegram", SECRET)
    info = await channel.bot.get_webhook_info()
    await channel.bot.edit_message_reply_markup(chat_id=42, message_id=7, reply_markup=done)

    assert (info.url, info.pending_update_count) == ("https://tipbot.example/webhooks/telegram", 1)
    assert fake.edited_markups == [{"chat_id": "42", "message_id": "7", "reply_markup": done.to_dict()}]
