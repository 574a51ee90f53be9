"""A file over the size limit at the evidence step: one clear answer ("too large", with the limit),
never also "failed, try again"; nothing is stored. Against the fake LINE and Telegram platforms,
which refuse what the real ones refuse (Telegram's getFile: "file is too big" over 20 MB).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.settings import Settings
from storage import tables as t
from tests.drivers_line import line_driver
from tests.drivers_telegram import telegram_driver
from tests.harness import FakeClock, Msg, Runner

MB = 1024 * 1024

TO_EVIDENCE = """
> สวัสดี
> [ยินยอม]
> [ข้าม]
> [แจ้งเบาะแส]
> [เรียกรับสินบน]
> เจ้าหน้าที่เรียกเงินค่าดำเนินการออกใบอนุญาต ถ้าไม่จ่ายจะไม่ออกให้
> เทศบาลตำบลกังแอน
> [ใช่]
> อ.ปราสาท จ.สุรินทร์
> 3 มี.ค. 69
> 3,000 บาท
< มีหลักฐานไหม
"""


async def run(runner: Runner, script: str) -> None:
    for line in script.strip().splitlines():
        await runner.step(line.strip())


async def counts(driver: Any) -> tuple[int, int, int]:
    """(reply rows, attachment rows, files in the media folder)."""
    async with driver.services.store.transaction() as uow:
        replies = (
            await uow.session.execute(
                select(func.count()).select_from(t.OutboxRow).where(t.OutboxRow.kind == "reply")
            )
        ).scalar_one()
        attachments = (await uow.session.execute(select(func.count()).select_from(t.Attachment))).scalar_one()
    media_dir: Path = driver.services.settings.media_dir
    files = sum(1 for p in media_dir.rglob("*") if p.is_file()) if media_dir.exists() else 0
    return int(replies), int(attachments), files


def assert_one_answer(new: list[Msg], replies_added: int) -> None:
    assert replies_added == 1, f"{replies_added} replies to one file"
    about_size = [m.text for m in new if "ใหญ่เกินไป" in m.text]
    assert len(about_size) == 1, [m.text for m in new]
    assert "20 MB" in about_size[0]
    assert not any("ไม่สำเร็จ" in m.text or "ส่งใหม่อีกครั้ง" in m.text for m in new), [m.text for m in new]
    # the evidence step goes on: its buttons are still offered
    assert any(label == "ไม่มีหลักฐาน" for m in new for label, _ in m.buttons)


async def test_line_image_over_the_limit_gets_one_answer(settings: Settings, tmp_path: Path) -> None:
    clock = FakeClock()
    async with line_driver(settings, clock, tmp_path) as driver:
        runner = Runner(driver, clock)
        await run(runner, TO_EVIDENCE)
        before, seen = await counts(driver), len(driver.received("volunteer"))
        # LINE image events carry no size: the limit is found on the content download
        await driver._send(driver.user("volunteer").image(os.urandom(21 * MB)))
        await driver.services.settle()
        after = await counts(driver)
        assert_one_answer(driver.received("volunteer")[seen:], after[0] - before[0])
        assert after[1:] == (0, 0)


@pytest.mark.parametrize("size_in_message", [True, False], ids=["claimed", "getfile_refuses"])
async def test_telegram_file_over_20_mb_gets_one_answer(
    settings: Settings, tmp_path: Path, size_in_message: bool
) -> None:
    clock = FakeClock()
    async with telegram_driver(settings, clock, tmp_path) as driver:
        runner = Runner(driver, clock)
        await run(runner, TO_EVIDENCE)
        before, seen = await counts(driver), len(driver.received("volunteer"))
        update = driver.user("volunteer").sends_document(b"%PDF-1.7\n", declared_size=21 * MB)
        if not size_in_message:
            del update["message"]["document"]["file_size"]  # then only getFile tells
        await driver.send(update)
        await driver.services.settle()
        after = await counts(driver)
        assert_one_answer(driver.received("volunteer")[seen:], after[0] - before[0])
        assert after[1:] == (0, 0)
        assert ("getFile" in driver.fake.calls) is not size_in_message


async def test_telegram_states_its_own_20_mb_limit_when_ours_is_higher(
    settings: Settings, tmp_path: Path
) -> None:
    clock = FakeClock()
    roomy = settings.model_copy(update={"max_media_bytes": 50 * MB})
    async with telegram_driver(roomy, clock, tmp_path) as driver:
        await run(Runner(driver, clock), TO_EVIDENCE)
        before, seen = await counts(driver), len(driver.received("volunteer"))
        await driver.send(driver.user("volunteer").sends_document(b"%PDF-1.7\n", declared_size=21 * MB))
        await driver.services.settle()
        after = await counts(driver)
        assert_one_answer(driver.received("volunteer")[seen:], after[0] - before[0])
