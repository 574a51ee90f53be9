"""The privacy notice at /privacy in a real browser (Debian's Chromium through Playwright), Thai
and English, on a phone-sized screen: it loads under its policy with no violation, says the
retention this server runs with and the controller's contact, and links the other language."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import async_playwright

from bot.app import build_services, create_app
from bot.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"
)


async def test_the_privacy_notice_in_a_browser(settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(
        update={"controller_contact": "มูลนิธิเฝ้าระวังตัวอย่าง privacy@example.org", "retention_closed_days": 180}
    )
    factory = partial(build_services, migrate=True, autostart=False)
    async with TestClient(TestServer(create_app(settings, services_factory=factory))) as client:
        head = await client.get("/privacy")
        assert head.status == 200
        assert "script-src" not in head.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in head.headers["Content-Security-Policy"]
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM))
            try:
                page = await browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
                await page.add_init_script(
                    "window.__violations = [];"
                    "document.addEventListener('securitypolicyviolation',"
                    " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
                )
                response = await page.goto(str(client.make_url("/privacy")))
                assert response is not None and response.status == 200
                assert await page.inner_text("h1") == "ประกาศความเป็นส่วนตัว"
                body = await page.inner_text("body")
                assert "180 วัน" in body
                assert "privacy@example.org" in body
                assert "ลบข้อมูลของฉัน" in body
                # the whole page fits the phone's width: nothing to scroll sideways
                assert await page.evaluate("document.documentElement.scrollWidth") <= 390
                await page.screenshot(path=str(tmp_path / "privacy-th-390.png"), full_page=True)
                await page.click("a[href='/privacy?lang=en']")
                await page.wait_for_url("**/privacy?lang=en")
                assert await page.inner_text("h1") == "Privacy notice"
                assert "180 days" in await page.inner_text("body")
                await page.screenshot(path=str(tmp_path / "privacy-en-390.png"), full_page=True)
                assert await page.evaluate("window.__violations") == []
            finally:
                await browser.close()
