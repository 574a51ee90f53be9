"""Evidence copies: time and peak memory of stripping one file in the image worker.

Each case runs `evidence.scrub` in a fresh process (as the worker does) and prints its wall time and
the process's peak RSS (VmHWM, reset first) above the RSS it had before the file, plus the size of the
copy. Cases: a 12-megapixel phone JPEG with EXIF GPS, a 48-megapixel one (under the default bound),
a 108-megapixel one (decoded at 1/4 size), a 12-megapixel screenshot PNG, and the 14,000 × 12,000
PNG decompression bomb (refused from its header). Takes about half a minute on 2 cores.

    python bench/evidence.py
"""

from __future__ import annotations

import io
import multiprocessing as mp
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def photo(width: int, height: int, fmt: str = "JPEG") -> bytes:
    from PIL import Image, ImageDraw

    from tests.evidence_samples import planted_exif

    img = Image.new("RGB", (width, height), (90, 120, 60))
    draw = ImageDraw.Draw(img)
    for x in range(0, width, 97):  # some detail, so the encoders have work to do
        draw.line([(x, 0), (width - x, height)], fill=(x % 255, 40, 200), width=3)
    out = io.BytesIO()
    img.save(out, format=fmt, **({"exif": planted_exif(), "quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


def rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def measure(data: bytes, mime: str, queue: mp.Queue[tuple[float, int, int, str]]) -> None:
    from bot.core import evidence
    from bot.runtime.scrubber import _limit_memory

    _limit_memory(0)  # as in the worker: Pillow's own bound lifted, the evidence bound applies
    # A child starts with its parent's peak: reset the high-water mark (Linux) to this process's RSS.
    Path("/proc/self/clear_refs").write_text("5")
    before = rss_kb("VmRSS")
    started = time.perf_counter()
    copy = evidence.scrub(data, mime)
    took = time.perf_counter() - started
    peak = rss_kb("VmHWM")
    queue.put((took, (peak - before) // 1024, len(copy.data or b""), copy.outcome.value))


def main() -> None:
    from tests.evidence_samples import png_bomb

    cases = [
        ("JPEG 12 MP (4000x3000), EXIF GPS", photo(4000, 3000), "image/jpeg"),
        ("JPEG 48 MP (8000x6000), EXIF GPS", photo(8000, 6000), "image/jpeg"),
        ("JPEG 108 MP (12000x9000), EXIF GPS", photo(12000, 9000), "image/jpeg"),
        ("PNG 12 MP (4000x3000)", photo(4000, 3000, "PNG"), "image/png"),
        ("PNG bomb 168 MP (14000x12000)", png_bomb(), "image/png"),
    ]
    ctx = mp.get_context("spawn")
    print(f"{'case':<38} {'input':>9} {'time':>8} {'peak RSS +':>11} {'copy':>9}  outcome")
    for name, data, mime in cases:
        queue: mp.Queue[tuple[float, int, int, str]] = ctx.Queue()
        proc = ctx.Process(target=measure, args=(data, mime, queue))
        proc.start()
        took, peak_mb, size, outcome = queue.get()
        proc.join()
        sizes = f"{len(data) / 1e6:>7.1f}MB {took:>7.2f}s {peak_mb:>9}MB {size / 1e6:>7.1f}MB"
        print(f"{name:<38} {sizes}  {outcome}")


if __name__ == "__main__":
    main()
