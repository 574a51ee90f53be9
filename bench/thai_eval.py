"""Accuracy of the Thai extractor on the hand-written volunteer messages in bench/data/thai_eval.jsonl.

Prints per-field accuracy and the false-positive rate on messages that lack the field; always exits 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from bot.thai import extract

DATA = Path(__file__).parent / "data" / "thai_eval.jsonl"
FIELDS = ("province", "region", "district", "category", "amount_thb", "incident_date")
TARGETS = {
    "province": 0.95,
    "region": 0.95,
    "district": 0.90,
    "category": 0.85,
    "amount_thb": 0.90,
    "incident_date": 0.90,
}
FALSE_POSITIVE_LIMIT = 0.02


@dataclass
class FieldScore:
    correct: int = 0
    total: int = 0
    present: int = 0
    present_correct: int = 0
    absent: int = 0
    false_positives: int = 0
    misses: list[tuple[str, Any, Any]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 1.0

    @property
    def fp_rate(self) -> float:
        return self.false_positives / self.absent if self.absent else 0.0


def load(path: Path = DATA) -> tuple[date, list[dict[str, Any]]]:
    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    header, rows = lines[0], lines[1:]
    return date.fromisoformat(header["today"]), rows


def evaluate(path: Path = DATA) -> dict[str, FieldScore]:
    today, rows = load(path)
    scores = {f: FieldScore() for f in FIELDS}
    for row in rows:
        found = extract(row["text"], today)
        got: dict[str, Any] = {
            "province": found.province,
            "region": found.region,
            "district": found.district,
            "category": found.category,
            "amount_thb": found.amount_thb,
            "incident_date": found.incident_date.isoformat() if found.incident_date else None,
        }
        for f in FIELDS:
            if f not in row:
                continue
            want = row[f]
            s = scores[f]
            s.total += 1
            ok = got[f] == want
            s.correct += ok
            if want is None:
                s.absent += 1
                s.false_positives += got[f] is not None
            else:
                s.present += 1
                s.present_correct += ok
            if not ok:
                s.misses.append((row["text"], want, got[f]))
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--misses", action="store_true", help="list every wrong answer")
    args = parser.parse_args(argv)
    scores = evaluate()
    _, rows = load()
    print(f"messages: {len(rows)}")
    print(f"{'field':<14} {'accuracy':>9} {'target':>7} {'found/present':>14} {'false pos/absent':>17}")
    for f, s in scores.items():
        flag = "ok" if s.accuracy >= TARGETS[f] and s.fp_rate <= FALSE_POSITIVE_LIMIT else "BELOW"
        print(
            f"{f:<14} {s.accuracy:>8.1%} {TARGETS[f]:>6.0%}  {s.present_correct:>5}/{s.present:<5}"
            f"   {s.false_positives:>4}/{s.absent:<4} ({s.fp_rate:.1%})  {flag}"
        )
    if args.misses:
        for f, s in scores.items():
            for text, want, got in s.misses:
                print(f"[{f}] want={want!r} got={got!r} :: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
