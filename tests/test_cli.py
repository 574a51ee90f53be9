"""The operator's command line, run as a real process."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SECRET

ROOT = Path(__file__).resolve().parent.parent


def tipbot(tmp: Path, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "TIPBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/tipbot.db",
        "TIPBOT_SECRET_KEY": SECRET,
        "TIPBOT_MEDIA_DIR": str(tmp / "media"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=full_env,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


REPORT = """1
ข้าม
1
13
=HYPERLINK("http://evil.example","คลิก") มีคนแอบเอาเงินกองทุนหมู่บ้านไปใช้
@SUM(1+1)
-ปลัด
ลำปาง
ข้าม
ข้าม
1
1
0812345678 ทองดี
1
"""


def test_terminal_chat_export_and_status(tmp_path: Path) -> None:
    chat = tipbot(tmp_path, "chat", "--as", "somchai", stdin=REPORT)
    assert chat.returncode == 0, chat.stderr
    assert "รหัสเรื่องของคุณคือ TB-" in chat.stdout
    assert "Traceback" not in chat.stdout + chat.stderr

    jsonl = tipbot(tmp_path, "tips", "export", "--format", "jsonl")
    rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["region"] == "5" and rows[0]["province"] == "ลำปาง"
    out = tipbot(tmp_path, "tips", "export", "--format", "csv").stdout
    assert "somchai" not in out and "0812345678" not in out and "ทองดี" not in out
    cells = [c for row in csv.reader(io.StringIO(out)) for c in row]
    for cell in cells:
        assert not cell.lstrip().startswith(("=", "+", "-", "@")), cell
    assert any(c.startswith("'=HYPERLINK") for c in cells)

    status = tipbot(tmp_path, "status")
    assert "region       5  received" in status.stdout
    assert "routing gaps: 1" in status.stdout


def test_staff_invite_prints_the_code_last(tmp_path: Path) -> None:
    out = tipbot(tmp_path, "staff", "invite", "--region", "3", "--role", "organizer")
    assert out.returncode == 0, out.stderr
    code = out.stdout.strip().splitlines()[-1]
    assert code.startswith("JOIN-") and len(code) == 16
    joined = tipbot(tmp_path, "chat", "--as", "office3", stdin=f"/join {code}\n/join {code}\n")
    assert "ผู้ประสานงานเครือข่ายของ ปปท.เขต 3" in joined.stdout
    assert "ใช้ไปแล้ว" in joined.stdout  # single use
    bad = tipbot(tmp_path, "staff", "invite", "--region", "10")
    assert bad.returncode != 0


def test_parse_reads_many_lines_in_one_process(tmp_path: Path) -> None:
    lines = ["นายก อบต.ตาเมียง จ.สุรินทร์ เรียกเงิน 5 หมื่นบาท"] * 500 + ["ไม่มีอะไร"] * 500
    out = tipbot(tmp_path, "parse", "-", "--today", "2026-11-23", stdin="\n".join(lines) + "\n")
    assert out.returncode == 0, out.stderr
    parsed = [json.loads(x) for x in out.stdout.splitlines()]
    assert len(parsed) == 1000
    assert (
        parsed[0]["province"] == "สุรินทร์" and parsed[0]["amount_thb"] == 50000 and parsed[0]["region"] == "3"
    )
    assert parsed[-1]["province"] is None
    one = json.loads(tipbot(tmp_path, "parse", "เมื่อวาน ที่โคราช", "--today", "2026-11-23").stdout)
    assert one["incident_date"] == "2026-11-22" and one["province"] == "นครราชสีมา"


@pytest.mark.parametrize("command", [["status"], ["serve", "--port", "1"]])
def test_production_refuses_to_start_without_a_secret(tmp_path: Path, command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPBOT_")}
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", *command],
        env={
            **env,
            "TIPBOT_ENV": "production",
            "TIPBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db",
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "TIPBOT_SECRET_KEY is required" in out.stderr


def test_development_key_is_generated_once_with_private_mode(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPBOT_")}
    url = f"sqlite+aiosqlite:///{tmp_path}/dev/tipbot.db"
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-m", "bot.cli", "status"],
            env={**env, "TIPBOT_DATABASE_URL": url},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
    key = tmp_path / "dev" / "secret.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert len(key.read_text().strip()) >= 32
