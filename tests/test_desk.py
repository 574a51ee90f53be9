"""The case desk over HTTP (the real app, SQLite and PostgreSQL): one-time sign-in links, the
session cookie, region scoping, CSRF and Origin checks, actions through the staff desk (the
region's chats and the volunteer are told), exports, expiry and revocation."""

from __future__ import annotations

import asyncio
import io
import re
from argparse import Namespace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import text

from bot.app import build_services, open_store
from bot.cli.main import _desk as desk_command
from bot.settings import Settings
from handlers.desk import COOKIE
from tests.conftest import make_settings
from tests.desk_env import Desk, desk_env
from tests.drivers import session_of


async def sign_in(desk: Desk, actor: str) -> str:
    """Sign in with a fresh link from `actor`'s staff chat; returns the CSRF token of the session."""
    path = await desk.link(actor)
    desk.client.session.cookie_jar.clear()
    page = await desk.client.get(path)
    assert page.status == 200
    assert 'method="post"' in await page.text()  # a GET shows a button; it never uses the link
    origin = str(desk.client.make_url("/")).rstrip("/")
    r = await desk.client.post(path, data={"lang": "th"}, headers={"Origin": origin}, allow_redirects=False)
    assert r.status == 303, await r.text()
    cookie = r.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/desk"
    inbox = await desk.client.get("/desk")
    assert inbox.status == 200
    found = re.search(r'name="csrf" value="([^"]+)"', await inbox.text())
    assert found
    return found.group(1)


def origin(desk: Desk) -> dict[str, str]:
    return {"Origin": str(desk.client.make_url("/")).rstrip("/")}


async def test_links_are_single_use_and_expire(settings: Settings, tmp_path: Path) -> None:
    async with desk_env(settings, tmp_path) as desk:
        path = await desk.link("staff3")
        r = await desk.client.post(path, headers=origin(desk), allow_redirects=False)
        assert r.status == 303
        again = await desk.client.post(path, headers=origin(desk), allow_redirects=False)
        assert again.status == 410  # reused
        late = await desk.link("staff3")
        desk.clock.offset += timedelta(minutes=11)
        r = await desk.client.post(late, headers=origin(desk), allow_redirects=False)
        assert r.status == 410  # expired
        forged = await desk.client.post("/desk/in/" + "A" * 43, headers=origin(desk), allow_redirects=False)
        assert forged.status == 410
        # a volunteer's chat is no staff chat: no link
        before = len(desk.driver.received("volunteer"))
        await desk.driver.say("volunteer", "/desk")
        await desk.runner.settle()
        assert not any("/desk/in/" in m.text for m in desk.driver.received("volunteer")[before:])


async def test_region_scope_csrf_and_actions(settings: Settings, tmp_path: Path) -> None:
    async with desk_env(settings, tmp_path) as desk:
        csrf5 = await sign_in(desk, "staff5")
        assert csrf5
        inbox5 = await (await desk.client.get("/desk")).text()
        assert desk.code not in inbox5
        other = await desk.client.get(f"/desk/tip/{desk.code}")
        missing = await desk.client.get("/desk/tip/TB-AAAA-AAAA")
        assert other.status == missing.status == 404
        assert await other.text() == await missing.text()
        assert (await desk.client.get(f"/desk/tip/{desk.code}/file/1")).status == 404

        csrf = await sign_in(desk, "staff3")
        inbox = await (await desk.client.get("/desk?category=bribery&province=สุรินทร์")).text()
        assert desk.code in inbox
        assert desk.code not in await (await desk.client.get("/desk?category=forgery")).text()
        assert desk.code in await (await desk.client.get("/desk?q=โฉนด")).text()
        assert desk.code not in await (await desk.client.get("/desk?q=ไม่มีคำนี้")).text()
        page = await desk.client.get(f"/desk/tip/{desk.code}")
        body = await page.text()
        assert page.status == 200 and "โฉนด" in body
        policy = page.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "'unsafe-inline'" not in policy and page.headers["Referrer-Policy"] == "no-referrer"

        act = f"/desk/tip/{desk.code}/act"
        form = {"action": "set", "status": "in_review", "note": "ตรวจเอกสาร"}
        no_token = await desk.client.post(act, data=form, headers=origin(desk), allow_redirects=False)
        assert no_token.status == 403
        foreign = await desk.client.post(
            act,
            data={**form, "csrf": csrf},
            headers={"Origin": "https://evil.example"},
            allow_redirects=False,
        )
        assert foreign.status == 403
        ok = await desk.client.post(
            act, data={**form, "csrf": csrf}, headers=origin(desk), allow_redirects=False
        )
        assert ok.status == 303
        await desk.runner.settle()
        await desk.runner.step("< กำลังตรวจสอบ")  # the volunteer is told, as for a chat command
        await desk.runner.step("staff3< ในเดสก์")  # the region's chat sees what the desk did
        await desk.runner.step("staff5<! ในเดสก์")
        async with desk.driver.services.store.transaction() as uow:
            tip = await uow.tips.get(desk.code)
            assert tip is not None and tip.status == "in_review"
            events = await uow.desk.timeline(tip.id)
            logged = await uow.audit.entries(case_code=desk.code)
        # the region-5 session's attempts are in the tip's history; the region-3 change too
        assert [e.action for e in events if e.actor.startswith("desk:")] == [
            "access_denied",
            "access_denied",
            "status",
        ]
        desk_rows = [(e.actor_kind, e.action, e.detail) for e in logged if e.actor_kind == "desk"]
        assert ("desk", "tip_read", "desk; tip page") in desk_rows
        assert ("desk", "status_change", "desk; received → in_review") in desk_rows
        assert all(e.actor.startswith("staff:") for e in logged if e.actor_kind == "desk")


