"""`tipbot broadcast create|list|show|cancel`: organizer notices from the operator's terminal."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from bot.core.compose import BANGKOK, MAX_BODY, MAX_PLACE, MAX_TITLE, notice_reply
from bot.core.model import Audience, BroadcastRecord
from bot.core.routing import REGIONS, RegionTable
from bot.core.understanding import ThaiUnderstanding
from bot.runtime.broadcast import Plan, plan, totals_params
from bot.settings import Settings

#: the channels a serving tipbot delivers on with these settings
WEB = ("webchat",)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bc = sub.add_parser("broadcast", help="workshop notices to volunteers")
    bsub = bc.add_subparsers(dest="broadcast_command", required=True)
    create = bsub.add_parser("create", help="queue a notice (asks to confirm after showing who gets it)")
    create.add_argument("--title", required=True)
    create.add_argument("--body-file", required=True, help="the notice text in a UTF-8 file, or - for stdin")
    create.add_argument("--region", action="append", default=[], choices=REGIONS, help="repeatable")
    create.add_argument("--province", action="append", default=[], help="Thai or English name; repeatable")
    create.add_argument("--at", help='send time, Thai time: "YYYY-MM-DD HH:MM" (default: now)')
    create.add_argument("--event-at", help='the workshop\'s date and time, Thai time: "YYYY-MM-DD HH:MM"')
    create.add_argument("--place")
    create.add_argument("--rsvp", action="store_true", help="ask volunteers whether they will come")
    create.add_argument("--yes", action="store_true", help="do not ask to confirm")
    bsub.add_parser("list", help="recent notices")
    show = bsub.add_parser("show", help="progress and RSVP totals of one notice")
    show.add_argument("id", type=int)
    show.add_argument("--watch", action="store_true", help="refresh until it has gone out")
    cancel = bsub.add_parser("cancel", help="stop a notice that has not gone out completely")
    cancel.add_argument("id", type=int)


def channels_of(settings: Settings) -> list[str]:
    names = list(WEB)
    if settings.line_enabled:
        names.append("line")
    if settings.telegram_enabled:
        names.append("telegram")
    return names


def thai_time(text: str) -> datetime:
    try:
        local = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        raise SystemExit(f'not a time: {text!r} (use "YYYY-MM-DD HH:MM", Thai time)') from None
    return local.replace(tzinfo=BANGKOK).astimezone(UTC)


def run(settings: Settings, args: argparse.Namespace) -> int:
    command = args.broadcast_command
    if command == "create":
        return asyncio.run(_create(settings, args, sys.stdin, sys.stdout))
    if command == "show" and args.watch:
        return _watch(settings, args.id)
    return asyncio.run({"list": _list, "show": _show, "cancel": _cancel}[command](settings, args))


def _record(settings: Settings, args: argparse.Namespace, stdin: TextIO) -> BroadcastRecord:
    body = stdin.read() if args.body_file == "-" else Path(args.body_file).read_text("utf-8")
    body = body.strip()
    if not body:
        raise SystemExit("the notice text is empty")
    if len(body) > MAX_BODY or len(args.title) > MAX_TITLE or len(args.place or "") > MAX_PLACE:
        raise SystemExit(f"too long: title ≤ {MAX_TITLE}, place ≤ {MAX_PLACE}, text ≤ {MAX_BODY} characters")
    regions = RegionTable.load(settings.regions_file)
    understanding = ThaiUnderstanding(regions)
    provinces = []
    for name in args.province:
        hit = regions.get(name.strip())
        found = hit.name_th if hit else (understanding.parse_province(name) or (None,))[0]
        if found is None:
            raise SystemExit(f"unknown province: {name}")
        provinces.append(found)
    now = datetime.now(UTC)
    send_at = thai_time(args.at) if args.at else None
    event_at = thai_time(args.event_at) if args.event_at else None
    if send_at is not None and send_at <= now:
        raise SystemExit("--at is in the past")
    if args.rsvp and event_at is None:
        raise SystemExit("--rsvp needs --event-at (reminders go out before the event)")
    return BroadcastRecord(
        title=args.title.strip(),
        body=body,
        audience=Audience(tuple(dict.fromkeys(args.region)), tuple(dict.fromkeys(provinces))),
        place=(args.place or "").strip() or None,
        event_at=event_at,
        rsvp=args.rsvp,
        send_at=send_at,
        created_by="cli",
    )


def preview(bc: BroadcastRecord, settings: Settings) -> list[str]:
    """The notice as volunteers will see it (in the default language), with its buttons."""
    from bot.core.catalog import Catalog

    shown = Catalog.load(default_locale=settings.default_locale).render(notice_reply(bc))
    rule = "─" * 40
    lines = ["the notice as volunteers will see it:", rule, *shown.text.splitlines()]
    if shown.buttons:
        lines.append("  ".join(f"[{b.label}]" for b in shown.buttons))
    lines.append(rule)
    when = "now" if bc.send_at is None else f"at {bc.send_at.astimezone(BANGKOK):%Y-%m-%d %H:%M} (Thai time)"
    lines.append(f"sending {when}")
    return lines


def describe(p: Plan) -> list[str]:
    lines = [f"recipients: {p.total}"]
    lines += [f"  {channel}: {n}" for channel, n in sorted(p.by_channel.items())]
    if p.line_left is not None:
        lines.append(f"LINE quota: {p.line_left} of {p.line_quota} left this month")
    if p.moved_to_other:
        lines.append(f"  {p.moved_to_other} linked volunteers get it on Telegram instead of LINE")
    if p.over_quota:
        lines.append(f"WARNING: {p.over_quota} LINE messages over the quota; they wait for the next month")
    return lines


async def _create(settings: Settings, args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    from bot.app import open_store

    bc = _record(settings, args, stdin)
    store = await open_store(settings)
    try:
        now = datetime.now(UTC)
        async with store.transaction() as uow:
            p = await plan(
                uow,
                bc,
                regions=RegionTable.load(settings.regions_file),
                channels=channels_of(settings),
                line_quota=settings.line_monthly_quota,
                now=now,
            )
        for line in preview(bc, settings):
            print(line, file=stdout)
        for line in describe(p):
            print(line, file=stdout)
        if not args.yes:
            if not sys.stdin.isatty() or args.body_file == "-":
                print("not sent: add --yes to confirm", file=sys.stderr)
                return 1
            answer = (await asyncio.to_thread(input, "send this notice? [y/N] ")).strip().casefold()
            if answer not in ("y", "yes"):
                print("not sent", file=stdout)
                return 1
        async with store.transaction() as uow:
            bc_id = await uow.broadcasts.add(bc, datetime.now(UTC))
        when = (
            "now" if bc.send_at is None else f"at {bc.send_at.astimezone(BANGKOK):%Y-%m-%d %H:%M} (Thai time)"
        )
        print(f"broadcast {bc_id} queued, sending {when}; a running tipbot delivers it", file=stdout)
        print(bc_id, file=stdout)
        return 0
    finally:
        await store.engine.dispose()


async def _list(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_store

    store = await open_store(settings)
    try:
        async with store.transaction() as uow:
            items = [(b, await uow.broadcasts.totals(b.id or 0)) for b in await uow.broadcasts.recent(50)]
    finally:
        await store.engine.dispose()
    print(f"{'id':>4}  {'status':<10} {'send (Thai time)':<17} {'sent':>7}/{'of':<7} title")
    for b, totals in items:
        when = f"{b.send_at.astimezone(BANGKOK):%Y-%m-%d %H:%M}" if b.send_at else "-"
        print(f"{b.id:>4}  {b.status:<10} {when:<17} {totals.get('sent', 0):>7}/{b.recipients:<7} {b.title}")
    return 0


def bar(done: int, total: int, width: int = 30) -> str:
    share = done / total if total else 1.0
    filled = round(share * width)
    return f"[{'#' * filled}{'-' * (width - filled)}] {share:6.1%}"


async def _report(settings: Settings, bc_id: int) -> tuple[BroadcastRecord | None, dict[str, int], list[str]]:
    from bot.app import open_store

    store = await open_store(settings)
    try:
        async with store.transaction() as uow:
            bc = await uow.broadcasts.get(bc_id)
            if bc is None:
                return None, {}, []
            return bc, await uow.broadcasts.totals(bc_id), await uow.broadcasts.questions(bc_id)
    finally:
        await store.engine.dispose()


def _print_report(
    bc: BroadcastRecord,
    totals: dict[str, int],
    questions: list[str],
    out: TextIO,
    now: datetime | None = None,
) -> None:
    p = totals_params(bc, totals)
    print(f"broadcast {bc.id}: {bc.title}", file=out)
    if bc.status == "scheduled" and bc.send_at is not None:
        # nothing to count yet: when it starts, not an empty progress bar
        left = bc.send_at - (now or datetime.now(UTC))
        print(
            f"status: scheduled, starts {bc.send_at.astimezone(BANGKOK):%Y-%m-%d %H:%M} (Thai time)", file=out
        )
        print(f"starts in {_duration(left)}" if left.total_seconds() > 0 else "starting now", file=out)
        return
    print(f"status: {bc.status}   recipients: {bc.recipients}", file=out)
    if out.isatty():
        print(bar(p["sent"] + p["failed"] + p["skipped"], bc.recipients), file=out)
    print(f"sent {p['sent']}  pending {p['pending']}  failed {p['failed']}  skipped {p['skipped']}", file=out)
    print(
        "by channel: " + ", ".join(f"{k[4:]} {v}" for k, v in sorted(totals.items()) if k.startswith("via_")),
        file=out,
    )
    if totals.get("possible_duplicates"):
        print(f"possible repeats (a send in flight at a crash): {totals['possible_duplicates']}", file=out)
    if bc.rsvp:
        print(f"RSVP: coming {p['yes']}  cannot come {p['no']}  questions {p['ask']}", file=out)
        for q in questions:
            print(f"  question: {q}", file=out)


async def _show(settings: Settings, args: argparse.Namespace) -> int:
    bc, totals, questions = await _report(settings, args.id)
    if bc is None:
        print(f"no broadcast {args.id}", file=sys.stderr)
        return 1
    _print_report(bc, totals, questions, sys.stdout)
    return 0


def _duration(left: timedelta) -> str:
    minutes = max(0, int(left.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{mins} min"]
    return " ".join(parts)


def _watch(settings: Settings, bc_id: int) -> int:
    while True:
        bc, totals, questions = asyncio.run(_report(settings, bc_id))
        if bc is None:
            print(f"no broadcast {bc_id}", file=sys.stderr)
            return 1
        if sys.stdout.isatty():
            sys.stdout.write("\x1b[2J\x1b[H")
        _print_report(bc, totals, questions, sys.stdout)
        if bc.status in ("done", "cancelled"):
            return 0
        time.sleep(1.0)


async def _cancel(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import open_store

    store = await open_store(settings)
    try:
        async with store.transaction() as uow:
            if await uow.broadcasts.get(args.id) is None:
                print(f"no broadcast {args.id}", file=sys.stderr)
                return 1
            if not await uow.broadcasts.cancel(args.id, datetime.now(UTC)):
                print(f"broadcast {args.id} has already gone out or was cancelled", file=sys.stderr)
                return 1
            totals = await uow.broadcasts.totals(args.id)
    finally:
        await store.engine.dispose()
    print(f"broadcast {args.id} cancelled; {totals.get('sent', 0)} copies had gone out")
    return 0
