"""The parse command helper: one JSON object per message, batch mode over stdin in one process."""

from __future__ import annotations

import io
import json
import time
from datetime import date

from bot.thai.cli import run

KEYS = {
    "province",
    "district",
    "region",
    "category",
    "future_date",
    "amount_thb",
    "incident_date",
    "agency",
    "official",
    "normalized_text",
}


def test_single_message() -> None:
    out = io.StringIO()
    code = run("นายก อบต.หนองบัว จ.สุรินทร์ เรียกเงินใต้โต๊ะ ห้าแสนบาท เมื่อวาน", date(2025, 6, 15), io.StringIO(), out)
    assert code == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert set(data) == KEYS
    assert data["province"] == "สุรินทร์"
    assert data["region"] == "3"
    assert data["category"] == "bribery"
    assert data["amount_thb"] == 500000
    assert data["incident_date"] == "2025-06-14"
    assert "สุรินทร์" in lines[0]  # ensure_ascii=False


def test_batch_of_a_thousand_lines() -> None:
    messages = [f"ตำรวจ จ.ตาก เรียกเงิน {i + 1} พันบาท" for i in range(1000)]
    out = io.StringIO()
    start = time.perf_counter()
    assert run("-", date(2025, 6, 15), io.StringIO("\n".join(messages) + "\n"), out) == 0
    elapsed = time.perf_counter() - start
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(rows) == 1000
    assert rows[4]["amount_thb"] == 5000
    assert all(r["province"] == "ตาก" for r in rows)
    assert elapsed < 20


def test_unknown_fields_are_null() -> None:
    out = io.StringIO()
    run("สวัสดีครับ", date(2025, 6, 15), io.StringIO(), out)
    data = json.loads(out.getvalue())
    assert data["province"] is None
    assert data["incident_date"] is None
    assert data["normalized_text"] == "สวัสดีครับ"
