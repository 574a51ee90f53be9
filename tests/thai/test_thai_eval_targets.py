"""The hand-written evaluation set meets the accuracy targets (computed here, not copied)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "thai_eval.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("thai_eval_bench", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is built.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_eval_set_is_large_and_covers_every_region() -> None:
    bench = _bench()
    _, rows = bench.load()
    assert len(rows) >= 200
    assert {r["region"] for r in rows if r["region"]} == {"central", *map(str, range(1, 10))}


def test_eval_targets() -> None:
    bench = _bench()
    scores = bench.evaluate()
    for field, target in bench.TARGETS.items():
        s = scores[field]
        assert s.accuracy >= target, (field, s.accuracy, s.misses[:5])
        assert s.fp_rate <= bench.FALSE_POSITIVE_LIMIT, (field, s.fp_rate)


def test_development_cases_meet_the_targets() -> None:
    bench = _bench()
    scores = bench.evaluate(bench.SETS["dev"])
    for field, target in bench.TARGETS.items():
        s = scores[field]
        assert s.accuracy >= target, (field, s.accuracy, s.misses[:5])
        assert s.fp_rate <= bench.FALSE_POSITIVE_LIMIT, (field, s.fp_rate)


def test_heldout_set_is_large_varied_and_a_quarter_lacks_each_field() -> None:
    bench = _bench()
    _, rows = bench.load(bench.SETS["heldout"])
    assert len(rows) >= 200
    assert {r["region"] for r in rows if r["region"]} == {"central", *map(str, range(1, 10))}
    for field in ("province", "category", "amount_thb", "incident_date"):
        assert sum(r[field] is None for r in rows) >= len(rows) / 4, field
    assert sum(r["text"].isascii() for r in rows) >= 20  # English-only messages
    tuned = {r["text"] for r in bench.load()[1]} | {r["text"] for r in bench.load(bench.SETS["dev"])[1]}
    shared = [r for r in rows if r["text"] in tuned]
    # Only a bare greeting ("สวัสดีครับ") may be written the same way in both.
    assert all(r["province"] is r["category"] is r["amount_thb"] is None for r in shared), shared


# A floor against regressions on messages never tuned on: below round two's aims where it is not met yet
# (category, see README), never raised by tuning on the set itself.
HELDOUT_FLOOR = {
    "province": 0.95,
    "region": 0.95,
    "category": 0.88,
    "amount_thb": 0.95,
    "incident_date": 0.95,
}


def test_heldout_floor() -> None:
    bench = _bench()
    scores = bench.evaluate(bench.SETS["heldout"])
    for field, floor in HELDOUT_FLOOR.items():
        s = scores[field]
        assert s.accuracy >= floor, (field, s.accuracy)
        assert s.fp_rate <= 0.05, (field, s.fp_rate)
