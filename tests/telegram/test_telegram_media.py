"""Evidence download: getFile then the file URL, with the 20 MB ceiling and typed failures."""

from __future__ import annotations

import hashlib

import pytest

from bot.core.model import MediaGone, MediaRef, MediaTooLarge
from handlers.telegram import TelegramChannel
from tests.fakes.telegram import FakeTelegram
from tests.telegram.support import make_channel


def media_of(channel: TelegramChannel, update: dict[str, object]) -> MediaRef:
    inbound = channel.to_inbound(channel.inbox_event(update).event_id, update)
    assert inbound is not None
    assert inbound.media is not None
    return inbound.media


async def test_photo_bytes_match_what_telegram_served(fake: FakeTelegram, channel: TelegramChannel) -> None:
    photo = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 400
    media = media_of(channel, fake.user().sends_photo(photo))

    fetched = await channel.fetch_media(media)

    assert hashlib.sha256(fetched.data).hexdigest() == hashlib.sha256(photo).hexdigest()
    assert fetched.claimed_mime == "image/jpeg"
    assert fake.calls[-1:] == ["getFile"]


async def test_document_keeps_its_claimed_type(fake: FakeTelegram, channel: TelegramChannel) -> None:
    data = b"%PDF-1.7\n" + b"x" * 10_000
    media = media_of(channel, fake.user().sends_document(data, file_name="รายงาน.pdf"))

    fetched = await channel.fetch_media(media)

    assert (fetched.data, fetched.claimed_mime) == (data, "application/pdf")


async def test_claimed_size_over_20_mb_is_refused_without_a_download(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    media = media_of(channel, fake.user().sends_document(b"x", declared_size=25 * 1024 * 1024))
    calls_before = len(fake.calls)

    with pytest.raises(MediaTooLarge):
        await channel.fetch_media(media)
    assert len(fake.calls) == calls_before


async def test_file_is_too_big_from_getfile_is_media_too_large(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    media = media_of(channel, fake.user().sends_document(b"x", declared_size=21 * 1024 * 1024))
    unknown_size = MediaRef(kind=media.kind, platform_ref=media.platform_ref)

    with pytest.raises(MediaTooLarge):
        await channel.fetch_media(unknown_size)
    assert fake.calls[-1] == "getFile"


async def test_a_lower_configured_limit_applies(fake: FakeTelegram) -> None:
    channel = make_channel(fake, max_media_bytes=1000)
    await channel.start()
    try:
        media = media_of(channel, fake.user().sends_document(b"y" * 2000))
        with pytest.raises(MediaTooLarge):
            await channel.fetch_media(MediaRef(kind="file", platform_ref=media.platform_ref))
    finally:
        await channel.close()


async def test_unknown_file_is_gone(channel: TelegramChannel) -> None:
    with pytest.raises(MediaGone):
        await channel.fetch_media(MediaRef(kind="image", platform_ref="AgACAgUAAxkBAAI-no-such-file"))