async def test_exports_keep_thai_and_leave_out_the_reporter(settings: Settings, tmp_path: Path) -> None:
    async with desk_env(settings, tmp_path) as desk:
        await sign_in(desk, "staff3")
        r = await desk.client.get("/desk/export.csv?province=สุรินทร์")
        raw = await r.read()
        assert r.status == 200 and "attachment" in r.headers["Content-Disposition"]
        assert raw.startswith(b"\xef\xbb\xbf")
        text = raw.decode("utf-8-sig")
        assert "รหัสเรื่อง" in text and desk.code in text and "เรียกรับสินบน" in text and "โฉนด" in text
        assert "ทางบอทเท่านั้น" not in text  # contact details never exported
        x = await desk.client.get("/desk/export.xlsx")
        wb = openpyxl.load_workbook(io.BytesIO(await x.read()))
        rows = list(wb.active.iter_rows(values_only=True))
        assert rows[0][0] == "รหัสเรื่อง" and rows[1][0] == desk.code and "สุรินทร์" in rows[1]


async def test_sessions_end_when_idle_and_when_the_chat_leaves(settings: Settings, tmp_path: Path) -> None:
    async with desk_env(settings, tmp_path) as desk:
        await sign_in(desk, "staff3")
        assert (await desk.client.get("/desk")).status == 200
        desk.clock.offset += timedelta(minutes=31)
        assert (await desk.client.get("/desk")).status == 401
        services = desk.driver.services
        assert services.scheduler is not None and services.casedesk is not None
        await services.scheduler.tick()  # the periodic sweep removes the ended session and used links
        async with services.store.transaction() as uow:
            left = await uow.session.execute(text("SELECT count(*) FROM desk_session"))
            links = await uow.session.execute(text("SELECT count(*) FROM desk_link"))
            assert left.scalar_one() == 0 and links.scalar_one() == 0
        await sign_in(desk, "staff3")
        await desk.driver.say("staff3", "/leave")
        await services.settle()
        assert (await desk.client.get("/desk")).status == 401  # revoked: its sessions end at once


async def test_related_tips_and_closing_a_duplicate(settings: Settings, tmp_path: Path) -> None:
    async with desk_env(settings, tmp_path) as desk:
        second = await desk.second_report()
        csrf = await sign_in(desk, "staff3")
        page = await (await desk.client.get(f"/desk/tip/{second}")).text()
        related = page.split('id="related"', 1)[1].split("</section>", 1)[0]
        assert desk.code in related  # the matcher's suggestion, with its reasons
        listed = await (await desk.client.get(f"/desk?related={second}")).text()
        assert desk.code in listed and f'href="/desk/tip/{second}"' not in listed
        r = await desk.client.post(
            f"/desk/tip/{second}/act",
            data={"csrf": csrf, "action": "duplicate", "other": desk.code, "note": "เรื่องเดียวกัน"},
            headers=origin(desk),
            allow_redirects=False,
        )
        assert r.status == 303
        await desk.runner.settle()
        await desk.runner.step("second< ถูกรวมเข้ากับเรื่องที่เจ้าหน้าที่กำลังดูแลอยู่แล้ว")
        await desk.runner.step("staff3< ปิดเรื่อง")
        async with desk.driver.services.store.transaction() as uow:
            tip = await uow.tips.get(second)
            assert tip is not None and (tip.status, tip.status_detail) == ("closed", "duplicate")


