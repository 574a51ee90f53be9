"""The web chat page in a real browser (Debian's Chromium through Playwright), on a desktop screen
and a 390×844 phone: under its strict policy the page loads its script and style, talks to the bot,
keeps its history across a reload (old buttons disabled), takes evidence files with progress,
refuses an over-long message without showing it as sent, and shows the menu, the operator, the
privacy link, timestamps and a copy button for the case code. Screenshots of the runs are written
to docs/screenshots/webchat-*.png (shown in README)."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright
from sqlalchemy import func, select

from bot.app import SERVICES, Services, build_services, create_app
from bot.settings import Settings
from storage import tables as t
from tests.conftest import make_settings
from tests.harness import evidence_jpeg

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PHONE: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
WAIT = 20_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"
)


@contextlib.asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[TestClient[Any, Any], Services]]:
    factory = partial(build_services, migrate=True, autostart=True)
    async with TestClient(TestServer(create_app(settings, services_factory=factory))) as client:
        yield client, client.server.app[SERVICES]


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield browser
        finally:
            await browser.close()


def sqlite_settings(tmp_path: Path, **extra: object) -> Settings:
    return make_settings(f"sqlite+aiosqlite:///{tmp_path}/tipbot.db", tmp_path, **extra)


async def shot(page: Page, name: str) -> None:
    """A screenshot for README, in 64 colours (a quarter of the bytes, text still crisp)."""
    from PIL import Image

    SHOTS.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(await page.screenshot())).convert("RGB")
    image.quantize(colors=64).save(SHOTS / f"webchat-{name}.png", optimize=True)


class Volunteer:
    """A person on the page: waits for the bot's answer to each thing they do."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.bot = page.locator(".msg.bot")

    async def answered(self, before: int) -> str:
        """Every bot message since `before`, once the first has arrived (one answer's messages
        come in one poll)."""
        await self.bot.nth(before).wait_for(timeout=WAIT)
        return "\n".join((await self.bot.all_inner_texts())[before:])

    async def say(self, text: str) -> str:
        before = await self.bot.count()
        await self.page.fill("#t", text)
        await self.page.click("#sendbtn")
        return await self.answered(before)

    async def tap(self, label: str) -> str:
        before = await self.bot.count()
        exact = re.compile("^" + re.escape(label) + "$")
        await self.page.locator(".buttons button:not([disabled])", has_text=exact).last.click()
        return await self.answered(before)

    async def consent(self) -> None:
        await self.bot.first.wait_for(timeout=WAIT)  # the welcome, after the page's follow
        await self.tap("ยินยอม")
        await self.say("สุรินทร์")


async def test_the_chat_page_works_in_a_browser_under_its_policy(tmp_path: Path) -> None:
    async with served(sqlite_settings(tmp_path)) as (client, _), chromium() as browser:
        url = str(client.make_url("/chat?lang=th"))
        console: list[str] = []
        page = await browser.new_page(**PHONE)

        def keep(message: ConsoleMessage) -> None:
            console.append(f"{message.type}: {message.text}")

        page.on("console", keep)
        page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
        # the browser's own report of anything the policy blocked
        await page.add_init_script(
            "window.__violations = [];"
            "document.addEventListener('securitypolicyviolation',"
            " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
        )
        response = await page.goto(url)
        assert response is not None and response.status == 200

        bot = page.locator(".msg.bot")
        await bot.first.wait_for(timeout=WAIT)
        before = await bot.count()
        # the style file applied: the header has the page's colour
        header = await page.eval_on_selector("header", "e => getComputedStyle(e).backgroundColor")
        assert header == "rgb(18, 58, 90)"
        assert await page.get_attribute("#t", "placeholder")  # labels from /chat/api/strings

        await page.fill("#t", "สวัสดีครับ")
        await page.click("#sendbtn")
        await page.locator(".msg.me", has_text="สวัสดีครับ").wait_for(timeout=10_000)
        await bot.nth(before).wait_for(timeout=WAIT)  # the bot's answer to it
        assert (await bot.nth(before).inner_text()).strip()
        violations = await page.evaluate("window.__violations")
    assert violations == []
    assert not [m for m in console if "Content Security Policy" in m or m.startswith("pageerror")], console


