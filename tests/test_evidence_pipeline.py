"""Evidence through the whole app: a volunteer files a tip with files on Telegram (the fake Bot API,
the real webhook and relay, the database), then staff open it with `/tip`.

What the staff chat receives is read back with Pillow and searched for the planted markers; the
stored original must still be the volunteer's file, byte for byte.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import subprocess
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image
from sqlalchemy import select

from bot.settings import Settings
from storage import tables as t
from storage.media import FileMediaStore
from tests import cli_process
from tests.conftest import SECRET
from tests.drivers_telegram import TelegramDriver, telegram_driver
from tests.evidence_samples import (
    MARK,
    animated_gif,
    assert_clean,
    jpeg_with_gps,
    picture,
    planted_exif,
    png_bomb,
    png_with_chunks,
    save,
)
from tests.fakes.telegram import Delivery
from tests.harness import FakeClock, Runner
from tests.test_cross_channel import mixed_driver

ROOT = Path(__file__).resolve().parent.parent

BEFORE_EVIDENCE = """
STAFF> /join {invite:3}
STAFF< ลงทะเบียนแชตนี้เป็นเจ้าหน้าที่ของ ปปท.เขต 3 แล้ว
> สวัสดี
> [ยินยอม]
> [ข้าม]
> [แจ้งเบาะแส]
> [จัดซื้อจัดจ้าง/ฮั้วประมูล]
> ผู้รับเหมารายเดิมได้งานทุกโครงการ ราคากลางสูงเกินจริง ถนนสร้างเสร็จไม่ถึงเดือนก็พัง
> อบต.ตาเมียง
> [ข้าม]
> อ.พนมดงรัก จ.สุรินทร์
> ปีที่แล้ว
> 2 ล้าน
< มีหลักฐานไหม
"""

AFTER_EVIDENCE = """
> [เสร็จแล้ว]
> [ไม่ต้องติดต่อ]
> [ยืนยันส่ง]
< รหัสเรื่องของคุณคือ
"""

HELD = "เก็บรักษาไว้เป็นหลักฐานแล้ว"


@dataclass
class Bench:
    driver: TelegramDriver
    runner: Runner
    settings: Settings

    async def script(self, text: str) -> None:
        for line in text.strip().splitlines():
            await self.runner.step(line.strip())

    async def file_tip(self, files: list[dict[str, Any]]) -> str:
        """A Surin tip carrying `files` (updates from the volunteer); returns its case code."""
        await self.script(BEFORE_EVIDENCE.replace("STAFF", "staff3"))
        volunteer = self.driver.user("volunteer")
        for update in files:
            await self.driver.send(update)
            await self.driver.services.settle()
        await self.script(AFTER_EVIDENCE)
        text = self.driver.fake.texts_to(volunteer.chat_id)[-1]
        return text.split("รหัสเรื่องของคุณคือ", 1)[1].split()[0]

    async def staff_view(self, code: str) -> None:
        await self.script(f"staff3> /tip {code}")

    def to_staff(self) -> list[Delivery]:
        return self.driver.fake.sent_to(self.driver.user("staff3").chat_id)

    def staff_files(self) -> list[bytes]:
        return [d.file for d in self.to_staff() if d.file is not None]

    async def originals(self) -> list[bytes]:
        store = FileMediaStore(self.settings.media_dir)
        async with self.driver.services.store.transaction() as uow:
            rows = (await uow.session.execute(select(t.Attachment).order_by(t.Attachment.id))).scalars().all()
            return [store.get(r.storage_name) for r in rows]


@pytest.fixture
async def bench(settings: Settings, tmp_path: Path) -> AsyncIterator[Bench]:
    clock = FakeClock()
    async with telegram_driver(settings, clock, tmp_path) as driver:
        yield Bench(driver, Runner(driver, clock), settings)


def tiff_with_gps() -> bytes:
    return save(picture(), "TIFF", exif=planted_exif())


def webp_with_gps() -> bytes:
    return save(picture(), "WEBP", exif=planted_exif(), xmp=f"<x>{MARK}</x>".encode())


async def test_staff_get_evidence_copies_without_gps_camera_or_text_chunks_in_every_format(
    bench: Bench,
) -> None:
    user = bench.driver.user("volunteer")
    sent = {
        "tiff": tiff_with_gps(),
        "png": png_with_chunks(),
        "webp": webp_with_gps(),
        "gif": animated_gif(),
        "jpeg": jpeg_with_gps(),
    }
    updates = [
        user.sends_document(sent["tiff"], file_name="scan.tif", mime_type="image/tiff"),
        user.sends_document(sent["png"], file_name="screen.png", mime_type="image/png"),
        user.sends_document(sent["webp"], file_name="chat.webp", mime_type="image/webp"),
        user.sends_document(sent["gif"], file_name="clip.gif", mime_type="image/gif"),
        user.sends_photo(sent["jpeg"]),
    ]
    code = await bench.file_tip(updates)
    stored = await bench.originals()
    # the stored originals are the volunteer's files, planted metadata and all
    assert [hashlib.sha256(s).hexdigest() for s in stored] == [
        hashlib.sha256(s).hexdigest() for s in sent.values()
    ]
    assert all(MARK.encode() in s or Image.open(io.BytesIO(s)).getexif() for s in stored)

    await bench.staff_view(code)
    files = bench.staff_files()
    assert len(files) == len(sent)
    for copy in files:
        assert_clean(copy)
    assert not any(HELD in (d.text or "") for d in bench.to_staff())
    assert await bench.originals() == stored


async def test_a_truncated_jpeg_with_gps_is_held_and_staff_get_the_notice_not_the_file(bench: Bench) -> None:
    user = bench.driver.user("volunteer")
    truncated = jpeg_with_gps((640, 480))[:3000]  # a download cut short: the GPS block is whole
    assert Image.open(io.BytesIO(truncated)).getexif()
    corrupt = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    code = await bench.file_tip(
        [
            user.sends_photo(truncated),
            user.sends_document(corrupt, file_name="broken.png", mime_type="image/png"),
        ]
    )
    await bench.staff_view(code)
    assert bench.staff_files() == []
    notices = [d.text for d in bench.to_staff() if d.text and HELD in d.text]
    assert len(notices) == 2
    assert f"หลักฐานชิ้นที่ 1/2 ของเรื่อง {code}" in notices[0]
    assert f"หลักฐานชิ้นที่ 2/2 ของเรื่อง {code}" in notices[1]
    assert [hashlib.sha256(s).digest() for s in await bench.originals()] == [
        hashlib.sha256(truncated).digest(),
        hashlib.sha256(corrupt).digest(),
    ]


async def test_a_pdf_is_held_by_default_since_it_may_name_its_author(bench: Bench) -> None:
    user = bench.driver.user("volunteer")
    pdf = b"%PDF-1.4\n1 0 obj << /Author (" + MARK.encode() + b") >> endobj\n%%EOF\n"
    code = await bench.file_tip([user.sends_document(pdf)])
    await bench.staff_view(code)
    assert bench.staff_files() == []
    assert any(HELD in (d.text or "") for d in bench.to_staff())


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # as in production
async def test_a_decompression_bomb_neither_freezes_the_server_nor_takes_its_memory(bench: Bench) -> None:
    bomb = png_bomb()  # 14,000 × 12,000 pixels in about half a megabyte
    user = bench.driver.user("volunteer")
    code = await bench.file_tip([user.sends_document(bomb, file_name="photo.png", mime_type="image/png")])

    base_url = bench.driver.webhook_url.split("/webhooks/", 1)[0]
    baseline = rss_bytes()
    peak = baseline
    sampling = True

    def sample() -> None:  # a thread: it must see the peak even while the loop is blocked
        nonlocal peak
        while sampling:
            peak = max(peak, rss_bytes())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    latencies: list[float] = []
    viewing = asyncio.create_task(bench.staff_view(code))
    try:
        async with aiohttp.ClientSession() as http:
            while not viewing.done() or len(latencies) < 5:
                started = time.monotonic()
                async with http.get(base_url + "/healthz") as response:
                    assert response.status == 200
                latencies.append(time.monotonic() - started)
                await asyncio.sleep(0.02)
        await viewing
    finally:
        sampling = False
        sampler.join()
    assert max(latencies) < 1.0, f"/healthz took {max(latencies):.2f} s while staff viewed the tip"
    assert peak - baseline < 300 * 1024 * 1024, f"the server grew by {(peak - baseline) >> 20} MB"
    assert bench.staff_files() == []
    assert any(HELD in (d.text or "") for d in bench.to_staff())


# -- the operator fetches a held file -------------------------------------------------------------


def tipbot(settings: Settings, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {
        **os.environ,
        "TIPBOT_DATABASE_URL": settings.database_url,
        "TIPBOT_SECRET_KEY": SECRET,
        "TIPBOT_STORY_PAUSE": "0",
        "TIPBOT_MEDIA_DIR": str(settings.media_dir),
    }
    return cli_process.run(args, env=env, cwd=ROOT, timeout=120)


async def test_an_operator_fetches_the_original_evidence_file_from_the_command_line(
    bench: Bench, tmp_path: Path
) -> None:
    user = bench.driver.user("volunteer")
    truncated = jpeg_with_gps((640, 480))[:3000]
    photo = jpeg_with_gps()
    code = await bench.file_tip([user.sends_photo(photo), user.sends_photo(truncated)])
    out = tmp_path / "evidence-2.jpg"

    done = await asyncio.to_thread(tipbot, bench.settings, "evidence", "get", code, "2", "--out", str(out))
    assert done.returncode == 0, done.stderr.decode()
    assert out.read_bytes() == truncated  # the original, GPS and all: for the investigation only
    async with bench.driver.services.store.transaction() as uow:
        events = (await uow.session.execute(select(t.TipEvent.action))).scalars().all()
    assert "evidence_fetched" in events

    again = await asyncio.to_thread(tipbot, bench.settings, "evidence", "get", code, "1", "--out", str(out))
    assert again.returncode != 0 and b"exists" in again.stderr
    assert out.read_bytes() == truncated  # never overwritten

    for wrong in ((code, "3"), ("TB-NOSUCH", "1"), (code, "0")):
        missing = await asyncio.to_thread(
            tipbot, bench.settings, "evidence", "get", *wrong, "--out", str(tmp_path / "x")
        )
        assert missing.returncode != 0 and not (tmp_path / "x").exists()


# -- a LINE volunteer, a Telegram staff group ------------------------------------------------------


async def test_a_line_volunteers_photos_reach_telegram_staff_stripped_or_not_at_all(
    settings: Settings,
) -> None:
    # LINE staff chats never get files (LINE sends media only by public URL): only copies to
    # Telegram staff can carry metadata, whichever platform the volunteer used.
    clock = FakeClock()
    photo, truncated = jpeg_with_gps(), jpeg_with_gps((640, 480))[:3000]
    async with mixed_driver(settings, clock) as driver:
        runner = Runner(driver, clock)
        for line in BEFORE_EVIDENCE.replace("STAFF", "staff3tg").strip().splitlines():
            await runner.step(line.strip())
        await driver.image("volunteer", photo, "road.jpg")
        await driver.services.settle()
        await driver.image("volunteer", truncated, "cut.jpg")
        await driver.services.settle()
        for line in AFTER_EVIDENCE.strip().splitlines():
            await runner.step(line.strip())
        await runner.step("staff3tg> /tip {code}")
        to_staff = driver.telegram.fake.sent_to(driver.telegram.user("staff3tg").chat_id)
        files = [d.file for d in to_staff if d.file is not None]
        assert len(files) == 1
        assert_clean(files[0])
        assert sum(HELD in (d.text or "") for d in to_staff) == 1
