"""Throughput of whole-message extraction on one core, import time and memory of bot.thai.

Runs the eval messages repeatedly in one process and prints messages per second by CPU time (what one
core delivers, steady on a shared machine) and by wall-clock time, the first extraction's time, and the
process's resident memory (RSS) after import, after the first extraction and after every round (flat
rounds mean no growth).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

DATA = Path(__file__).parent / "data" / "thai_eval.jsonl"
ROUNDS = 6


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def import_time() -> float:
    code = "import time; t = time.perf_counter(); import bot.thai; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main() -> int:
    print(f"import bot.thai: {import_time() * 1000:.0f} ms (fresh interpreter)")
    before = rss_mb()
    from bot.thai import extract
    from bot.thai.normalize import normalize

    print(f"RSS: {before:.0f} MB before import, {rss_mb():.0f} MB after import")
    lines = DATA.read_text("utf-8").splitlines()[1:]
    texts = [json.loads(line)["text"] for line in lines if line.strip()]
    today = date(2025, 6, 15)
    t0 = time.perf_counter()
    extract(texts[0], today)
    first_ms = (time.perf_counter() - t0) * 1000
    print(f"first extraction (loads word lists, tokenizer, gazetteer): {first_ms:.0f} ms")
    print(f"RSS after the first extraction: {rss_mb():.0f} MB")
    cpu_rates: list[float] = []
    wall_rates: list[float] = []
    for r in range(ROUNDS):
        c0, w0 = time.process_time(), time.perf_counter()
        for text in texts:
            # A distinct suffix defeats the normalisation cache so every message is parsed afresh.
            extract(f"{text} #{r}", today)
        cpu_rates.append(len(texts) / (time.process_time() - c0))
        wall_rates.append(len(texts) / (time.perf_counter() - w0))
        rates = f"{cpu_rates[-1]:.0f} msg/s CPU, {wall_rates[-1]:.0f} msg/s wall"
        print(f"round {r + 1}: {rates}, RSS {rss_mb():.0f} MB")
    cpu, wall = statistics.median(cpu_rates), statistics.median(wall_rates)
    print(
        f"extract, median of {ROUNDS} rounds of {len(texts)} messages: {cpu:.0f} messages/s by CPU time "
        f"({1000 / cpu:.2f} ms each), {wall:.0f} messages/s by wall clock"
    )
    normalize.cache_clear()
    return 0


if __name__ == "__main__":
    sys.exit(main())