@pytest.mark.parametrize("screen", ["phone", "desktop"])
async def test_header_menu_font_and_timestamps(tmp_path: Path, screen: str) -> None:
    async with served(sqlite_settings(tmp_path)) as (client, _), chromium() as browser:
        page = await browser.new_page(**(PHONE if screen == "phone" else DESKTOP))
        await page.goto(str(client.make_url("/chat")))
        you = Volunteer(page)
        await you.bot.first.wait_for(timeout=WAIT)
        # who runs the service, in the title and the header, and the privacy notice one tap away
        assert "PACC Connect" in await page.title() and "ป.ป.ท." in await page.title()
        assert "ป.ป.ท." in await page.inner_text("#operator")
        assert await page.get_attribute("#privacy", "href") == "/privacy"
        assert await page.inner_text("#privacy") == "นโยบายความเป็นส่วนตัว"
        font = await page.eval_on_selector("body", "e => getComputedStyle(e).fontFamily")
        assert font.startswith('"Noto Sans Thai"') and "Leelawadee UI" in font and "Thonburi" in font
        # the persistent menu, like LINE's rich menu
        menu = page.locator("#menu button")
        assert await menu.all_inner_texts() == ["แจ้งเบาะแส", "เรื่องของฉัน", "ข่าวกิจกรรม", "ช่วยเหลือ"]
        assert await page.locator(".msg.bot time").count() >= 1  # every bubble says when
        await you.consent()
        await shot(page, f"{screen}-welcome")
        # a menu tap works at any step: ช่วยเหลือ answers with the help text
        before = await you.bot.count()
        await menu.nth(3).click()
        assert "วิธีใช้งาน" in await you.answered(before)
        before = await you.bot.count()
        await menu.nth(0).click()
        await you.answered(before)
        assert await page.locator(".msg.me", has_text="แจ้งเบาะแส").count() >= 1
        times = await page.locator(".msg time").all_inner_texts()
        assert times and all(len(x.strip()) >= 4 and ":" in x for x in times), times


async def test_history_survives_a_reload_with_old_buttons_disabled(tmp_path: Path) -> None:
    async with served(sqlite_settings(tmp_path)) as (client, _), chromium() as browser:
        page = await browser.new_page(**PHONE)
        await page.goto(str(client.make_url("/chat")))
        you = Volunteer(page)
        await you.consent()
        await you.tap("แจ้งเบาะแส")
        await you.tap("เรียกรับสินบน")
        mine = [x.splitlines()[0] for x in await page.locator(".msg.me").all_inner_texts()]
        bots = await page.locator(".msg.bot").all_inner_texts()
        live = await page.locator(".buttons button:not([disabled])").all_inner_texts()
        used = await page.locator(".buttons button[disabled]").count()
        assert mine == ["ยินยอม", "สุรินทร์", "แจ้งเบาะแส", "เรียกรับสินบน"] and used > 0

        await page.reload()
        await page.locator(".msg.bot").nth(len(bots) - 1).wait_for(timeout=WAIT)
        assert [x.splitlines()[0] for x in await page.locator(".msg.me").all_inner_texts()] == mine
        assert await page.locator(".msg.bot").all_inner_texts() == bots
        # the answered questions' buttons stay disabled; only the open question's can be tapped
        assert await page.locator(".buttons button[disabled]").count() == used
        assert await page.locator(".buttons button:not([disabled])").all_inner_texts() == live
        await shot(page, "phone-history")
        # and the conversation goes on from where it was
        assert "หน่วยงาน" in await you.say("เจ้าหน้าที่เรียกเงิน 3,000 บาท ถ้าไม่จ่ายไม่ออกใบอนุญาต")


