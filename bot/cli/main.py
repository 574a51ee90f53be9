"""The `tipbot` command line: serve, chat, database, staff invites, export, status, parse."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from bot.core import audit
from bot.core.casecode import ALPHABET
from bot.core.routing import REGIONS, staff_warnings
from bot.logs import configure as configure_logs
from bot.settings import Settings

log = logging.getLogger("tipbot")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tipbot", description="PACC Connect tip line")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web server (webhooks, web chat, workers)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--telegram-polling", action="store_true", help="use getUpdates instead of a webhook")

    sub.add_parser("worker", help="run only the dispatcher and the relay (no web server), beside `serve`")

    chat = sub.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--as", dest="name", default="volunteer", help="who you are (one identity per name)")

    db = sub.add_parser("db", help="database")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    dbsub.add_parser("upgrade", help="apply pending migrations")
    dbsub.add_parser(
        "rotate-key",
        help="re-encrypt everything under TIPBOT_SECRET_KEY (old keys in TIPBOT_OLD_SECRET_KEYS)",
    )

    staff = sub.add_parser("staff", help="staff chats")
    ssub = staff.add_subparsers(dest="staff_command", required=True)
    inv = ssub.add_parser("invite", help="create a one-time invite code")
    inv.add_argument("--region", required=True, choices=REGIONS)
    inv.add_argument("--role", default="staff", choices=("staff", "organizer", "admin"))
    inv.add_argument("--ttl-hours", type=float, default=72.0)
    lst = ssub.add_parser("list", help="staff chats")
    lst.add_argument("--region", choices=REGIONS)
    rev = ssub.add_parser("revoke", help="stop alerts to a staff chat")
    rev.add_argument("id", type=int)

    line = sub.add_parser("line", help="LINE set-up")
    lsub = line.add_subparsers(dest="line_command", required=True)
    rich = lsub.add_parser("richmenu", help="the rich menu")
    rich.add_argument("action", choices=("install",))

    tg = sub.add_parser("telegram", help="Telegram set-up")
    tsub_tg = tg.add_subparsers(dest="telegram_command", required=True)
    setwh = tsub_tg.add_parser("set-webhook", help="point Telegram at this server")
    setwh.add_argument("--url", required=True, help="public HTTPS URL ending in /webhooks/telegram")
    tsub_tg.add_parser("delete-webhook", help="stop webhook delivery (pending updates are kept)")

    tips = sub.add_parser("tips", help="tips")
    tsub = tips.add_subparsers(dest="tips_command", required=True)
    exp = tsub.add_parser("export", help="export tips (never the reporter's identity)")
    exp.add_argument("--format", choices=("csv", "jsonl"), default="jsonl")
    exp.add_argument("--region", choices=REGIONS)

    sub.add_parser("status", help="tips, queues, failed sends and routing gaps")

    ev = sub.add_parser("evidence", help="evidence files")
    evsub = ev.add_subparsers(dest="evidence_command", required=True)
    get = evsub.add_parser("get", help="write one evidence file of a tip, as the volunteer sent it")
    get.add_argument("case_code")
    get.add_argument("n", type=int, help="which file: 1 is the first, as numbered in the staff chat")
    get.add_argument("--out", required=True, help="a new file (never overwritten)")

    from bot.cli import broadcast as cli_broadcast

    cli_broadcast.add_parser(sub)

    ret = sub.add_parser("retention", help="erase what is past its retention period")
    rsub = ret.add_subparsers(dest="retention_command", required=True)
    rrun = rsub.add_parser("run", help="erase everything due now (the scheduler does this once a day)")
    rrun.add_argument("--dry-run", action="store_true", help="only print what would be erased, by kind")

    audit = sub.add_parser("audit", help="the tamper-evident audit log")
    asub = audit.add_subparsers(dest="audit_command", required=True)
    asub.add_parser("verify", help="check the hash chain; name the first broken link")
    alist = asub.add_parser("list", help="audit rows, oldest first")
    alist.add_argument("--case", help="only this case code")
    alist.add_argument("--since", help="a date or time (2026-12-01, 2026-12-01T09:00, Thai time) or 24h, 7d")
    alist.add_argument("--limit", type=int, default=1000, help="at most the newest N rows (default 1000)")

    desk = sub.add_parser("desk", help="the case desk")
    dsub = desk.add_subparsers(dest="desk_command", required=True)
    dlink = dsub.add_parser("link", help="print a one-time sign-in link for a staff chat (10 minutes)")
    dlink.add_argument("--staff", type=int, required=True, help="the staff chat's id (tipbot staff list)")
    dlink.add_argument("--case", default=None, help="open this case code after signing in")

    parse = sub.add_parser("parse", help="what tipbot understands in a Thai message (JSON)")
    parse.add_argument("text", help="the message, or - to read one message per line from stdin")
    parse.add_argument("--today", type=date.fromisoformat)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    configure_logs(settings.log_level, settings.log_format)
    handler = {
        "serve": _serve,
        "worker": _worker,
        "chat": _chat,
        "db": _db,
        "staff": _staff,
        "tips": _tips,
        "status": _status,
        "parse": _parse,
        "line": _line,
        "telegram": _telegram,
        "broadcast": _broadcast,
        "evidence": _evidence,
        "audit": _audit,
        "desk": _desk,
        "retention": _retention,
    }[args.command]
    return handler(settings, args)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.app import create_app, server_options

    if args.port:  # the port names this process (its default instance name)
        settings = settings.model_copy(update={"port": args.port})
    app = create_app(settings, telegram_polling=args.telegram_polling)
    host, port = args.host or settings.host, args.port or settings.port
    # On SIGTERM aiohttp stops listening, lets requests in progress finish (up to the shutdown
    # timeout) and then runs the clean-up that stops the dispatcher and relay between events.
    # server_options: no access log, and the keep-alive and slow-body limits.
    web.run_app(
        app,
        host=host,
        port=port,
        # once the port is open: the address to open, instead of aiohttp's banner
        print=lambda _banner: print(open_hint(host, port, settings.webchat), flush=True),
        shutdown_timeout=settings.shutdown_timeout,
        **server_options(settings),
    )
    return 0


def open_hint(host: str, port: int, webchat: bool) -> str:
    """What `tipbot serve` prints once it listens: the address a person opens."""
    # listening on every interface: the local address is the one that surely opens
    everywhere = host in ("0.0.0.0", "", "::")  # noqa: S104
    shown = "127.0.0.1" if everywhere else f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    if webchat:
        return f"tipbot is running: open {base}/chat in a browser (Ctrl+C stops it)"
    return f"tipbot is running on {base} (Ctrl+C stops it)"


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import run_worker

    return asyncio.run(run_worker(settings))


def _chat(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import run_console

    logging.getLogger().setLevel(logging.WARNING)
    return asyncio.run(run_console(settings, args.name, sys.stdin, sys.stdout))


def _db(settings: Settings, args: argparse.Namespace) -> int:
    from storage.database import upgrade

    if args.db_command == "rotate-key":
        return asyncio.run(_rotate(settings))
    upgrade(settings.database_url)
    print("database is up to date")
    return 0


async def _rotate(settings: Settings) -> int:
    from bot.app import open_store
    from storage.maintenance import rotate_keys
    from storage.media import FileMediaStore

    if not settings.old_secret_keys:
        print(
            "set TIPBOT_OLD_SECRET_KEYS to the previous key(s) and TIPBOT_SECRET_KEY to the new one",
            file=sys.stderr,
        )
        return 2
    store = await open_store(settings)
    try:
        counts = await rotate_keys(store, FileMediaStore(settings.media_dir))
    finally:
        await store.engine.dispose()
    for name, n in counts.items():
        print(f"{name}: {n}")
    print("done: the old key can now be removed from TIPBOT_OLD_SECRET_KEYS")
    return 0


def new_invite_code() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(10))
    return f"JOIN-{body[:5]}-{body[5:]}"


def _staff(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_store

    if args.staff_command in ("list", "revoke"):
        return asyncio.run(_staff_manage(settings, args))

    async def invite() -> str:
        store = await open_store(settings)
        try:
            code = new_invite_code()
            now = datetime.now(UTC)
            async with store.transaction() as uow:
                await uow.staff.create_invite(
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


async def _staff_manage(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_store

    store = await open_store(settings)
    try:
        async with store.transaction() as uow:
            if args.staff_command == "revoke":
                chats = {c.id: c for c in await uow.staff.chats()}
                if args.id not in chats:
                    print(f"no staff chat {args.id}", file=sys.stderr)
                    return 1
                await uow.staff.deactivate(args.id, datetime.now(UTC))
                print(f"staff chat {args.id} revoked: it gets no more alerts")
                return 0
            chats_list = await uow.staff.chats(args.region)
        print(f"{'id':>4}  {'channel':<9} {'region':<8} {'role':<10} active")
        for c in chats_list:
            # The chat id itself stays out of the listing: it identifies a person or group.
            print(f"{c.id:>4}  {c.channel:<9} {c.region:<8} {c.role:<10} {'yes' if c.active else 'no'}")
        return 0
    finally:
        await store.engine.dispose()


def _desk(settings: Settings, args: argparse.Namespace) -> int:
    """`tipbot desk link --staff ID`: a sign-in link for an operator to hand to that chat's staff."""
    import os

    from bot.app import open_store
    from bot.runtime.staff import StaffDesk

    async def link() -> int:
        store = await open_store(settings)
        try:
            async with store.transaction() as uow:
                chat = await uow.staff.by_id(args.staff)
                if chat is None or not chat.active:
                    print(f"no active staff chat {args.staff}", file=sys.stderr)
                    return 1
                if chat.role not in ("staff", "admin"):
                    print(f"staff chat {args.staff} is an {chat.role} chat: no desk", file=sys.stderr)
                    return 1
                desk = StaffDesk(entropy=os.urandom, public_url=settings.public_url)
                code = args.case.strip().upper() if args.case else None
                replies = await desk.desk_link(uow, chat, code, datetime.now(UTC))
        finally:
            await store.engine.dispose()
        print(f"one-time sign-in link for staff chat {args.staff} (region {chat.region}), valid 10 minutes:")
        print(replies[0].params["url"])
        return 0

    return asyncio.run(link())


