"""What an operator reads: `tipbot status` names the case codes behind routing gaps and failed
sends and warns about regions (and a central office) without a staff chat, also at start-up;
`tips export --format csv` opens in Excel with Thai intact, Thai time and Thai labels beside the
codes, the full status included."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import os
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app, open_store
from bot.cli.main import main, open_hint
from bot.core.model import TipRecord
from bot.runtime.staff import StaffDesk
from storage import tables as t
from tests.conftest import SECRET, make_settings

CREATED = datetime(2026, 12, 2, 3, 30, tzinfo=UTC)  # 10:30 Thai time


def record(code: str, region: str, province: str | None) -> TipRecord:
    return TipRecord(
        case_code=code,
        category="bribery",
        narrative="เจ้าหน้าที่เรียกเงิน",
        agency="อบต.ตัวอย่าง",
        official="ปลัด",
        province=province,
        district=None,
        region=region,
        incident_date=date(2026, 11, 3),
        incident_date_text=None,
        amount_thb=3000,
        contact_ok=False,
        contact_how=None,
        location=None,
        attachment_ids=(),
    )


@pytest.fixture
def operator_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TIPBOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/tipbot.db")
    monkeypatch.setenv("TIPBOT_SECRET_KEY", SECRET)
    monkeypatch.setenv("TIPBOT_STORY_PAUSE", "0")
    monkeypatch.setenv("TIPBOT_MEDIA_DIR", str(tmp_path / "media"))
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    return tmp_path


async def seed(tmp_path: Path) -> None:
    settings = make_settings(os.environ["TIPBOT_DATABASE_URL"], tmp_path)
    store = await open_store(settings, migrate=True)
    desk = StaffDesk(entropy=os.urandom, detail="summary", excerpt_chars=200)
    try:
        async with store.transaction() as uow:
            contact = await uow.contacts.create("webchat", "v" * 32, "th", CREATED)
            forwarded = await uow.tips.add(
                record("TB-ACDE-FGHJ", "3", "สุรินทร์"),
                contact_id=contact.id,
                channel="webchat",
                draft_id="d1",
                now=CREATED,
            )
            await uow.tips.set_status(forwarded, "forwarded", "nacc", CREATED)
            await uow.tips.add(
                record("TB-KMNP-QRST", "5", "ลำปาง"),
                contact_id=contact.id,
                channel="webchat",
                draft_id="d2",
                now=CREATED,
            )
            await uow.staff.join("line", "G" + "3" * 32, "3", "staff", "th", CREATED)
        async with store.transaction() as uow:
            # region 5 has no chat and neither has the central office: alerted to nobody
            detail = await uow.tips.get("TB-KMNP-QRST")
            assert detail is not None
            assert await desk.alert_region(uow, detail, CREATED) == 0
            uow.session.add(
                t.OutboxRow(
                    channel="line",
                    chat_hash="h" * 64,
                    address_enc="G" + "3" * 32,
                    kind="alert",
                    payload={"replies": []},
                    tip_id=forwarded,
                    status="failed",
                    idempotency_key="failed-alert-1",
                    last_error="400 invalid to",
                    created_at=CREATED,
                )
            )
    finally:
        await store.engine.dispose()


def test_status_names_the_cases_and_warns_about_missing_staff_chats(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(seed(operator_env))
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "routing gaps: 1" in out
    assert "TB-KMNP-QRST  region 5, 2026-12-02 10:30: ALERTED TO NOBODY (no central office chat)" in out
    assert "TB-ACDE-FGHJ  alert on line failed: 400 invalid to" in out
    assert "WARNING: the central office has no active staff chat" in out
    assert "WARNING: no active staff chat for region 1, 2, 4, 5, 6, 7, 8, 9:" in out
    assert "active staff chats by region: 3 1" in out


def test_csv_export_opens_in_excel_with_thai_labels_and_full_status(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(seed(operator_env))
    assert main(["tips", "export", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("\ufeff")  # Excel reads UTF-8 only with the byte-order mark
    rows = list(csv.reader(io.StringIO(out.removeprefix("\ufeff"))))
    header, first = rows[0], dict(zip(rows[0], rows[1], strict=True))
    assert header[0] == "รหัสเรื่อง (case_code)" and "สถานะ (status)" in header
    assert first["รหัสเรื่อง (case_code)"] == "TB-ACDE-FGHJ"
    assert first["สถานะ (status)"] == "ส่งต่อ ป.ป.ช. (forwarded.nacc)"
    assert first["แจ้งเมื่อ (เวลาไทย) (created_at)"] == "2026-12-02 10:30"
    assert first["ประเภท (category)"] == "เรียกรับสินบน (bribery)"
    assert first["เขต (region)"] == "ปปท.เขต 3 (3)"
    assert main(["tips", "export", "--format", "jsonl"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[0]["status"] == "forwarded.nacc" and lines[1]["status"] == "received"


async def test_start_up_warns_when_regions_have_no_staff_chat(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/tipbot.db", tmp_path)
    with caplog.at_level(logging.WARNING):
        async with TestClient(TestServer(create_app(settings))):
            pass
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("central office has no active staff chat" in m for m in warned), warned
    assert any("no active staff chat for region 1, 2, 3" in m for m in warned), warned


def test_serve_says_which_address_to_open() -> None:
    assert open_hint("127.0.0.1", 8080, True) == (
        "tipbot is running: open http://127.0.0.1:8080/chat in a browser (Ctrl+C stops it)"
    )
    assert "http://127.0.0.1:9000/chat" in open_hint("0.0.0.0", 9000, True)  # noqa: S104
    assert "http://[::1]:8080/chat" in open_hint("::1", 8080, True)
    assert open_hint("10.0.0.5", 8081, False) == "tipbot is running on http://10.0.0.5:8081 (Ctrl+C stops it)"
