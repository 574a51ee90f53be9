"""`tipbot broadcast create|list|show|cancel`, run as a real process against invented volunteers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.app import open_store
from tests.broadcast_seed import Volunteer, seed
from tests.conftest import make_settings
from tests.test_cli import tipbot


def volunteers(tmp: Path) -> None:
    async def go() -> None:
        store = await open_store(make_settings(f"sqlite+aiosqlite:///{tmp}/tipbot.db", tmp), migrate=True)
        try:
            await seed(
                store,
                [Volunteer("webchat", f"web-{n}", "สุรินทร์") for n in range(7)]
                + [Volunteer("webchat", f"web-far-{n}", "เชียงใหม่") for n in range(3)]
                + [Volunteer("webchat", "web-quiet", "สุรินทร์", opted_out=True)],
            )
        finally:
            await store.engine.dispose()

    asyncio.run(go())


def test_create_list_show_cancel(tmp_path: Path) -> None:
    volunteers(tmp_path)
    body = tmp_path / "notice.txt"
    body.write_text("ขอเชิญร่วมอบรม\nมีอาหารกลางวัน\n", "utf-8")
    args = ["broadcast", "create", "--title", "อบรมอาสาสมัคร", "--body-file", str(body)]

    refused = tipbot(tmp_path, *args, "--province", "Surin")
    assert refused.returncode == 1 and "add --yes" in refused.stderr
    assert "recipients: 7" in refused.stdout and "webchat: 7" in refused.stdout
    # the notice as volunteers will see it, before the question
    preview = refused.stdout.split("recipients:")[0]
    assert "the notice as volunteers will see it:" in preview
    assert "อบรมอาสาสมัคร" in preview and "ขอเชิญร่วมอบรม\nมีอาหารกลางวัน" in preview
    assert "sending now" in preview

    later = "2099-01-02 09:30"
    made = tipbot(
        tmp_path,
        *args,
        "--province",
        "สุรินทร์",
        "--at",
        later,
        "--event-at",
        "2099-01-05 13:00",
        "--rsvp",
        "--yes",
    )
    assert made.returncode == 0, made.stderr
    bc_id = made.stdout.strip().splitlines()[-1]
    assert "sending at 2099-01-02 09:30 (Thai time)" in made.stdout
    assert "[เข้าร่วม]" in made.stdout and "13:00" in made.stdout  # RSVP buttons and the event time

    listed = tipbot(tmp_path, "broadcast", "list")
    assert listed.returncode == 0
    assert f"{bc_id:>4}  scheduled" in listed.stdout and "2099-01-02 09:30" in listed.stdout

    shown = tipbot(tmp_path, "broadcast", "show", bc_id)
    assert shown.returncode == 0 and "status: scheduled, starts 2099-01-02 09:30 (Thai time)" in shown.stdout
    assert "starts in " in shown.stdout and " d " in shown.stdout and "sent 0" not in shown.stdout

    cancelled = tipbot(tmp_path, "broadcast", "cancel", bc_id)
    assert cancelled.returncode == 0 and f"broadcast {bc_id} cancelled" in cancelled.stdout
    again = tipbot(tmp_path, "broadcast", "cancel", bc_id)
    assert again.returncode == 1 and "already gone out or was cancelled" in again.stderr
    assert "status: cancelled" in tipbot(tmp_path, "broadcast", "show", bc_id).stdout


def test_bad_input_gets_a_clear_answer(tmp_path: Path) -> None:
    body = tmp_path / "notice.txt"
    body.write_text("ข้อความ", "utf-8")
    base = ["broadcast", "create", "--title", "อบรม", "--body-file", str(body), "--yes"]
    cases = {
        ("--province", "แอตแลนติส"): "unknown province",
        ("--at", "2001-01-01 09:00"): "--at is in the past",
        ("--at", "พรุ่งนี้"): "not a time",
        ("--rsvp",): "--rsvp needs --event-at",
    }
    for extra, message in cases.items():
        out = tipbot(tmp_path, *base, *extra)
        assert out.returncode != 0 and message in out.stderr + out.stdout, (extra, out.stderr)
        assert "Traceback" not in out.stderr
    missing = tipbot(tmp_path, "broadcast", "show", "999")
    assert missing.returncode == 1 and "no broadcast 999" in missing.stderr