def _line(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.line_enabled:
        print("set TIPBOT_LINE_CHANNEL_SECRET and TIPBOT_LINE_CHANNEL_ACCESS_TOKEN first", file=sys.stderr)
        return 2
    from bot.app import RICH_MENU_LABELS
    from bot.core.catalog import Catalog
    from handlers.line import LineChannel
    from handlers.line_richmenu import install_rich_menu

    catalog = Catalog.load(default_locale=settings.default_locale)
    labels = [catalog.text(k) for k in RICH_MENU_LABELS]
    assert settings.line_channel_secret is not None
    assert settings.line_channel_access_token is not None

    async def install() -> str:
        async with LineChannel(
            channel_secret=settings.line_channel_secret.get_secret_value(),  # type: ignore[union-attr]
            access_token=settings.line_channel_access_token.get_secret_value(),  # type: ignore[union-attr]
            api_base_url=settings.line_api_base_url,
            data_api_base_url=settings.line_data_api_base_url,
        ) as channel:
            return str(await install_rich_menu(channel, labels))

    print(f"rich menu installed as default: {asyncio.run(install())}")
    return 0


def _telegram(settings: Settings, args: argparse.Namespace) -> int:
    if settings.telegram_bot_token is None:
        print("set TIPBOT_TELEGRAM_BOT_TOKEN first", file=sys.stderr)
        return 2
    from handlers.telegram import TelegramChannel
    from handlers.telegram_setup import delete_webhook, set_webhook

    secret = settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else None
    if args.telegram_command == "set-webhook" and not args.url.startswith("https://"):
        print("Telegram only delivers to an https:// URL", file=sys.stderr)
        return 2
    if args.telegram_command == "set-webhook" and not secret:
        print(
            "set TIPBOT_TELEGRAM_WEBHOOK_SECRET first: the webhook refuses updates without it",
            file=sys.stderr,
        )
        return 2

    async def run() -> bool:
        channel = TelegramChannel(
            token=settings.telegram_bot_token.get_secret_value(),  # type: ignore[union-attr]
            webhook_secret=secret,
            api_base_url=settings.telegram_api_base_url,
        )
        await channel.start()
        try:
            if args.telegram_command == "set-webhook":
                assert secret is not None
                return await set_webhook(channel, args.url, secret)
            return await delete_webhook(channel)
        finally:
            await channel.close()

    ok = asyncio.run(run())
    print(f"{args.telegram_command}: {'done' if ok else 'refused by Telegram'}")
    return 0 if ok else 1


def _tips(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_store
    from storage.reports import EXPORT_FIELDS, export_tips

    async def export() -> list[dict[str, Any]]:
        store = await open_store(settings)
        try:
            rows = [row async for row in export_tips(store, args.region)]
            async with store.transaction() as uow:
                where = f" region {args.region}" if args.region else ""
                await uow.audit.append(
                    audit.OPERATOR,
                    "operator",
                    audit.EXPORT,
                    None,
                    f"{args.format}{where}: {len(rows)} tips",
                    datetime.now(UTC),
                )
            return rows
        finally:
            await store.engine.dispose()

    rows = asyncio.run(export())
    if args.format == "jsonl":
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        import defusedcsv.csv as safe_csv

        from bot.core.catalog import Catalog

        catalog = Catalog.load(default_locale=settings.default_locale)
        # A byte-order mark: Excel opens the file as UTF-8 (Thai intact) on a double click.
        sys.stdout.write("\ufeff")
        writer = safe_csv.writer(sys.stdout, quoting=safe_csv.QUOTE_ALL)
        loc = settings.default_locale
        writer.writerow([f"{catalog.text('export.column.' + name, loc)} ({name})" for name in EXPORT_FIELDS])
        for row in rows:
            shown = csv_row(catalog, settings.default_locale, row)
            writer.writerow(["" if shown[k] is None else shown[k] for k in EXPORT_FIELDS])
    return 0


def csv_row(catalog: Any, locale: str, row: dict[str, Any]) -> dict[str, Any]:
    """One exported tip as a spreadsheet shows it: Thai time without a zone, and Thai labels with
    their codes beside them (`ส่งต่อ ป.ป.ช. (forwarded.nacc)`), so a filter works on either."""
    out = dict(row)
    if row.get("created_at"):
        at = datetime.fromisoformat(row["created_at"]).astimezone(timezone(timedelta(hours=7)))
        out["created_at"] = at.strftime("%Y-%m-%d %H:%M")
    status = str(row.get("status") or "")
    base, _, detail = status.partition(".")
    label = catalog.text(f"export.status.{base}", locale)
    if detail:
        label = catalog.text(f"export.detail.{base}.{detail}", locale)
    out["status"] = f"{label} ({status})"
    if row.get("category"):
        out["category"] = f"{catalog.text('category.' + row['category'], locale)} ({row['category']})"
    region = str(row.get("region") or "")
    if region:
        name = (
            catalog.text("region.central", locale)
            if region == "central"
            else catalog.text("region.numbered", locale, {"n": region})
        )
        out["region"] = f"{name} ({region})"
    return out


def _status(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_store, retention
    from storage.reports import status_summary

    async def read() -> dict[str, Any]:
        store = await open_store(settings)
        try:
            summary = await status_summary(store)
            due = await retention(settings, store, None, lambda: datetime.now(UTC)).due()
            summary["retention_due"] = {k: n for k, n in due.items() if n}
            return summary
        finally:
            await store.engine.dispose()

    s = asyncio.run(read())
    bangkok = timezone(timedelta(hours=7))
    print(f"database: {s['database']}   (times are Thai time)")
    print()
    print("TIPS by region and status")
    if not s["tips"]:
        print("  (none)")
    for row in sorted(s["tips"], key=lambda r: (r["region"], r["status"])):
        print(f"  region {row['region']:>7}  {row['status']:<14} {row['count']}")
    print()
    print("STAFF CHATS")
    print(
        "  active staff chats by region:",
        ", ".join(f"{k} {v}" for k, v in sorted(s["staff_chats"].items())) or "none",
    )
    for line in staff_warnings(set(s["staff_chats"])):
        print("  WARNING: " + line)
    print()
    print("ROUTING")
    print("  routing gaps:", s["routing_gaps"])
    named: dict[str, dict[str, Any]] = {}
    for gap in s["routing_gap_tips"]:  # a tip alerted to nobody has both events: one line
        seen = named.setdefault(gap["case_code"], dict(gap))
        seen["unalerted"] = seen["unalerted"] or gap["unalerted"]
    for code, gap in named.items():
        at = gap["at"].astimezone(bangkok).strftime("%Y-%m-%d %H:%M") if gap["at"] else "?"
        region = "no place (central)" if gap["region"] == "central" else f"region {gap['region']}"
        went = "sent to the central office"
        if gap["unalerted"]:
            went = "ALERTED TO NOBODY (no central office chat)"
        print(f"    {code}  {region}, {at}: {went}")
    print()
    print("QUEUES")
    print("  inbox:", ", ".join(f"{k} {v}" for k, v in sorted(s["inbox"].items())) or "empty")
    if s["oldest_pending_seconds"] is not None:
        print(f"    oldest pending event received {s['oldest_pending_seconds']:.0f} s ago")
    print(
        "  outbox:", ", ".join(f"{r['channel']}/{r['status']} {r['count']}" for r in s["outbox"]) or "empty"
    )
    print(f"    being sent now (leased): {s['outbox_in_flight']}")
    print("  possible duplicate sends:", s["possible_duplicates"])
    print("  failed sends:", sum(r["count"] for r in s["failed_sends"]))
    for r in s["failed_sends"]:
        print(f"    {r['channel']}: {r['error']} ({r['count']})")
    for r in s["failed_send_tips"]:
        print(f"    {r['case_code']}  {r['kind']} on {r['channel']} failed: {r['error']}")
    for channel, until in s["paused"].items():
        print(f"  PAUSED: {channel} sending paused until {until} (monthly limit)")
    if settings.spool_dir is not None:
        from storage.spool import Spool

        waiting = Spool(settings.spool_dir).pending()
        print(f"  spool: {waiting} requests waiting in {settings.spool_dir}" if waiting else "  spool: empty")
    print()
    print("RETENTION")
    print("  retention due now:", ", ".join(f"{k} {n}" for k, n in s["retention_due"].items()) or "nothing")
    print()
    print("PROCESSES (last heartbeat)" if s["processes"] else "PROCESSES: none registered")
    timeout = settings.heartbeat_timeout.total_seconds()
    for p in s["processes"]:
        beat = f"{p['heartbeat_seconds']:.0f} s ago" if p["heartbeat_seconds"] is not None else "never"
        silent = p["heartbeat_seconds"] is None or p["heartbeat_seconds"] > timeout
        state = f"stopped ({p['stopped']})" if p["stopped"] else "SILENT" if silent else "running"
        state += f", {p['outbox_leased']} outbox rows leased" if p["outbox_leased"] else ""
        print(f"  {p['instance']} {p['role']} pid {p['pid']}: beat {beat}, {state}")
    return 0


def _evidence(settings: Settings, args: argparse.Namespace) -> int:
    """The original file, metadata and all (staff chats only ever get stripped copies)."""
    import os
    from pathlib import Path

    from bot.app import open_store
    from storage.media import FileMediaStore

    out = Path(args.out)

    async def fetch() -> bytes | str:
        store = await open_store(settings)
        try:
            async with store.transaction() as uow:
                tip = await uow.tips.get(args.case_code.strip().upper())
                if tip is None:
                    return f"no case {args.case_code}"
                files = await uow.attachments.of_tip(tip.id)
                if not 1 <= args.n <= len(files):
                    return f"case {tip.case_code} has {len(files)} evidence file(s), not a number {args.n}"
                stored = await uow.attachments.file(files[args.n - 1][0])
                if stored is None:
                    return f"evidence {args.n} of case {tip.case_code} is gone"
                data = FileMediaStore(settings.media_dir).get(stored[0])
                # Every read of evidence is in the audit log, the operator's too.
                now = datetime.now(UTC)
                await uow.tips.add_event(
                    tip.id, actor="operator", action="evidence_fetched", at=now, note=str(args.n)
                )
                await uow.audit.append(
                    audit.OPERATOR, "operator", audit.EVIDENCE_READ, tip.case_code, f"file {args.n}", now
                )
                return data
        finally:
            await store.engine.dispose()

    if out.exists():
        print(f"{out} exists: not overwritten", file=sys.stderr)
        return 1
    found = asyncio.run(fetch())
    if isinstance(found, str):
        print(found, file=sys.stderr)
        return 1
    try:
        # only the operator may read it; O_EXCL: a file made meanwhile is not overwritten either
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"{out} exists: not overwritten", file=sys.stderr)
        return 1
    with os.fdopen(fd, "wb") as f:
        f.write(found)
    print(f"{out}: {len(found)} bytes")
    return 0


THAI_TIME = timezone(timedelta(hours=7))


def _retention(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_store, retention
    from storage.media import FileMediaStore

    async def run() -> dict[str, int]:
        store = await open_store(settings)
        try:
            job = retention(settings, store, FileMediaStore(settings.media_dir), lambda: datetime.now(UTC))
            if args.dry_run:
                return await job.due()
            return await job.run(actor_kind=audit.OPERATOR, actor="operator")
        finally:
            await store.engine.dispose()

    counts = asyncio.run(run())
    verb = "would erase" if args.dry_run else "erased"
    for kind, n in counts.items():
        print(f"{kind:<16} {verb} {n}")
    return 0


def parse_since(value: str, now: datetime) -> datetime | None:
    """`7d`, `24h`, or an ISO date/time (Thai time unless it names its offset); None if unreadable."""
    value = value.strip()
    units = {"d": timedelta(days=1), "h": timedelta(hours=1)}
    if value[-1:] in units and value[:-1].isdigit():
        return now - int(value[:-1]) * units[value[-1]]
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=THAI_TIME)


def _audit(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_store

    since = None
    if args.audit_command == "list" and args.since:
        since = parse_since(args.since, datetime.now(UTC))
        if since is None:
            print(f"--since: not a date, a time or a period like 7d: {args.since}", file=sys.stderr)
            return 2

    async def run() -> int:
        store = await open_store(settings)
        try:
            async with store.transaction() as uow:
                if args.audit_command == "verify":
                    check = await uow.audit.verify()
                    if check.intact:
                        head = f"; head #{check.head_id} {check.head_hash}" if check.head_id else ""
                        print(f"audit chain intact: {check.rows} rows{head}")
                        return 0
                    why = {
                        "changed": "its content or hash was changed",
                        "unlinked": "it does not follow the row before it (a row was deleted or inserted)",
                    }[check.reason or "changed"]
                    print(
                        f"audit chain BROKEN at row #{check.broken_at}: {why}; "
                        f"{check.rows} rows before it hold"
                    )
                    return 1
                code = args.case.strip().upper() if args.case else None
                rows = await uow.audit.entries(case_code=code, since=since, limit=args.limit)
        finally:
            await store.engine.dispose()
        for e in rows:
            at = e.at.astimezone(THAI_TIME).strftime("%Y-%m-%d %H:%M:%S")
            print(
                f"#{e.id}  {at}  {e.actor_kind}:{e.actor}  {e.action}  {e.case_code or '-'}"
                + (f"  {e.detail}" if e.detail else "")
            )
        if not rows:
            print("(no audit rows)")
        return 0

    return asyncio.run(run())


def _broadcast(settings: Settings, args: argparse.Namespace) -> int:
    from bot.cli import broadcast as cli_broadcast

    return cli_broadcast.run(settings, args)


def _parse(settings: Settings, args: argparse.Namespace) -> int:
    from bot.core.routing import RegionTable
    from bot.thai.cli import run

    return run(args.text, args.today, sys.stdin, sys.stdout, RegionTable.load(settings.regions_file))


if __name__ == "__main__":
    raise SystemExit(main())
