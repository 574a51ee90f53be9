"""No log line carries message text, SQL parameters or chat/session ids, even when storage fails.

The database itself is made to fail (a trigger on the test database) during ingest and during
processing; every logger's output is read both through the production log set-up
(`bot.logs.configure`, text and JSON) and as plain records with Python's default formatting.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.logs import configure
from bot.settings import Settings
from storage import tables as t
from tests.drivers import session_of, webchat_driver
from tests.harness import FakeClock, Runner
from tests.test_ingest_isolation import (
    SEND,
    ascii_json,
    full_app,
    inbox,
    post_json,
    refuse_rows,
    services_of,
    signed_line,
    writes_held,
)


@pytest.fixture(params=["text", "json"])
def production_log(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """The log as `tipbot serve` writes it, at DEBUG, for the whole test."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    names = ("aiohttp.access", "sqlalchemy", "aiosqlite", "alembic")
    quiet = {name: logging.getLogger(name).level for name in names}
    stream = io.StringIO()
    configure("DEBUG", request.param)
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        for name, lvl in quiet.items():
            logging.getLogger(name).setLevel(lvl)


def everything_logged(stream: io.StringIO, caplog: pytest.LogCaptureFixture) -> str:
    plain = logging.Formatter("%(levelname)s %(name)s %(message)s")
    records = "\n".join(plain.format(r) for r in caplog.records)
    written = stream.getvalue()
    # JSON lines escape non-ASCII text; read them back so the search sees the characters
    decoded = [
        json.dumps(json.loads(line), ensure_ascii=False) if line.startswith("{") else line
        for line in written.splitlines()
    ]
    return records + "\n" + "\n".join(decoded)


def assert_private(logged: str, secrets: list[str]) -> None:
    leaked = [s for s in secrets if s in logged]
    assert not leaked, f"{len(leaked)} private strings in the log, e.g. {leaked[0]!r}"


async def test_a_storage_failure_during_ingest_logs_nothing_private(
    settings: Settings, production_log: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sessions = [session_of(f"private{i}") for i in range(30)]
    texts = [f"CANARY-ingest-{i} ผู้ใหญ่บ้านเรียกเงิน" for i in range(30)]
    async with full_app(settings) as (line, _tg, client):
        services = services_of(client)
        await refuse_rows(services, "inbox", "event_id", "evil-")
        users = [line.user() for _ in range(10)]

        async def web(i: int, text: str, event_id: str) -> int:
            body = {"session": sessions[i], "type": "text", "text": text, "id": event_id}
            return await post_json(client, SEND, ascii_json(body))

        async with writes_held(settings):
            tasks = [
                *(asyncio.create_task(web(i, texts[i], f"fine-{i:06d}")) for i in range(25)),
                # a lone surrogate and a row the database refuses, in the same group commit
                asyncio.create_task(web(25, texts[25] + " \ud800", "fine-poison-0001")),
                asyncio.create_task(web(26, texts[26], "evil-000026")),
                *(
                    asyncio.create_task(signed_line(line, client, [u.text(f"CANARY-line-{i} สินบน")]))
                    for i, u in enumerate(users)
                ),
            ]
            await asyncio.sleep(0.5)
        statuses = await asyncio.gather(*tasks)
        assert 500 not in statuses
    secrets = [*texts, *sessions, *(u.user_id for u in users), "CANARY-line-"]
    assert_private(everything_logged(production_log, caplog), secrets)


NARRATIVE = "ปลัด อบต.หนองบัว อ.เมือง จ.บุรีรัมย์ เรียกเงินใต้โต๊ะห้าหมื่นบาทเพื่อออกใบอนุญาตก่อสร้าง เมื่อวานนี้"
REPORT = f"""
> สวัสดี
> [ยินยอม]
> [ข้าม]
> {NARRATIVE}
> [ใช่]
> [ใช่]
> [ใช่]
> [ใช่]
> [ใช่]
> [ใช่]
> [ไม่มีหลักฐาน]
> [ถามทางแชตได้]
> โทรหลังหกโมงเย็น 081-234-5678
< ตรวจสอบข้อมูลก่อนส่ง
"""


@pytest.mark.parametrize("errcode", ["check_violation", "raise_exception", "invalid_text_representation"])
async def test_a_storage_failure_during_processing_logs_nothing_private(
    settings: Settings,
    production_log: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    errcode: str,
) -> None:
    """A row the database refuses (a constraint, a trigger's error, a bad value) fails that
    event alone, with an apology, rather than being retried for ever as if the database were
    down (on SQLite every case is the trigger's ABORT)."""
    caplog.set_level(logging.DEBUG)
    clock = FakeClock()
    async with webchat_driver(settings, clock, tmp_path) as driver:
        runner = Runner(driver, clock)
        for line in REPORT.strip().splitlines():
            await runner.step(line)
        services = driver.services
        # every tip insert fails, as a constraint would (PostgreSQL: check_violation)
        await refuse_rows(services, "tip", "case_code", "", errcode=errcode)
        await runner.step("> [ยืนยันส่ง]")
        await runner.step("< ขออภัย")  # the conversation restarted with an apology
        rows = await inbox(services)
        async with services.store.transaction() as uow:
            assert (await uow.session.execute(select(t.Tip))).first() is None
    failed = [r for r in rows if r.status == "failed"]
    assert len(failed) == 1
    secrets = [
        session_of("volunteer"),
        "หนองบัว",
        "ใต้โต๊ะ",
        "ใบอนุญาตก่อสร้าง",
        "เมื่อวานนี้",
        "หกโมงเย็น",
        "081-234-5678",
    ]
    assert_private(everything_logged(production_log, caplog), secrets)
    # the inbox row keeps the error's type, not its text (which quotes the row)
    assert failed[0].error is not None and failed[0].error.isidentifier()
