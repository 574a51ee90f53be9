"""The evidence module over many formats: the copy staff may see carries pixels only, or nothing;
and the image worker that runs it in a memory-capped process.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from bot.core import evidence
from bot.core.evidence import Outcome
from bot.runtime.scrubber import Scrubber
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
    tiff_pages,
)

SAMPLES: dict[str, Callable[[], bytes]] = {
    "jpeg": jpeg_with_gps,
    "mpo": lambda: save(picture(), "MPO", exif=planted_exif(), save_all=True, append_images=[picture()]),
    "tiff": lambda: save(picture(), "TIFF", exif=planted_exif()),
    "tiff_cmyk": lambda: save(picture().convert("CMYK"), "TIFF", exif=planted_exif()),
    "tiff_pages": tiff_pages,
    "png": png_with_chunks,
    "png_palette": lambda: save(picture().convert("P"), "PNG", exif=planted_exif()),
    "png_16bit_grey": lambda: save(picture(mode="I;16"), "PNG", exif=planted_exif()),
    "webp": lambda: save(picture(), "WEBP", exif=planted_exif(), xmp=f"<x>{MARK}</x>".encode()),
    "webp_alpha": lambda: save(picture(mode="RGBA"), "WEBP", exif=planted_exif()),
    "gif": lambda: save(picture().convert("P"), "GIF", comment=MARK.encode()),
    "gif_animated": animated_gif,
    "bmp": lambda: save(picture(), "BMP"),
    "ppm": lambda: save(picture(), "PPM"),  # unknown to the sniffer: Pillow still reads it
    "tga": lambda: save(picture(), "TGA"),
    "ico": lambda: save(picture(), "ICO"),
    "jpeg2000": lambda: save(picture(), "JPEG2000"),
    "avif": lambda: save(picture(), "AVIF", exif=planted_exif()),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_format_pillow_reads_comes_back_as_pixels_only(name: str) -> None:
    original = SAMPLES[name]()
    kept = bytes(original)
    found = evidence.inspect(original)
    copy = evidence.scrub(original, found.mime)
    assert copy.outcome == Outcome.STRIPPED and copy.data is not None, copy.outcome
    img = assert_clean(copy.data)
    assert img.size[0] >= 32 and img.size[1] >= 32
    assert original == kept  # the stored original is never touched


def test_the_frames_of_an_animation_or_a_scanned_document_are_kept() -> None:
    for data, fmt in ((animated_gif(), "GIF"), (tiff_pages(), "TIFF")):
        copy = evidence.scrub(data, evidence.inspect(data).mime).data
        assert copy is not None
        img = assert_clean(copy)
        assert (img.format, getattr(img, "n_frames", 1)) == (fmt, 3)


def test_a_photo_taken_sideways_is_turned_upright_once_its_exif_is_gone() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    copy = evidence.scrub(save(picture((60, 20)), "JPEG", exif=exif), "image/jpeg").data
    assert copy is not None
    assert assert_clean(copy).size == (20, 60)


@pytest.mark.parametrize(
    ("name", "data", "mime"),
    [
        ("truncated jpeg with gps", jpeg_with_gps()[:400], "image/jpeg"),
        ("truncated png", png_with_chunks()[:-60], "image/png"),
        ("jpeg header then garbage", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8, "image/jpeg"),
        (
            "a heic pillow has no plugin for",
            b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
            "image/heic",
        ),
    ],
)
def test_an_image_that_cannot_be_stripped_is_held_never_sent_as_stored(
    name: str, data: bytes, mime: str
) -> None:
    copy = evidence.scrub(data, mime)
    assert copy.held and copy.data is None
    assert copy.outcome == Outcome.HELD_UNREADABLE


def test_a_decompression_bomb_is_refused_from_its_header_without_decoding() -> None:
    bomb = png_bomb()
    assert len(bomb) < 1024 * 1024
    started = time.perf_counter()
    copy = evidence.scrub(bomb, "image/png")
    assert copy.held and copy.outcome == Outcome.HELD_TOO_LARGE
    assert time.perf_counter() - started < 1.0  # generous: decoding it would take seconds


def test_the_pixel_bound_is_a_setting_and_a_big_jpeg_is_decoded_smaller_instead() -> None:
    photo = jpeg_with_gps((2000, 1500))
    copy = evidence.scrub(photo, "image/jpeg", max_pixels=1_000_000)
    assert copy.data is not None
    assert assert_clean(copy.data).size == (1000, 750)
    assert evidence.scrub(photo, "image/jpeg", max_pixels=40_000).outcome == Outcome.HELD_TOO_LARGE
    png = png_with_chunks()  # 64 × 48: no lossless format is decoded smaller
    assert evidence.scrub(png, "image/png", max_pixels=1000).outcome == Outcome.HELD_TOO_LARGE


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.4\n1 0 obj << /Author (" + MARK.encode() + b") >> endobj\n%%EOF",
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + MARK.encode(),
        "บันทึกข้อความ ไม่ใช่รูป".encode(),
    ],
    ids=["pdf", "mp4", "text"],
)
def test_other_files_are_held_unless_the_operator_allows_them_as_stored(data: bytes) -> None:
    mime = evidence.inspect(data).mime
    assert evidence.scrub(data, mime) == evidence.Scrubbed(None, Outcome.HELD_FILE)
    assert evidence.scrub(data, mime, send_files=True) == evidence.Scrubbed(data, Outcome.AS_IS)


def test_an_image_disguised_as_a_document_is_still_stripped_or_held() -> None:
    # the sniffer does not know PPM; whatever it says, Pillow gets to look at unknown bytes
    data = save(picture(), "PPM") + MARK.encode()
    copy = evidence.scrub(data, "application/octet-stream", send_files=True)
    assert copy.outcome == Outcome.STRIPPED and copy.data is not None
    assert_clean(copy.data)


# -- the worker process ---------------------------------------------------------------------------


async def test_the_worker_process_strips_off_the_event_loop() -> None:
    scrubber = Scrubber(processes=1, timeout=60)
    try:
        copy = await scrubber.scrub(jpeg_with_gps(), "image/jpeg")
        assert copy.data is not None
        assert_clean(copy.data)
        # the loop keeps turning while the worker decodes a full 50-megapixel-class photo
        big = save(picture((6000, 4000)), "JPEG", exif=planted_exif())
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        copy = await scrubber.scrub(big, "image/jpeg")
        ticker.cancel()
        assert copy.data is not None and ticks > 3
    finally:
        await scrubber.close()


async def test_a_file_that_needs_more_memory_than_the_cap_is_held_and_the_worker_goes_on() -> None:
    hungry = save(Image.new("RGBA", (7000, 7000)), "PNG")  # 49 MP, under the pixel bound: 196 MB a copy
    scrubber = Scrubber(processes=1, memory_bytes=256 * 1024 * 1024, timeout=60)
    try:
        copy = await scrubber.scrub(hungry, "image/png")
        assert copy.held and copy.outcome == Outcome.HELD_WORKER
        assert (await scrubber.scrub(jpeg_with_gps(), "image/jpeg")).outcome == Outcome.STRIPPED
    finally:
        await scrubber.close()


async def test_a_worker_that_hangs_or_dies_is_replaced() -> None:
    # a timeout far shorter than starting a process: the first file is held and its worker killed
    scrubber = Scrubber(processes=1, timeout=0.001)
    try:
        assert (await scrubber.scrub(jpeg_with_gps(), "image/jpeg")).outcome == Outcome.HELD_WORKER
        scrubber.timeout = 60
        assert (await scrubber.scrub(jpeg_with_gps(), "image/jpeg")).outcome == Outcome.STRIPPED
    finally:
        await scrubber.close()


def worker_pids() -> list[int]:
    """This process's image workers (spawned children running `spawn_main`, not the resource tracker)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            pids.append(int(stat.parent.name))
    return pids


async def test_a_worker_killed_by_the_kernel_is_restarted() -> None:
    scrubber = Scrubber(processes=1, timeout=60)
    try:
        assert (await scrubber.scrub(jpeg_with_gps(), "image/jpeg")).outcome == Outcome.STRIPPED
        (pid,) = worker_pids()
        os.kill(pid, signal.SIGKILL)  # what the OOM killer does
        await asyncio.sleep(0.5)
        assert (await scrubber.scrub(jpeg_with_gps(), "image/jpeg")).outcome == Outcome.STRIPPED
        assert worker_pids() and pid not in worker_pids()
    finally:
        await scrubber.close()


def test_the_sha256_of_the_original_is_what_inspect_reports() -> None:
    data = jpeg_with_gps()
    assert evidence.inspect(data).sha256 == hashlib.sha256(data).hexdigest()
