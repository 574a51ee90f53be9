"""The `tipbot` command line: serve, chat, database, staff invites, export, status, parse."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.casecode import ALPHABET
from bot.routing import REGIONS
from bot.settings import Settings

log = logging.getLogger("tipbot")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tipbot", description="PACC Connect tip line")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web server (webhooks, web chat, workers)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--telegram-polling", action="store_true", help="use getUpdates instead of a webhook")

    chat = sub.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--as", dest="name", default="volunteer", help="who you are (one identity per name)")

    db = sub.add_parser("db", help="database")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    dbsub.add_parser("upgrade", help="apply pending migrations")

    staff = sub.add_parser("staff", help="staff chats")
    ssub = staff.add_subparsers(dest="staff_command", required=True)
    inv = ssub.add_parser("invite", help="create a one-time invite code")
    inv.add_argument("--region", required=True, choices=REGIONS)
    inv.add_argument("--role", default="staff", choices=("staff", "organizer", "admin"))
    inv.add_argument("--ttl-hours", type=float, default=72.0)

    tips = sub.add_parser("tips", help="tips")
    tsub = tips.add_subparsers(dest="tips_command", required=True)
    exp = tsub.add_parser("export", help="export tips (never the reporter's identity)")
    exp.add_argument("--format", choices=("csv", "jsonl"), default="jsonl")
    exp.add_argument("--region", choices=REGIONS)

    sub.add_parser("status", help="tips, queues, failed sends and routing gaps")

    parse = sub.add_parser("parse", help="what tipbot understands in a Thai message (JSON)")
    parse.add_argument("text", help="the message, or - to read one message per line from stdin")
    parse.add_argument("--today", type=date.fromisoformat)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    handler = {
        "serve": _serve,
        "chat": _chat,
        "db": _db,
        "staff": _staff,
        "tips": _tips,
        "status": _status,
        "parse": _parse,
    }[args.command]
    return handler(settings, args)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.app import create_app

    app = create_app(settings)
    web.run_app(app, host=args.host or settings.host, port=args.port or settings.port, print=None)
    return 0


def _chat(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import run_console

    logging.getLogger().setLevel(logging.WARNING)
    return asyncio.run(run_console(settings, args.name, sys.stdin, sys.stdout))


def _db(settings: Settings, args: argparse.Namespace) -> int:
    from storage.database import upgrade

    upgrade(settings.database_url)
    print("database is up to date")
    return 0


def new_invite_code() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(10))
    return f"JOIN-{body[:5]}-{body[5:]}"


def _staff(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_store

    async def invite() -> str:
        store = await open_store(settings)
        try:
            code = new_invite_code()
            now = datetime.now(UTC)
            async with store.transaction() as uow:
                await uow.invite_create(
                    code, args.region, args.role, now + timedelta(hours=args.ttl_hours), now
                )
            return code
        finally:
            await store.engine.dispose()

    code = asyncio.run(invite())
    print(
        f"invite for region {args.region} ({args.role}), valid {args.ttl_hours:g} h; "
        f"in the chat send: /join {code}"
    )
    print(code)
    return 0


def _tips(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_store
    from storage.reports import EXPORT_FIELDS, export_tips

    async def export() -> list[dict[str, Any]]:
        store = await open_store(settings)
        try:
            return [row async for row in export_tips(store, args.region)]
        finally:
            await store.engine.dispose()

    rows = asyncio.run(export())
    if args.format == "jsonl":
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        import defusedcsv.csv as safe_csv

        writer = safe_csv.DictWriter(sys.stdout, fieldnames=list(EXPORT_FIELDS), quoting=safe_csv.QUOTE_ALL)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return 0


def _status(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_store
    from storage.reports import status_summary

    async def read() -> dict[str, Any]:
        store = await open_store(settings)
        try:
            return await status_summary(store)
        finally:
            await store.engine.dispose()

    s = asyncio.run(read())
    print("tips by region and status:")
    if not s["tips"]:
        print("  (none)")
    for row in sorted(s["tips"], key=lambda r: (r["region"], r["status"])):
        print(f"  region {row['region']:>7}  {row['status']:<14} {row['count']}")
    print("inbox:", ", ".join(f"{k} {v}" for k, v in sorted(s["inbox"].items())) or "empty")
    print("outbox:", ", ".join(f"{r['channel']}/{r['status']} {r['count']}" for r in s["outbox"]) or "empty")
    print("failed sends:", sum(r["count"] for r in s["failed_sends"]))
    for r in s["failed_sends"]:
        print(f"  {r['channel']}: {r['error']} ({r['count']})")
    print("routing gaps:", s["routing_gaps"])
    print(
        "active staff chats by region:",
        ", ".join(f"{k} {v}" for k, v in sorted(s["staff_chats"].items())) or "none",
    )
    for channel, until in s["paused"].items():
        print(f"PAUSED: {channel} sending paused until {until} (monthly limit)")
    return 0


def _parse(settings: Settings, args: argparse.Namespace) -> int:
    from bot.routing import RegionTable
    from bot.thai.cli import run

    return run(args.text, args.today, sys.stdin, sys.stdout, RegionTable.load(settings.regions_file))


if __name__ == "__main__":
    raise SystemExit(main())
