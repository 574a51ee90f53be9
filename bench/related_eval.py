"""Pairwise precision and recall of related-tip matching, per signal and combined.

    python bench/related_eval.py                # the tuning set and the held-out set
    python bench/related_eval.py --sweep        # also the combined score at other thresholds (tuning set)
    python bench/related_eval.py --misses       # list the pairs the combined score gets wrong

Every pair of tips in a set is one question "same matter?"; the truth is the tips' group. The later
tip is matched against the earlier one exactly as the app does (its query features against the
earlier tip's indexed features; hashing changes nothing about equality). For comparison, two
narrative measures that a blind index cannot serve (they need both plain texts) are scored too:
rapidfuzz's token_set_ratio on PyThaiNLP tokens and character 3-gram Jaccard.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.related import (  # noqa: E402
    DEFAULT_WEIGHTS,
    KINDS,
    STORY,
    Candidate,
    Facts,
    Signals,
    kind_of,
    score,
    signals,
    story_words,
)

DATA = ROOT / "bench" / "data"
SETS = {"tuning": DATA / "related_eval.jsonl", "held out": DATA / "related_heldout.jsonl"}


@dataclass
class Tip:
    row: dict
    sig: Signals
    when: date


def load(path: Path) -> list[Tip]:
    tips = []
    for line in path.read_text("utf-8").splitlines():
        row = json.loads(line)
        when = date.fromisoformat(row["date"])
        facts = Facts(
            row["category"],
            row["narrative"],
            row["agency"],
            row["official"],
            row["province"],
            row["district"],
            when,
        )
        tips.append(Tip(row, signals(facts), when))
    tips.sort(key=lambda t: t.when)
    return tips


def candidate(new: Tip, old: Tip) -> Candidate:
    shared = set(new.sig.query) & set(old.sig.index)
    hits = Counter(kind_of(f) for f in shared)
    from datetime import UTC, datetime

    return Candidate(0, old.row["id"], old.row["region"], old.row["category"], "received", None,
                     datetime.now(UTC), dict(hits), old.sig.story_size)  # fmt: skip


def prf(pairs: list[tuple[bool, bool]]) -> tuple[float, float, int, int, int]:
    tp = sum(1 for truth, said in pairs if truth and said)
    fp = sum(1 for truth, said in pairs if not truth and said)
    fn = sum(1 for truth, said in pairs if truth and not said)
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, tp, fp, fn


def evaluate(tips: list[Tip], *, sweep: bool, misses: bool, extra: bool) -> None:
    pairs = list(combinations(tips, 2))  # earlier first (sorted by date)
    truth = [a.row["group"] == b.row["group"] for a, b in pairs]
    cands = [candidate(b, a) for a, b in pairs]
    positives = sum(truth)
    groups = len({t.row["group"] for t in tips})
    print(f"  {len(tips)} tips, {groups} groups, {len(pairs)} pairs, {positives} same-matter")
    print(f"  {'signal':<34} {'precision':>9} {'recall':>7} {'tp':>5} {'fp':>5} {'fn':>5}")

    def line(name: str, said: list[bool]) -> None:
        p, r, tp, fp, fn = prf(list(zip(truth, said, strict=True)))
        print(f"  {name:<34} {p:>9.3f} {r:>7.3f} {tp:>5} {fp:>5} {fn:>5}")

    for kind in KINDS:
        if kind == STORY:
            continue
        line(kind, [c.hits.get(kind, 0) > 0 for c in cands])
    for gate in (0.15, 0.3, 0.5):
        line(f"story (sampled words, ≥{gate:.2f})", [
            c.hits.get(STORY, 0) / max(1, min(b.sig.story_size, c.story_size or 1)) >= gate
            for c, (_, b) in zip(cands, pairs, strict=True)
        ])  # fmt: skip
    if extra:
        texts = _plain_measures(pairs)
        for name, values in texts.items():
            for gate in (50, 70):
                line(f"{name} ≥{gate}", [v >= gate for v in values])
    combined = [score(b.sig, b.row["category"], c)[0] for c, (_, b) in zip(cands, pairs, strict=True)]
    line(
        f"combined (score ≥ {DEFAULT_WEIGHTS.threshold:.2f})",
        [s >= DEFAULT_WEIGHTS.threshold for s in combined],
    )
    if sweep:
        for th in (0.35, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8):
            line(f"  combined at {th:.2f}", [s >= th for s in combined])
    if misses:
        for (a, b), t, s in zip(pairs, truth, combined, strict=True):
            said = s >= DEFAULT_WEIGHTS.threshold
            if t != said:
                print(
                    f"  {'MISSED' if t else 'WRONG '} {s:.2f} {a.row['id']} / {b.row['id']} ({b.row['note']})"
                )
                print(f"      {a.row['agency']} | {a.row['narrative']}")
                print(f"      {b.row['agency']} | {b.row['narrative']}")


def _plain_measures(pairs: list[tuple[Tip, Tip]]) -> dict[str, list[float]]:
    from rapidfuzz import fuzz

    words: dict[str, str] = {}
    grams: dict[str, set[str]] = {}

    def w(t: Tip) -> str:
        if t.row["id"] not in words:
            words[t.row["id"]] = " ".join(story_words(t.row["narrative"]))
        return words[t.row["id"]]

    def g(t: Tip) -> set[str]:
        if t.row["id"] not in grams:
            s = "".join(t.row["narrative"].split())
            grams[t.row["id"]] = {s[i : i + 3] for i in range(len(s) - 2)}
        return grams[t.row["id"]]

    measures: dict[str, Callable[[Tip, Tip], float]] = {
        "rapidfuzz token_set_ratio": lambda a, b: fuzz.token_set_ratio(w(a), w(b)),
        "char 3-gram Jaccard ×100": lambda a, b: 100 * len(g(a) & g(b)) / max(1, len(g(a) | g(b))),
    }
    return {name: [f(a, b) for a, b in pairs] for name, f in measures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--misses", action="store_true")
    parser.add_argument("--no-extra", action="store_true", help="skip the plain-text narrative measures")
    args = parser.parse_args()
    for name, path in SETS.items():
        print(f"{name} set ({path.relative_to(ROOT)})")
        evaluate(
            load(path), sweep=args.sweep and name == "tuning", misses=args.misses, extra=not args.no_extra
        )
        print()


if __name__ == "__main__":
    main()
