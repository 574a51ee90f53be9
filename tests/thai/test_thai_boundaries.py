"""The package stays cheap to import, offline, and free of platform and storage imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("linebot", "telegram", "aiohttp", "sqlmodel", "sqlalchemy", "handlers", "storage")


def test_no_forbidden_imports() -> None:
    code = (
        "import sys, datetime, bot.thai\n"
        "bot.thai.extract('ทดสอบ', datetime.date(2025, 1, 1))\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""


def test_import_does_not_load_pythainlp_and_nothing_is_written(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHAINLP")}
    env["HOME"] = str(tmp_path)
    code = (
        "import sys, datetime, bot.thai\n"
        "assert 'pythainlp' not in sys.modules\n"
        "bot.thai.extract('เมื่อวาน ที่โคราช เรียกเงิน 5 แสน', datetime.date(2025, 1, 1))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)
    assert list(tmp_path.iterdir()) == []
