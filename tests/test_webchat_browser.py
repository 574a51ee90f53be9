"""The web chat page in a real browser (Debian's Chromium through Playwright): under its strict
policy the page loads its script and style, sends a message and shows the bot's answer, on a
phone-sized screen, with no policy violation."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import ConsoleMessage, async_playwright

from bot.app import build_services, create_app
from bot.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"
)


async def test_the_chat_page_works_in_a_browser_under_its_policy(settings: Settings) -> None:
    factory = partial(build_services, migrate=True, autostart=True)
    async with TestClient(TestServer(create_app(settings, services_factory=factory))) as client:
        url = str(client.make_url("/chat?lang=th"))
        console: list[str] = []
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM))
            try:
                page = await browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)

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
                await bot.first.wait_for(timeout=20_000)  # the welcome, after the page's follow
                before = await bot.count()
                # the style file applied: the header has the page's colour
                header = await page.eval_on_selector("header", "e => getComputedStyle(e).backgroundColor")
                assert header == "rgb(18, 58, 90)"
                assert await page.get_attribute("#t", "placeholder")  # labels from /chat/api/strings

                await page.fill("#t", "สวัสดีครับ")
                await page.press("#t", "Enter")
                await page.locator(".msg.me", has_text="สวัสดีครับ").wait_for(timeout=10_000)
                await bot.nth(before).wait_for(timeout=20_000)  # the bot's answer to it
                assert (await bot.nth(before).inner_text()).strip()

                violations = await page.evaluate("window.__violations")
            finally:
                await browser.close()
    assert violations == []
    assert not [m for m in console if "Content Security Policy" in m or m.startswith("pageerror")], console