async def test_phone_enter_makes_a_new_line_and_the_send_button_sends(tmp_path: Path) -> None:
    async with served(sqlite_settings(tmp_path)) as (client, _), chromium() as browser:
        page = await browser.new_page(**PHONE)
        await page.goto(str(client.make_url("/chat")))
        you = Volunteer(page)
        await you.bot.first.wait_for(timeout=WAIT)
        await page.click("#t")
        await page.keyboard.type("บรรทัดแรก")
        await page.keyboard.press("Enter")
        await page.keyboard.type("บรรทัดสอง")
        assert await page.input_value("#t") == "บรรทัดแรก\nบรรทัดสอง"
        assert await page.locator(".msg.me").count() == 0  # Enter did not send
        await page.click("#sendbtn")
        bubble = page.locator(".msg.me").first
        await bubble.wait_for(timeout=WAIT)
        assert (await bubble.inner_text()).startswith("บรรทัดแรก\nบรรทัดสอง")


async def test_desktop_enter_sends(tmp_path: Path) -> None:
    async with served(sqlite_settings(tmp_path)) as (client, _), chromium() as browser:
        page = await browser.new_page(**DESKTOP)
        await page.goto(str(client.make_url("/chat")))
        await page.locator(".msg.bot").first.wait_for(timeout=WAIT)
        await page.fill("#t", "สวัสดี")
        await page.press("#t", "Enter")
        await page.locator(".msg.me", has_text="สวัสดี").wait_for(timeout=WAIT)
        assert await page.input_value("#t") == ""


@pytest.mark.parametrize("screen", ["phone", "desktop"])
async def test_an_over_long_message_is_refused_and_stays_in_the_box(tmp_path: Path, screen: str) -> None:
    settings = sqlite_settings(tmp_path, max_text_chars=300)
    async with served(settings) as (client, services), chromium() as browser:
        page = await browser.new_page(**(PHONE if screen == "phone" else DESKTOP))
        await page.goto(str(client.make_url("/chat")))
        await page.locator(".msg.bot").first.wait_for(timeout=WAIT)
        text = "ก" * 301
        await page.fill("#t", text)
        await page.click("#sendbtn")
        warning = page.locator(".note.warn")
        await warning.wait_for(timeout=WAIT)
        assert "300" in await warning.inner_text() and "301" in await warning.inner_text()
        assert await page.input_value("#t") == text  # kept for the volunteer to shorten
        assert await page.locator(".msg.me").count() == 0  # never shown as sent
        async with services.store.transaction() as uow:
            stored = (await uow.session.execute(select(func.count()).select_from(t.InboxRow))).scalar_one()
        assert stored == 1  # the page's follow only


@pytest.mark.parametrize("screen", ["phone", "desktop"])
async def test_evidence_upload_with_progress_reaches_the_draft(tmp_path: Path, screen: str) -> None:
    async with served(sqlite_settings(tmp_path)) as (client, services), chromium() as browser:
        page = await browser.new_page(**(PHONE if screen == "phone" else DESKTOP))
        await page.goto(str(client.make_url("/chat")))
        you = Volunteer(page)
        # the phone camera: an image input that asks for the back camera
        assert await page.get_attribute("#camera", "capture") == "environment"
        assert await page.get_attribute("#camera", "accept") == "image/*"
        assert "image/*" in (await page.get_attribute("#file", "accept") or "")
        await you.consent()
        await you.tap("แจ้งเบาะแส")
        await you.tap("เรียกรับสินบน")
        photo = tmp_path / "ใบเสร็จ.jpg"
        photo.write_bytes(evidence_jpeg("receipt"))
        before = await you.bot.count()
        await page.set_input_files("#file", str(photo))
        bubble = page.locator(".msg.me", has_text="ใบเสร็จ.jpg")
        await bubble.wait_for(timeout=WAIT)
        await page.locator(".msg.me.sent", has_text="ใบเสร็จ.jpg").wait_for(timeout=WAIT)
        assert "หลักฐาน" in await you.answered(before)  # kept for the report
        await shot(page, f"{screen}-evidence")
        async with services.store.transaction() as uow:
            kept = (await uow.session.execute(select(t.Attachment))).scalars().all()
            held = (await uow.session.execute(select(func.count()).select_from(t.WebChatUpload))).scalar_one()
        assert len(kept) == 1 and kept[0].sha256 and kept[0].mime == "image/jpeg"
        assert held == 0  # the held upload went once the draft took it