def test_operator_prints_a_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tipbot desk link --staff ID` (in process): a link that signs in once; organizer chats get none."""
    url = f"sqlite+aiosqlite:///{tmp_path}/tipbot.db"
    for name, value in {
        "TIPBOT_DATABASE_URL": url,
        "TIPBOT_SECRET_KEY": "test-secret-key-0123456789abcdef",
        "TIPBOT_STORY_PAUSE": "0",
        "TIPBOT_PUBLIC_URL": "https://desk.example.org",
    }.items():
        monkeypatch.setenv(name, value)
    settings = make_settings(url, tmp_path)

    async def chats() -> tuple[int, int]:
        store = await open_store(settings, migrate=True)
        async with store.transaction() as uow:
            staff = await uow.staff.join("webchat", "office3", "3", "staff", "th", datetime.now(UTC))
            org = await uow.staff.join("webchat", "org3", "3", "organizer", "th", datetime.now(UTC))
        await store.engine.dispose()
        return staff.id, org.id

    staff_id, org_id = asyncio.run(chats())
    # the command's handler in process (`main` would also set up the process's logging)
    assert desk_command(Settings(), Namespace(staff=staff_id, case=None)) == 0
    link = capsys.readouterr().out.strip().splitlines()[-1]
    assert link.startswith("https://desk.example.org/desk/in/")
    assert desk_command(Settings(), Namespace(staff=org_id, case=None)) == 1

    async def use(token: str) -> tuple[object, object]:
        services = await build_services(settings, migrate=True, autostart=False, with_webchat=False)
        try:
            assert services.casedesk is not None
            return await services.casedesk.sign_in(token, "th"), await services.casedesk.sign_in(token, "th")
        finally:
            await services.close()

    first, second = asyncio.run(use(link.rsplit("/", 1)[1]))
    assert first is not None and second is None


def test_the_map_has_every_province_once_on_its_own_tile() -> None:
    from bot.core.routing import RegionTable
    from handlers.desk.mapgrid import TILES

    names = [t.province for t in TILES]
    assert sorted(names) == sorted(p.name_th for p in RegionTable.load().provinces)
    assert len({(t.row, t.col) for t in TILES}) == len(TILES) == 77


def test_filters_ignore_what_they_do_not_know_and_exports_defuse_formulas() -> None:
    from bot.core.desk import parse_filter
    from handlers.desk.export import csv_bytes, xlsx_bytes

    f = parse_filter(
        {
            "status": "bogus",
            "category": "bribery",
            "from": "2026-13-45",
            "page": "-4",
            "q": " a  b ",
            "sort": "x",
        },
        {"bribery"},
    )
    assert (f.status, f.category, f.date_from, f.page, f.query, f.sort) == (
        None,
        "bribery",
        None,
        1,
        "a b",
        "newest",
    )
    evil = ['=HYPERLINK("http://x")', "+1", "สุรินทร์"]
    assert b"'=HYPERLINK" in csv_bytes(["a", "b", "c"], [evil])
    cells = list(
        openpyxl.load_workbook(io.BytesIO(xlsx_bytes(["a", "b", "c"], [evil]))).active.iter_rows(
            values_only=True
        )
    )
    assert cells[1] == ('\'=HYPERLINK("http://x")', "'+1", "สุรินทร์")


async def test_a_withdrawn_tip_shows_nothing_of_its_content_in_the_desk(
    settings: Settings, tmp_path: Path
) -> None:
    """The reporter's right to erasure reaches the desk: after `/forget` withdraws a tip, its page,
    the search and the exports show its statistics only, never the narrative or the photo."""
    async with desk_env(settings, tmp_path) as desk:
        await desk.attach_photo()
        await sign_in(desk, "staff3")
        before = await (await desk.client.get(f"/desk/tip/{desk.code}")).text()
        assert "โฉนด" in before and f"/desk/tip/{desk.code}/file/1" in before
        for line in ("> /forget", "< ถอน", "> [ยืนยันลบข้อมูล]", "< ลบข้อมูลของคุณแล้ว"):
            await desk.runner.step(line)
        page = await desk.client.get(f"/desk/tip/{desk.code}")
        body = await page.text()
        assert page.status == 200 and desk.code in body  # the statistics row stays
        assert "โฉนด" not in body and "ใต้โต๊ะ" not in body and "สำนักงานที่ดิน" not in body
        assert f"/desk/tip/{desk.code}/file/1" not in body
        assert (await desk.client.get(f"/desk/tip/{desk.code}/file/1")).status == 404
        assert desk.code not in await (await desk.client.get("/desk?q=โฉนด")).text()
        exported = await (await desk.client.get("/desk/export.csv")).text()
        assert desk.code in exported and "โฉนด" not in exported
        # the web chat's history of that browser holds only what came after the erasure
        r = await desk.client.get(
            "/chat/api/messages", params={"session": session_of("volunteer"), "after": "0", "wait": "0"}
        )
        shown = [m["text"] for m in (await r.json())["messages"]]
        assert shown and shown[0].startswith("ลบข้อมูลของคุณแล้ว")
        assert not any("โฉนด" in text or "สำนักงานที่ดิน" in text for text in shown)
