"""LineChannel.fetch_media and acknowledge against the fake content host."""

from __future__ import annotations

import hashlib
import os

import pytest

from bot.core.model import MediaGone, MediaNotReady, MediaRef, MediaTooLarge
from handlers.line import LineChannel
from tests.fakes.line import FakeLine


def ref_of(channel: LineChannel, event: dict) -> MediaRef:
    inbound = channel.to_inbound(event["webhookEventId"], event)
    assert inbound is not None
    assert inbound.media is not None
    return inbound.media


async def test_downloaded_bytes_match_what_was_sent(line: FakeLine, channel: LineChannel) -> None:
    photo = os.urandom(300_000)
    media = ref_of(channel, line.user().image(photo, content_type="image/jpeg"))
    fetched = await channel.fetch_media(media)
    assert hashlib.sha256(fetched.data).hexdigest() == hashlib.sha256(photo).hexdigest()
    assert fetched.claimed_mime == "image/jpeg"


async def test_file_download(line: FakeLine, channel: LineChannel) -> None:
    document = b"%PDF-1.7\n" + os.urandom(10_000)
    media = ref_of(channel, line.user().file(document, "หลักฐาน.pdf"))
    assert media.file_name == "หลักฐาน.pdf"
    assert (await channel.fetch_media(media)).data == document


async def test_content_not_ready_yet(line: FakeLine, channel: LineChannel) -> None:
    clip = os.urandom(5_000)
    media = ref_of(channel, line.user().media("video", clip, content_type="video/mp4", not_ready=2))
    for _ in range(2):
        with pytest.raises(MediaNotReady):
            await channel.fetch_media(media)
    fetched = await channel.fetch_media(media)
    assert fetched.data == clip
    assert fetched.claimed_mime == "video/mp4"


async def test_unsent_or_unknown_content_is_gone(line: FakeLine, channel: LineChannel) -> None:
    user = line.user()
    event = user.image(b"x")
    media = ref_of(channel, event)
    user.unsend(event["message"]["id"])
    with pytest.raises(MediaGone):
        await channel.fetch_media(media)
    with pytest.raises(MediaGone):
        await channel.fetch_media(MediaRef(kind="image", platform_ref="999999"))


async def test_content_over_the_limit_is_refused(line: FakeLine, channel_factory) -> None:
    small = await channel_factory(max_media_bytes=1_000)
    media = ref_of(small, line.user().image(os.urandom(1_001)))
    with pytest.raises(MediaTooLarge):
        await small.fetch_media(media)
    exactly = ref_of(small, line.user().image(os.urandom(1_000)))
    assert len((await small.fetch_media(exactly)).data) == 1_000


async def test_claimed_file_size_over_the_limit_is_refused_without_download(
    line: FakeLine, channel_factory
) -> None:
    small = await channel_factory(max_media_bytes=1_000)
    event = line.user().file(os.urandom(5_000), "big.zip")
    with pytest.raises(MediaTooLarge):
        await small.fetch_media(ref_of(small, event))
    assert line.content[event["message"]["id"]].downloads == 0


async def test_server_trouble_means_try_later(line: FakeLine, channel: LineChannel) -> None:
    media = ref_of(channel, line.user().image(b"x"))
    line.fail_next("content", status=500)
    with pytest.raises(MediaNotReady):
        await channel.fetch_media(media)
    line.rate_limit_next("content")
    with pytest.raises(MediaNotReady):
        await channel.fetch_media(media)
    assert (await channel.fetch_media(media)).data == b"x"


async def test_loading_indicator_only_in_private_chats_when_enabled(
    line: FakeLine, channel: LineChannel, channel_factory
) -> None:
    user = line.user()
    private = channel.to_inbound("e1", user.text("x"))
    group = channel.to_inbound("e2", user.in_group().text("x"))
    assert private is not None
    assert group is not None
    await channel.acknowledge(private)  # disabled by default
    assert line.loading == []

    showing = await channel_factory(loading_indicator=True)
    await showing.acknowledge(private)
    await showing.acknowledge(group)
    assert line.loading == [{"chatId": user.user_id, "loadingSeconds": 5}]

    line.fail_next("loading", status=500)
    await showing.acknowledge(private)  # cosmetic: failures are swallowed
