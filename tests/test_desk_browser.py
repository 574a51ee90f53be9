"""The case desk in a real browser (Debian's Chromium through Playwright): sign in from a staff
chat's link, name yourself, filter the inbox, open a tip and its EXIF-free photo, change a status
(the volunteer is told in their chat), ask a question and see the answer on the timeline, export
CSV and XLSX with Thai intact; a region-5 session gets 404 for a region-3 tip, a POST without
the CSRF token is refused, a used link is refused; the pages on a phone screen; no policy
violation. One browser for the module; screenshots in the test's folder (and on failure)."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import openpyxl
import pytest
from PIL import Image
from playwright.async_api import Browser, Page, async_playwright

from tests.conftest import make_settings
from tests.desk_env import Desk, desk_env

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parent.parent
#: the screenshots README shows (rewritten when TIPBOT_DESK_SCREENSHOTS=1)
DOCS = ROOT / "docs" / "screenshots"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"
)

WATCH = (
    "window.__violations = [];"
    "document.addEventListener('securitypolicyviolation',"
    " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("desk-screenshots")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield b
        finally:
            await b.close()


async def no_violations(page: Page) -> None:
    assert await page.evaluate("window.__violations") == []


async def shot(page: Page, folder: Path, name: str) -> None:
    await page.screenshot(path=str(folder / f"desk-{name}.png"))


async def test_the_desk_in_a_browser(browser: Browser, shots: Path, tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/tipbot.db", tmp_path)
    async with desk_env(settings, tmp_path) as desk:
        base = str(desk.client.make_url("/")).rstrip("/")
        await desk.attach_photo()
        context = await browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        await context.add_init_script(WATCH)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            await walk(desk, base, page, shots, tmp_path)
            await phone(context, base, desk, shots)
            await other_region(browser, desk, base)
        except BaseException:
            await page.screenshot(path=str(shots / "desk-failure.png"), full_page=True)
            raise
        finally:
            await context.close()
        assert errors == []
    if os.environ.get("TIPBOT_DESK_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        for name in ("inbox", "tip", "overview", "phone-tip"):
            shutil.copy(shots / f"desk-{name}.png", DOCS / f"desk-{name}.png")


async def walk(desk: Desk, base: str, page: Page, shots: Path, tmp: Path) -> None:
    link = await desk.link("staff3")
    await page.goto(base + link)
    await page.click("#sign-in")
    await page.wait_for_url(base + "/desk")
    await page.fill("#officer-name", "สมหญิง ใจดี")
    await page.press("#officer-name", "Enter")
    await page.wait_for_selector("header .officer")
    assert await page.inner_text("header .officer") == "สมหญิง ใจดี"

    # filters: a choice in a list applies at once (the page's script), text by the button
    await page.select_option("select[name=category]", "forgery")
    await page.wait_for_url("**category=forgery**")
    assert desk.code not in await page.inner_text("#tips")
    await page.select_option("select[name=category]", "bribery")
    await page.wait_for_url("**category=bribery**")
    await page.fill("#q", "โฉนด")
    await page.click("#apply")
    await page.wait_for_url("**q=**")
    assert desk.code in await page.inner_text("#tips")
    assert "1" in await page.inner_text("#count")
    await no_violations(page)
    await shot(page, shots, "inbox")

    # exports of what the filters show
    async with page.expect_download() as got:
        await page.click("#export-csv")
    csv_path = tmp / "export.csv"
    await (await got.value).save_as(csv_path)
    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and desk.code in raw.decode("utf-8-sig")
    assert "เรียกรับสินบน" in raw.decode("utf-8-sig")
    async with page.expect_download() as got:
        await page.click("#export-xlsx")
    xlsx_path = tmp / "export.xlsx"
    await (await got.value).save_as(xlsx_path)
    rows = list(openpyxl.load_workbook(xlsx_path).active.iter_rows(values_only=True))
    assert rows[0][0] == "รหัสเรื่อง" and rows[1][0] == desk.code and "โฉนด" in str(rows[1][-1])

    # the tip page and its photo: a copy without EXIF or GPS
    await page.click(f"a.code:text('{desk.code}')")
    await page.wait_for_selector("#case-code")
    assert await page.inner_text("#case-code") == desk.code
    assert "โฉนด" in await page.inner_text("#narrative")
    img = page.locator("img.evidence")
    await img.wait_for()
    assert await img.evaluate("e => e.complete && e.naturalWidth") > 0
    photo = await page.request.get(base + f"/desk/tip/{desk.code}/file/1")
    assert photo.status == 200 and photo.headers["x-content-type-options"] == "nosniff"
    image = Image.open(io.BytesIO(await photo.body()))
    assert not image.getexif() and "exif" not in image.info

    # a POST without the token is refused, with or without our Origin
    refused = await page.request.post(
        base + f"/desk/tip/{desk.code}/act", form={"action": "ack"}, headers={"Origin": base}
    )
    assert refused.status == 403

    # change the status: the volunteer is told in their chat
    await page.select_option("#new-status", "in_review")
    await page.fill("#status-note", "ตรวจสอบเอกสารที่ดิน")
    await page.click("#set-status")
    await page.wait_for_selector("#flash")
    assert "กำลังตรวจสอบ" in await page.inner_text("#status")
    await desk.runner.settle()
    await desk.runner.step("< ความคืบหน้าเรื่อง")
    await desk.runner.step("< กำลังตรวจสอบ")

    # ask the reporter; the answer arrives on the timeline
    await page.fill("#question", "มีสำเนาใบนัดของสำนักงานที่ดินไหมครับ")
    await page.click("#ask")
    await page.wait_for_selector("#flash")
    await desk.runner.settle()
    await desk.runner.step("< มีสำเนาใบนัด")
    await desk.driver.say("volunteer", "มีค่ะ ถ่ายรูปเก็บไว้แล้ว")
    await desk.runner.settle()
    await page.reload()
    timeline = await page.inner_text("#timeline")
    assert "มีค่ะ ถ่ายรูปเก็บไว้แล้ว" in timeline and "สมหญิง ใจดี" in timeline
    await no_violations(page)
    await shot(page, shots, "tip")

    await page.click("header nav a[href='/desk/overview']")
    await page.wait_for_selector("#map svg")
    assert await page.locator("#map svg rect[rx]").count() == 77  # one tile per province
    assert "1" in await page.inner_text("#by-status")
    await no_violations(page)
    await shot(page, shots, "overview")

    # the used link is refused
    await page.goto(base + link)
    await page.click("#sign-in")
    await page.wait_for_selector("#link-refused")


async def phone(context: object, base: str, desk: Desk, shots: Path) -> None:
    page = await context.new_page()  # type: ignore[attr-defined]
    await page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/desk", f"/desk/tip/{desk.code}", "/desk/overview"):
        response = await page.goto(base + path)
        assert response is not None and response.status == 200
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide on a phone"
        await no_violations(page)
        if path.startswith("/desk/tip/"):
            await shot(page, shots, "phone-tip")
    await page.close()


async def other_region(browser: Browser, desk: Desk, base: str) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(base + await desk.link("staff5"))
    await page.click("#sign-in")
    await page.wait_for_url(base + "/desk")
    assert desk.code not in await page.inner_text("#tips")
    response = await page.goto(base + f"/desk/tip/{desk.code}")
    assert response is not None and response.status == 404
    missing = await page.goto(base + "/desk/tip/TB-AAAA-AAAA")
    assert missing is not None and missing.status == 404
    await context.close()