async def test_a_file_over_the_limit_is_refused_before_upload(tmp_path: Path) -> None:
    async with (
        served(sqlite_settings(tmp_path, max_media_bytes=1024)) as (client, services),
        chromium() as browser,
    ):
        page = await browser.new_page(**PHONE)
        await page.goto(str(client.make_url("/chat")))
        await page.locator(".msg.bot").first.wait_for(timeout=WAIT)
        big = tmp_path / "big.jpg"
        big.write_bytes(b"\xff" * 4096)
        await page.set_input_files("#file", str(big))
        warning = page.locator(".note.warn")
        await warning.wait_for(timeout=WAIT)
        assert "ไฟล์ใหญ่เกินไป" in await warning.inner_text()
        assert await page.locator(".msg.me").count() == 0
        async with services.store.transaction() as uow:
            held = (await uow.session.execute(select(func.count()).select_from(t.WebChatUpload))).scalar_one()
        assert held == 0


async def test_case_code_copy_button_and_buttons_never_over_the_header(tmp_path: Path) -> None:
    async with served(sqlite_settings(tmp_path)) as (client, _), chromium() as browser:
        context = await browser.new_context(**DESKTOP)
        await context.grant_permissions(
            ["clipboard-read", "clipboard-write"], origin=str(client.make_url("/"))
        )
        page = await context.new_page()
        await page.goto(str(client.make_url("/chat")))
        you = Volunteer(page)
        await you.consent()
        await you.tap("แจ้งเบาะแส")
        await you.tap("เรียกรับสินบน")
        await you.say("เจ้าหน้าที่เรียกเงินค่าดำเนินการออกใบอนุญาต ถ้าไม่จ่ายจะไม่ออกให้")
        await you.say("เทศบาลตำบลกังแอน")
        await you.tap("ใช่")
        await you.say("อ.ปราสาท จ.สุรินทร์")
        await you.say("3 มี.ค. 69")
        await you.say("3,000 บาท")
        await you.tap("ไม่มีหลักฐาน")
        await you.tap("ไม่ต้องติดต่อ")
        done = await you.tap("ยืนยันส่ง")
        code_bubble = page.locator(".msg.bot", has=page.locator("button.copy")).last
        await code_bubble.wait_for(timeout=WAIT)
        code = (await code_bubble.locator("button.copy").inner_text()).split()[-1]
        assert code.startswith("TB-") and code in done + await code_bubble.inner_text()
        await code_bubble.locator("button.copy").click()
        assert await page.evaluate("navigator.clipboard.readText()") == code
        await shot(page, "desktop-case-code")
        # scrolled: the used (translucent) buttons pass under the header, never over it
        await page.evaluate("window.scrollTo(0, 0)")
        first_row = page.locator(".buttons").first
        box = await first_row.bounding_box()
        assert box is not None
        await page.evaluate(f"window.scrollTo(0, {box['y'] - 5})")
        header = await page.locator("header").bounding_box()
        assert header is not None
        x, y = header["x"] + header["width"] / 2, header["y"] + header["height"] / 2
        on_top = await page.evaluate(f"document.elementFromPoint({x}, {y}).closest('header') !== null")
        assert on_top
