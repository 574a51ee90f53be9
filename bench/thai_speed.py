"""Throughput of whole-message extraction on one core, and the import time of bot.thai.

Runs the eval messages repeatedly in one process; prints messages per second and timings.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

DATA = Path(__file__).parent / "data" / "thai_eval.jsonl"
ROUNDS = 4


def import_time() -> float:
    code = "import time; t = time.perf_counter(); import bot.thai; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main() -> int:
    print(f"import bot.thai: {import_time() * 1000:.0f} ms (fresh interpreter)")
    from bot.thai import extract
    from bot.thai.normalize import normalize

    lines = DATA.read_text("utf-8").splitlines()[1:]
    texts = [json.loads(line)["text"] for line in lines if line.strip()]
    today = date(2025, 6, 15)
    t0 = time.perf_counter()
    extract(texts[0], today)
    first_ms = (time.perf_counter() - t0) * 1000
    print(f"first extraction (loads word lists, tokenizer, gazetteer): {first_ms:.0f} ms")
    n = 0
    t0 = time.perf_counter()
    for r in range(ROUNDS):
        for text in texts:
            # A distinct suffix defeats the normalisation cache so every message is parsed afresh.
            extract(f"{text} #{r}", today)
            n += 1
    elapsed = time.perf_counter() - t0
    rate = n / elapsed
    print(f"extract: {n} messages in {elapsed:.2f} s = {rate:.0f} messages/s ({1000 / rate:.2f} ms each)")
    normalize.cache_clear()
    return 0


if __name__ == "__main__":
    sys.exit(main())
