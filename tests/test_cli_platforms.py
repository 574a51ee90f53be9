"""`tipbot line richmenu install` and `tipbot telegram set-webhook` against the fake platforms,
and the staff chat listing and revocation."""

from __future__ import annotations

import os
from pathlib import Path

from tests import cli_process
from tests.conftest import SECRET
from tests.fakes.line import FAKE_ACCESS_TOKEN, FAKE_CHANNEL_SECRET, FakeLine
from tests.fakes.telegram import DEFAULT_TOKEN, FakeTelegram

ROOT = Path(__file__).resolve().parent.parent


async def tipbot(tmp: Path, *args: str, stdin: bytes | None = None, **env: str) -> tuple[int, str, str]:
    full = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TIPBOT_")},
        "TIPBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/tipbot.db",
        "TIPBOT_SECRET_KEY": SECRET,
        "TIPBOT_STORY_PAUSE": "0",
        "TIPBOT_MEDIA_DIR": str(tmp / "media"),
        **env,
    }
    done = await cli_process.run_async(args, env=full, cwd=ROOT, stdin=stdin, timeout=120)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


async def test_rich_menu_install(tmp_path: Path) -> None:
    async with FakeLine() as line:
        code, out, err = await tipbot(
            tmp_path,
            "line",
            "richmenu",
            "install",
            TIPBOT_LINE_CHANNEL_SECRET=FAKE_CHANNEL_SECRET,
            TIPBOT_LINE_CHANNEL_ACCESS_TOKEN=FAKE_ACCESS_TOKEN,
            TIPBOT_LINE_API_BASE_URL=line.url,
            TIPBOT_LINE_DATA_API_BASE_URL=line.url,
        )
        assert code == 0, err
        assert line.default_rich_menu is not None and line.default_rich_menu in out
        menu = line.rich_menus[line.default_rich_menu]
        assert len(menu["areas"]) == 4
        assert "แจ้งเบาะแส" in str(menu)


async def test_rich_menu_needs_credentials(tmp_path: Path) -> None:
    code, _, err = await tipbot(tmp_path, "line", "richmenu", "install")
    assert code == 2 and "TIPBOT_LINE_CHANNEL_SECRET" in err


async def test_telegram_webhook_set_and_delete(tmp_path: Path) -> None:
    async with FakeTelegram() as fake:
        env = {
            "TIPBOT_TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN,
            "TIPBOT_TELEGRAM_WEBHOOK_SECRET": "a-webhook-secret_123",
            "TIPBOT_TELEGRAM_API_BASE_URL": fake.api_base_url,
        }
        code, _, err = await tipbot(
            tmp_path, "telegram", "set-webhook", "--url", "https://tips.example.org/webhooks/telegram", **env
        )
        assert code == 0, err
        assert fake.webhook is not None
        assert fake.webhook.url == "https://tips.example.org/webhooks/telegram"
        assert fake.webhook.secret_token == "a-webhook-secret_123"
        code, _out, err = await tipbot(tmp_path, "telegram", "delete-webhook", **env)
        assert code == 0, err
        assert fake.webhook is None
        no_secret = {k: v for k, v in env.items() if k != "TIPBOT_TELEGRAM_WEBHOOK_SECRET"}
        code, _, err = await tipbot(
            tmp_path, "telegram", "set-webhook", "--url", "https://x.example/h", **no_secret
        )
        assert code == 2 and "TIPBOT_TELEGRAM_WEBHOOK_SECRET" in err


async def test_serve_refuses_a_telegram_webhook_without_a_secret(tmp_path: Path) -> None:
    code, _, err = await tipbot(tmp_path, "serve", "--port", "1", TIPBOT_TELEGRAM_BOT_TOKEN=DEFAULT_TOKEN)
    assert code != 0 and "TIPBOT_TELEGRAM_WEBHOOK_SECRET is required" in err


async def test_staff_list_and_revoke(tmp_path: Path) -> None:
    code, out, _ = await tipbot(tmp_path, "staff", "invite", "--region", "7")
    invite = out.strip().splitlines()[-1]
    code, out, err = await tipbot(tmp_path, "chat", "--as", "office7", stdin=f"/join {invite}\n".encode())
    assert code == 0, err
    code, listing, _ = await tipbot(tmp_path, "staff", "list", "--region", "7")
    assert "console" in listing and " 7 " in listing and "yes" in listing and "office7" not in listing
    staff_id = listing.strip().splitlines()[-1].split()[0]
    code, out, _ = await tipbot(tmp_path, "staff", "revoke", staff_id)
    assert code == 0
    code, listing, _ = await tipbot(tmp_path, "staff", "list")
    assert listing.strip().splitlines()[-1].split()[-1] == "no"
    code, _, _ = await tipbot(tmp_path, "staff", "revoke", "999")
    assert code == 1
