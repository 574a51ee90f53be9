"""The operator's command line, run as a real process."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests import cli_process
from tests.conftest import SECRET

ROOT = Path(__file__).resolve().parent.parent


def tipbot(
    tmp: Path, *args: str, stdin: str | None = None, fresh: bool = False, **env: str
) -> subprocess.CompletedProcess[str]:
    """`tipbot *args` as its own process (tests/cli_process.py; `fresh`: a new interpreter)."""
    full_env = {
        **os.environ,
        "TIPBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/tipbot.db",
        "TIPBOT_SECRET_KEY": SECRET,
        "TIPBOT_STORY_PAUSE": "0",
        "TIPBOT_MEDIA_DIR": str(tmp / "media"),
        **env,
    }
    return run_text(args, full_env, stdin, fresh=fresh)


def run_text(
    args: Sequence[str], env: dict[str, str], stdin: str | None = None, *, fresh: bool = False
) -> subprocess.CompletedProcess[str]:
    done = cli_process.run(
        args, env=env, cwd=ROOT, stdin=None if stdin is None else stdin.encode(), timeout=120, fresh=fresh
    )
    return subprocess.CompletedProcess(done.args, done.returncode, text(done.stdout), text(done.stderr))


def text(data: bytes) -> str:
    """As `subprocess.run(text=True)` reads it: UTF-8 with universal newlines."""
    return data.decode().replace("\r\n", "\n").replace("\r", "\n")


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
    # A new interpreter, as an operator runs it (every other command here is forked, preloaded).
    chat = tipbot(tmp_path, "chat", "--as", "somchai", stdin=REPORT, fresh=True)
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
    assert "database: sqlite" in status.stdout
    assert "possible duplicate sends: 0" in status.stdout
    assert "being sent now (leased): 0" in status.stdout
    assert "retention due now: nothing" in status.stdout
    # the export above is in the audit log; a dry run erases nothing and says so by kind
    audit_list = tipbot(tmp_path, "audit", "list")
    assert "operator:operator  export  -  csv" in audit_list.stdout
    dry = tipbot(tmp_path, "retention", "run", "--dry-run")
    assert "closed_tips      would erase 0" in dry.stdout
    assert tipbot(tmp_path, "audit", "verify").returncode == 0


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
    out = run_text(
        command,
        {**env, "TIPBOT_ENV": "production", "TIPBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db"},
    )
    assert out.returncode != 0
    assert "TIPBOT_SECRET_KEY is required" in out.stderr


def test_development_key_is_generated_once_with_private_mode(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPBOT_")}
    url = f"sqlite+aiosqlite:///{tmp_path}/dev/tipbot.db"
    for _ in range(2):
        out = run_text(["status"], {**env, "TIPBOT_DATABASE_URL": url})
        assert out.returncode == 0, out.stderr
    key = tmp_path / "dev" / "secret.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert len(key.read_text().strip()) >= 32


def test_key_rotation_reencrypts_everything(tmp_path: Path) -> None:
    chat = tipbot(tmp_path, "chat", "--as", "somchai", stdin=REPORT)
    assert chat.returncode == 0, chat.stderr
    invite = tipbot(tmp_path, "staff", "invite", "--region", "3").stdout.strip().splitlines()[-1]
    assert tipbot(tmp_path, "tips", "export").returncode == 0  # an audit row, sealed with the old key
    new_key = "a-brand-new-rotated-secret-0123456789"
    rotate = tipbot(
        tmp_path, "db", "rotate-key", TIPBOT_SECRET_KEY=new_key, TIPBOT_OLD_SECRET_KEYS=json.dumps([SECRET])
    )
    assert rotate.returncode == 0, rotate.stderr
    assert "tip: 1" in rotate.stdout and "open_invites_removed: 1" in rotate.stdout
    assert "audit_rows_resealed: 1" in rotate.stdout
    # the audit chain was re-sealed: it verifies with the new key alone
    verified = tipbot(tmp_path, "audit", "verify", TIPBOT_SECRET_KEY=new_key)
    assert "audit chain intact: 1 rows" in verified.stdout, verified.stdout + verified.stderr
    # Only the new key is needed from now on: the tip, the conversation and the chat all still work.
    after = tipbot(tmp_path, "tips", "export", "--format", "jsonl", TIPBOT_SECRET_KEY=new_key)
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["province"] == "ลำปาง"
    again = tipbot(tmp_path, "chat", "--as", "somchai", stdin="สถานะ\n", TIPBOT_SECRET_KEY=new_key)
    assert "เรื่องของคุณ (1 เรื่อง)" in again.stdout, again.stdout
    old = tipbot(tmp_path, "tips", "export", "--format", "jsonl")
    assert old.returncode != 0  # the old key alone reads nothing any more
    joined = tipbot(tmp_path, "chat", "--as", "office", stdin=f"/join {invite}\n", TIPBOT_SECRET_KEY=new_key)
    assert "รหัสเชิญไม่ถูกต้อง" in joined.stdout
    refused = tipbot(tmp_path, "db", "rotate-key", TIPBOT_SECRET_KEY=new_key)
    assert refused.returncode == 2
