"""tipbot side by side with what most Python developers would write instead: a python-telegram-bot
`Application` with a `ConversationHandler` on the same 14-step report form, both behind webhooks,
both against the same fake Telegram Bot API (tests/fakes/telegram.py), each in its own process.

Contenders (`--only` picks some):
  tipbot-sqlite, tipbot-pg      `tipbot serve`, Telegram only, pacing off (TIPBOT_TELEGRAM_RATE=0)
  ptb-pickle                    PTB + PicklePersistence (PTB's default: written every 60 s)
  ptb-sqlite                    PTB + a persistence written to SQLite after every update
  tipbot-sqlite-paced           tipbot at Telegram's 30 msg/s, the fake enforcing 30 msg/s
  ptb-sqlite-paced              PTB + SQLite + AIORateLimiter at 30 msg/s, the fake enforcing it

N simulated volunteers (`--volunteers`, default 50) walk the form in a closed loop: each posts an
update to the contender's webhook (redelivering, as Telegram does, until it gets a 200), waits
for the answer at the fake Bot API, taps the button it got, and so on. Per contender: events/s,
ack p50/p99 (the webhook's 200), event → reply p50/p99, CPU per event (the process's own user +
system time from /proc over the measured run, children included; PostgreSQL backends' time of the
database apart), peak RSS (VmHWM). Rounds are interleaved (every contender once per round, the
order rotated) so the noise of a shared machine hits all; the table shows medians over rounds,
then ratios against ptb-sqlite.

`--kill`: each contender (not paced) runs the volunteers again and is SIGKILLed when 40% of the
events have been acknowledged, then restarted on the same storage; a volunteer whose next answer
does not come (or comes from a conversation that forgot where it was) within `--patience`
seconds gives up. It prints reports completed, reports lost and updates acknowledged but never
answered.

    python bench/peer_ptb.py [--volunteers 50] [--rounds 3] [--only a,b] [--paced] [--kill]
                             [--base DIR]  (DIR: another checkout, e.g. `git archive` of an older commit)
                             [--pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/scratch]

The PostgreSQL database's schema is WIPED: never point --pg-url at one holding anything to keep.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from measure import SCRIPT, free_port, pct, peak_rss_mb, wait_healthy  # bench/ is the script's folder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: --profile DIR: tipbot runs under cProfile, one DIR/<contender>.prof per run (the last run wins)
PROFILE_DIR = ""
SECRET_KEY = "bench-secret-key-0123456789abcdef"
WEBHOOK_SECRET = "bench_webhook_secret"
PG_URL = os.environ.get("TIPBOT_BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


# =================================================================================================
# The peer: a python-telegram-bot Application with a ConversationHandler (runs in its own process)
# =================================================================================================

CATEGORIES = [
    "จัดซื้อจัดจ้าง/ฮั้วประมูล",
    "เรียกรับสินบน",
    "ยักยอกงบประมาณ",
    "ใช้อำนาจโดยมิชอบ",
    "อื่น ๆ",
]
CASE_ALPHABET = "ACDEFGHJKLMNPQRTUVWXY3479"


def serve_ptb(port: int, token: str, api: str, persistence_kind: str, rate: float, folder: str) -> None:
    """The peer bot, as PTB's documentation and examples build one (custom webhook example)."""
    import json
    import sqlite3

    from aiohttp import web
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
    from telegram.ext import (
        AIORateLimiter,
        Application,
        ApplicationBuilder,
        BasePersistence,
        CallbackQueryHandler,
        CommandHandler,
        ContextTypes,
        ConversationHandler,
        MessageHandler,
        PersistenceInput,
        PicklePersistence,
        TypeHandler,
        filters,
    )

    if os.environ.get("BENCH_DEBUG"):
        import logging

        logging.basicConfig(level=logging.DEBUG)
    (CONSENT, HOME, MENU, CATEGORY, WHAT, AGENCY, POSITION, PLACE, WHEN, MONEY, EVIDENCE, CONTACT,
     CONFIRM) = range(13)  # fmt: skip

    class SQLitePersistence(BasePersistence[dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
        """user_data and conversation states in SQLite, each write committed."""

        def __init__(self, path: str) -> None:
            super().__init__(
                store_data=PersistenceInput(chat_data=False, bot_data=False, callback_data=False)
            )
            self.db = sqlite3.connect(path)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("CREATE TABLE IF NOT EXISTS user_data (id INTEGER PRIMARY KEY, data TEXT)")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS conv (name TEXT, key TEXT, state TEXT, PRIMARY KEY(name, key))"
            )
            self.db.execute("CREATE TABLE IF NOT EXISTS reports (code TEXT PRIMARY KEY, data TEXT)")
            self.db.commit()

        async def get_user_data(self) -> dict[int, dict[Any, Any]]:
            return {uid: json.loads(d) for uid, d in self.db.execute("SELECT id, data FROM user_data")}

        async def update_user_data(self, user_id: int, data: dict[Any, Any]) -> None:
            self.db.execute("INSERT OR REPLACE INTO user_data VALUES (?, ?)", (user_id, json.dumps(data)))
            self.db.commit()

        async def get_conversations(self, name: str) -> dict[Any, Any]:
            rows = self.db.execute("SELECT key, state FROM conv WHERE name = ?", (name,))
            return {tuple(json.loads(k)): json.loads(s) for k, s in rows}

        async def update_conversation(self, name: str, key: Any, new_state: object | None) -> None:
            if new_state is None:
                self.db.execute("DELETE FROM conv WHERE name = ? AND key = ?", (name, json.dumps(key)))
            else:
                self.db.execute(
                    "INSERT OR REPLACE INTO conv VALUES (?, ?, ?)",
                    (name, json.dumps(key), json.dumps(new_state)),
                )
            self.db.commit()

        def add_report(self, code: str, report: dict[str, Any]) -> None:
            self.db.execute(
                "INSERT INTO reports VALUES (?, ?)", (code, json.dumps(report, ensure_ascii=False))
            )
            self.db.commit()

        async def drop_user_data(self, user_id: int) -> None:
            self.db.execute("DELETE FROM user_data WHERE id = ?", (user_id,))
            self.db.commit()

        async def get_chat_data(self) -> dict[int, dict[Any, Any]]:
            return {}

        async def get_bot_data(self) -> dict[Any, Any]:
            return {}

        async def get_callback_data(self) -> None:
            return None

        async def update_chat_data(self, chat_id: int, data: dict[Any, Any]) -> None:
            pass

        async def update_bot_data(self, data: dict[Any, Any]) -> None:
            pass

        async def update_callback_data(self, data: Any) -> None:
            pass

        async def drop_chat_data(self, chat_id: int) -> None:
            pass

        async def refresh_user_data(self, user_id: int, user_data: dict[Any, Any]) -> None:
            pass

        async def refresh_chat_data(self, chat_id: int, chat_data: dict[Any, Any]) -> None:
            pass

        async def refresh_bot_data(self, bot_data: dict[Any, Any]) -> None:
            pass

        async def flush(self) -> None:
            self.db.commit()

    labels_by_data: dict[str, str] = {}

    def keyboard(*labels: str) -> InlineKeyboardMarkup:
        # callback data may carry only 64 bytes: a short id per label
        for label in labels:
            labels_by_data.setdefault(f"b{len(labels_by_data)}", label)
        data = {label: key for key, label in labels_by_data.items()}
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(label, callback_data=data[label])] for label in labels]
        )

    async def ask(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        if update.callback_query is not None:
            await update.callback_query.answer()
        assert update.effective_chat is not None
        await update.effective_chat.send_message(text, reply_markup=markup)

    def draft(context: ContextTypes.DEFAULT_TYPE) -> dict[str, Any]:
        assert context.user_data is not None
        return context.user_data.setdefault("draft", {})

    def answer(update: Update) -> str:
        if update.callback_query is not None:
            return labels_by_data.get(update.callback_query.data or "", "")
        assert update.effective_message is not None
        return update.effective_message.text or ""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        await ask(
            update,
            "สวัสดีครับ ที่นี่รับแจ้งเบาะแสการทุจริต ข้อมูลของคุณเก็บเป็นความลับ คุณยินยอมให้เก็บข้อมูลไหมครับ",
            keyboard("ยินยอม", "ไม่ยินยอม"),
        )
        return CONSENT

    async def consent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        if answer(update) != "ยินยอม":
            await ask(update, "ไม่เก็บข้อมูลใด ๆ ครับ")
            return ConversationHandler.END
        assert context.user_data is not None
        context.user_data["consent"] = True
        await ask(update, "คุณอยู่จังหวัดอะไรครับ (พิมพ์ ข้าม ได้)")
        return HOME

    async def home(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert context.user_data is not None
        context.user_data["home"] = answer(update)
        await ask(update, "บันทึกแล้วครับ เลือกเมนูได้เลย", keyboard("แจ้งเบาะแส", "เรื่องของฉัน"))
        return MENU

    async def menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert context.user_data is not None
        context.user_data["draft"] = {}
        await ask(update, "เรื่องที่จะแจ้งเป็นประเภทไหนครับ", keyboard(*CATEGORIES))
        return CATEGORY

    def step(name: str, prompt: str, nxt: int, labels: tuple[str, ...] = ()) -> Any:
        async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
            text = answer(update)
            draft(context)[name] = None if text == "ข้าม" else text
            await ask(update, prompt, keyboard(*labels) if labels else None)
            return nxt

        return handle

    async def contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        d = draft(context)
        d["contact"] = answer(update)
        summary = "\n".join(f"{k}: {v}" for k, v in d.items() if v)
        await ask(update, "ตรวจสอบข้อมูลก่อนส่งครับ\n" + summary, keyboard("ยืนยันส่ง", "ยกเลิก"))
        return CONFIRM

    async def confirm(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        if answer(update) != "ยืนยันส่ง":
            await ask(update, "ยกเลิกแล้วครับ")
            return ConversationHandler.END
        code = (
            "TB-"
            + "".join(random.choices(CASE_ALPHABET, k=4))
            + "-"
            + "".join(random.choices(CASE_ALPHABET, k=4))
        )
        report = draft(context)
        if isinstance(persistence, SQLitePersistence):
            persistence.add_report(code, report)
        else:
            context.bot_data.setdefault("reports", {})[code] = report
        assert context.user_data is not None
        context.user_data.pop("draft", None)
        await ask(update, f"ได้รับเรื่องแล้วครับ รหัสเรื่องของคุณคือ {code}")
        return ConversationHandler.END

    async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        await ask(update, "ยกเลิกแล้วครับ")
        return ConversationHandler.END

    text = filters.TEXT & ~filters.COMMAND
    persistence: BasePersistence[Any, Any, Any]
    if persistence_kind == "pickle":
        persistence = PicklePersistence(f"{folder}/ptb.pickle")
    else:
        persistence = SQLitePersistence(f"{folder}/ptb.sqlite")
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
        Application.builder().token(token).base_url(f"{api}/bot").updater(None).persistence(persistence)
    )
    if rate > 0:
        builder = builder.rate_limiter(AIORateLimiter(overall_max_rate=rate, overall_time_period=1))
    application = builder.build()
    conversation = ConversationHandler(
        entry_points=[MessageHandler(text, start), CommandHandler("start", start)],
        states={
            CONSENT: [CallbackQueryHandler(consent)],
            HOME: [MessageHandler(text, home)],
            MENU: [CallbackQueryHandler(menu)],
            CATEGORY: [CallbackQueryHandler(step("category", "เล่าสิ่งที่เกิดขึ้นให้ฟังหน่อยครับ", WHAT))],
            WHAT: [MessageHandler(text, step("what", "หน่วยงานไหนครับ (พิมพ์ ข้าม ได้)", AGENCY))],
            AGENCY: [MessageHandler(text, step("agency", "ตำแหน่งของเจ้าหน้าที่ครับ (พิมพ์ ข้าม ได้)", POSITION))],
            POSITION: [MessageHandler(text, step("position", "เกิดที่จังหวัดไหน อำเภออะไรครับ", PLACE))],
            PLACE: [MessageHandler(text, step("place", "เกิดขึ้นเมื่อไรครับ", WHEN))],
            WHEN: [MessageHandler(text, step("when", "มีเงินเกี่ยวข้องเท่าไรครับ", MONEY))],
            MONEY: [
                MessageHandler(text, step("money", "มีหลักฐานไหมครับ ส่งรูปหรือไฟล์ได้", EVIDENCE, ("ไม่มีหลักฐาน",)))
            ],
            EVIDENCE: [
                CallbackQueryHandler(
                    step("evidence", "ให้เจ้าหน้าที่ติดต่อกลับได้ไหมครับ", CONTACT, ("ติดต่อได้", "ไม่ต้องติดต่อ"))
                )
            ],
            CONTACT: [CallbackQueryHandler(contact)],
            CONFIRM: [CallbackQueryHandler(confirm)],
        },
        fallbacks=[CommandHandler("cancel", cancel), MessageHandler(filters.Regex("^ยกเลิก$"), cancel)],
        name="report",
        persistent=True,
    )
    application.add_handler(conversation)
    if persistence_kind == "sqlite":

        async def persist_now(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
            await context.application.update_persistence()

        application.add_handler(TypeHandler(Update, persist_now), group=1)

    async def webhook(request: web.Request) -> web.Response:
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != WEBHOOK_SECRET:
            return web.Response(status=403)
        await application.update_queue.put(Update.de_json(await request.json(), application.bot))
        return web.Response()

    async def main() -> None:
        web_app = web.Application()
        web_app.router.add_post("/webhook", webhook)
        web_app.router.add_get("/healthz", lambda r: web.Response(text="ok"))  # type: ignore[arg-type,return-value]
        runner = web.AppRunner(web_app, access_log=None)
        async with application:
            await application.start()
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            stop = asyncio.Event()
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
            await stop.wait()
            await runner.cleanup()
            await application.stop()

    asyncio.run(main())


# =================================================================================================
# The bench: the fake Bot API, the volunteers, the contenders' processes
# =================================================================================================


def proc_tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its (live) descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            pass
    return total


def postgres_cpu(database: str) -> float:
    """CPU seconds of the PostgreSQL backends connected to `database` (other databases' apart)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if f" postgres {database} " not in cmd:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, ValueError):
            pass
    return total


@dataclass
class Contender:
    name: str
    tipbot: bool
    db: str = "sqlite"  # tipbot: sqlite|pg; ptb: pickle|sqlite
    rate: float = 0.0
    #: run tipbot from this checkout instead of this one (a "before" beside the "after")
    root: Path = ROOT
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    folder: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}" + ("/webhooks/telegram" if self.tipbot else "/webhook")

    def env(self, fake_url: str, token: str, pg_url: str) -> dict[str, str]:
        env = {
            **os.environ,
            "TIPBOT_DATABASE_URL": f"sqlite+aiosqlite:///{self.folder}/tipbot.db"
            if self.db == "sqlite"
            else pg_url,
            "TIPBOT_SECRET_KEY": SECRET_KEY,
            "TIPBOT_STORY_PAUSE": "0",
            "TIPBOT_MEDIA_DIR": f"{self.folder}/media",
            "TIPBOT_LOG_LEVEL": "WARNING",
            "TIPBOT_METRICS_BIND": "",
            "TIPBOT_TELEGRAM_BOT_TOKEN": token,
            "TIPBOT_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "TIPBOT_TELEGRAM_API_BASE_URL": fake_url,
            "TIPBOT_TELEGRAM_RATE": str(self.rate),
            # a Telegram bot, like the peer: no web chat
            "TIPBOT_WEBCHAT": "false",
            "TIPBOT_EVIDENCE_WORKERS": "0",
        }
        return env

    async def start(self, fake_url: str, token: str, pg_url: str, *, fresh: bool) -> None:
        if fresh:
            self.port = free_port()
            if self.tipbot and self.db == "pg":
                await reset_postgres(pg_url)
        env = self.env(fake_url, token, pg_url)
        if self.tipbot:
            if fresh and self.db == "pg":
                await asyncio.to_thread(
                    subprocess.run,
                    [sys.executable, "-m", "bot.cli", "db", "upgrade"],
                    env=env,
                    cwd=self.root,
                    check=True,
                    capture_output=True,
                )
            cmd = [sys.executable, "-m", "bot.cli", "serve", "--port", str(self.port)]
            if PROFILE_DIR:
                cmd[1:1] = ["-m", "cProfile", "-o", f"{PROFILE_DIR}/{self.name}.prof"]
        else:
            cmd = [sys.executable, __file__, "--serve-ptb", self.db, "--port", str(self.port), "--api"]
            cmd += [fake_url, "--token", token, "--rate", str(self.rate), "--folder", self.folder]
        quiet = None if os.environ.get("BENCH_DEBUG") else subprocess.DEVNULL
        cwd = self.root if self.tipbot else ROOT  # `python -m bot.cli` imports from its cwd first
        self.proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=quiet, stderr=quiet)
        await wait_healthy(f"http://127.0.0.1:{self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


async def reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("+asyncpg", ""), timeout=3)
    await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    await conn.close()


def make_fake(rate: float | None) -> Any:
    from tests.fakes.telegram import Delivery, FakeTelegram

    class BenchTelegram(FakeTelegram):
        """The tests' fake, telling each waiting volunteer of every message sent to its chat."""

        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.inboxes: dict[str, asyncio.Queue[Delivery]] = defaultdict(asyncio.Queue)

        def _record(self, chat_id: str, method: str, **kw: Any) -> dict[str, Any]:
            result = super()._record(chat_id, method, **kw)
            self.inboxes[chat_id].put_nowait(self.deliveries[-1])
            return result

    return BenchTelegram(rate_limit=rate)


def buttons_of(delivery: Any) -> list[tuple[str, str | None]]:
    """(label, callback data) of a delivered keyboard; None for a reply-keyboard button."""
    markup = delivery.reply_markup or {}
    found: list[tuple[str, str | None]] = []
    for row in markup.get("inline_keyboard") or []:
        found += [(b["text"], b.get("callback_data", "")) for b in row]
    for row in markup.get("keyboard") or []:
        found += [(b if isinstance(b, str) else b["text"], None) for b in row]
    return found


@dataclass
class Outcome:
    acks: list[float] = field(default_factory=list)
    replies: list[float] = field(default_factory=list)
    completed: int = 0
    lost: int = 0
    unanswered: int = 0
    acked: int = 0
    progress: asyncio.Event = field(default_factory=asyncio.Event)


async def post(http: aiohttp.ClientSession, url: str, update: dict[str, Any]) -> None:
    """Deliver like Telegram: again and again until the webhook answers 200."""
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    while True:
        try:
            async with http.post(url, json=update, headers=headers) as r:
                await r.read()
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)


async def volunteer(
    fake: Any,
    http: aiohttp.ClientSession,
    target: Contender,
    n: int,
    out: Outcome,
    patience: float,
    retry: bool = False,
) -> None:
    """One volunteer's walk. With `retry` (the kill run), a step left unanswered for `patience`
    seconds is sent once more, as a person would type it again; a second silence, or an answer
    from a conversation that forgot the step, loses the report."""
    user = fake.user(100_000 + n, first_name=f"อาสา{n}", username=None)
    inbox: asyncio.Queue[Any] = fake.inboxes[str(user.id)]
    buttons: list[tuple[str, str | None]] = []
    for kind, value, expect in SCRIPT:
        found = [p for label, p in buttons if label == value]
        if kind == "tap" and not found:
            out.lost += 1
            return
        answered = False
        for _attempt in range(2 if retry else 1):
            # an inline button sends its data; a reply-keyboard button sends its label as text
            tap = kind == "tap" and found[0] is not None
            update = user.taps(found[0]) if tap else user.says(value)
            t0 = time.perf_counter()
            await post(http, target.url, update)
            t1 = time.perf_counter()
            out.acks.append(t1 - t0)
            out.acked += 1
            out.progress.set()
            other = False
            while True:
                try:
                    delivery = await asyncio.wait_for(inbox.get(), patience)
                except TimeoutError:
                    break
                got = buttons_of(delivery)
                if got:
                    buttons = got
                if expect in (delivery.text or ""):
                    out.replies.append(time.perf_counter() - t1)
                    answered = True
                    break
                other = True
            if answered or other:
                break
            out.unanswered += 1  # acknowledged, and no answer at all
        if not answered:
            out.lost += 1
            return
    out.completed += 1


async def drive(
    fake: Any, target: Contender, volunteers: int, first: int, patience: float
) -> tuple[float, Outcome]:
    out = Outcome()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=volunteers * 2)) as http:
        start = time.perf_counter()
        await asyncio.gather(
            *(volunteer(fake, http, target, first + i, out, patience) for i in range(volunteers))
        )
        return time.perf_counter() - start, out


@dataclass
class Row:
    events_s: list[float] = field(default_factory=list)
    ack50: list[float] = field(default_factory=list)
    ack99: list[float] = field(default_factory=list)
    rep50: list[float] = field(default_factory=list)
    rep99: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    pg_cpu: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    calls: list[float] = field(default_factory=list)


async def one_run(target: Contender, volunteers: int, pg_url: str, first: int) -> dict[str, float]:
    fake = make_fake(None if target.rate == 0 else target.rate)
    async with fake:
        with tempfile.TemporaryDirectory() as tmp:
            target.folder = tmp
            await target.start(fake.api_base_url, fake.token, pg_url, fresh=True)
            try:
                assert target.proc is not None
                await drive(fake, target, 1, first, 60)  # warm-up: dictionaries load, pools fill
                database = pg_url.rsplit("/", 1)[1]
                cpu0, pg0 = proc_tree_cpu(target.proc.pid), postgres_cpu(database)
                calls0 = len(fake.calls)
                wall, out = await drive(fake, target, volunteers, first + 1, 120)
                cpu1, pg1 = proc_tree_cpu(target.proc.pid), postgres_cpu(database)
                calls = len(fake.calls) - calls0
                rss = peak_rss_mb(target.proc.pid)
            finally:
                target.stop()
    events = len(out.acks)
    if out.completed != volunteers:
        print(f"  {target.name}: only {out.completed} of {volunteers} volunteers finished")
    return {
        "events_s": events / wall,
        "ack50": statistics.median(out.acks) * 1000,
        "ack99": pct(out.acks, 99) * 1000,
        "rep50": statistics.median(out.replies) * 1000,
        "rep99": pct(out.replies, 99) * 1000,
        "cpu": (cpu1 - cpu0) / events * 1000,
        "pg_cpu": (pg1 - pg0) / events * 1000 if target.db == "pg" else 0.0,
        "rss": rss,
        # Bot API calls (sends, callback answers) per event: more than the form needs is a resend
        "calls": calls / events,
    }


async def kill_run(target: Contender, volunteers: int, pg_url: str, patience: float, first: int) -> str:
    fake = make_fake(None)
    async with fake:
        with tempfile.TemporaryDirectory() as tmp:
            target.folder = tmp
            await target.start(fake.api_base_url, fake.token, pg_url, fresh=True)
            await drive(fake, target, 1, first - 1, 60)  # warm-up, as in the measured runs
            out = Outcome()
            try:
                async with aiohttp.ClientSession() as http:
                    runs = [
                        asyncio.create_task(volunteer(fake, http, target, first + i, out, patience, True))
                        for i in range(volunteers)
                    ]
                    for run in runs:
                        run.add_done_callback(lambda _: out.progress.set())
                    while out.acked < 0.4 * volunteers * len(SCRIPT) and not all(r.done() for r in runs):
                        await out.progress.wait()
                        out.progress.clear()
                    in_flight = volunteers - out.completed
                    target.kill()
                    await target.start(fake.api_base_url, fake.token, pg_url, fresh=False)
                    await asyncio.gather(*runs)
            finally:
                target.stop()
    return (
        f"{target.name:<20} reports completed {out.completed:>3} of {volunteers}; "
        f"{out.lost} of {in_flight} in flight lost; {out.unanswered} acknowledged updates never answered "
        "(typed again after the patience)"
    )


def contenders(paced: bool, base: Path | None) -> list[Contender]:
    found = []
    if base is not None:
        found += [
            Contender("base-sqlite", True, "sqlite", root=base),
            Contender("base-pg", True, "pg", root=base),
        ]
    found += [
        Contender("tipbot-sqlite", True, "sqlite"),
        Contender("tipbot-pg", True, "pg"),
        Contender("ptb-pickle", False, "pickle"),
        Contender("ptb-sqlite", False, "sqlite"),
    ]
    if paced:
        found += [
            Contender("tipbot-sqlite-paced", True, "sqlite", 30.0),
            Contender("ptb-sqlite-paced", False, "sqlite", 30.0),
        ]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volunteers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="")
    parser.add_argument("--paced", action="store_true")
    parser.add_argument("--kill", action="store_true")
    parser.add_argument("--patience", type=float, default=30.0)
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--base", default="", help="also run tipbot from this checkout (base-*)")
    parser.add_argument("--profile", default="", help="run tipbot under cProfile, writing DIR/<name>.prof")
    # the peer's own process
    parser.add_argument("--serve-ptb", choices=("pickle", "sqlite"))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api", default="")
    parser.add_argument("--token", default="")
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--folder", default="")
    args = parser.parse_args()
    if args.serve_ptb:
        serve_ptb(args.port, args.token, args.api, args.serve_ptb, args.rate, args.folder)
        return
    global PROFILE_DIR
    PROFILE_DIR = str(Path(args.profile).resolve()) if args.profile else ""
    targets = contenders(args.paced, Path(args.base).resolve() if args.base else None)
    if args.only:
        wanted = args.only.split(",")
        targets = [t for t in targets if t.name in wanted]
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs (shared); {args.volunteers} volunteers × "
        f"{len(SCRIPT)} events; {args.rounds} interleaved rounds, medians shown"
    )
    if args.kill:
        for i, target in enumerate(t for t in targets if t.rate == 0):
            print(
                asyncio.run(kill_run(target, args.volunteers, args.pg_url, args.patience, 10_000 * (i + 1)))
            )
        return
    rows: dict[str, Row] = {t.name: Row() for t in targets}
    for r in range(args.rounds):
        order = targets[r % len(targets) :] + targets[: r % len(targets)]
        for target in order:
            got = asyncio.run(one_run(target, args.volunteers, args.pg_url, 1_000_000 * (r + 1)))
            row = rows[target.name]
            for key, value in got.items():
                getattr(row, key).append(value)
            print(
                f"  round {r + 1} {target.name:<20} {got['events_s']:6.1f} ev/s"
                f"  cpu/event {got['cpu']:5.1f} ms  api calls/event {got['calls']:.2f}"
                f" (+{got['pg_cpu']:.1f} pg)  reply p50 {got['rep50']:7.0f} ms  rss {got['rss']:5.0f} MB",
                flush=True,
            )
    med = {name: {k: statistics.median(v) for k, v in vars(row).items() if v} for name, row in rows.items()}
    print()
    print("| contender | events/s | ack p50 / p99 | event → reply p50 / p99 | CPU per event | peak RSS |")
    print("|---|---|---|---|---|---|")
    for name, m in med.items():
        pg = f" (+{m['pg_cpu']:.1f} ms in PostgreSQL)" if m.get("pg_cpu") else ""
        print(
            f"| {name} | {m['events_s']:.0f} | {m['ack50']:.0f} / {m['ack99']:.0f} ms | "
            f"{m['rep50']:.0f} / {m['rep99']:.0f} ms | {m['cpu']:.1f} ms{pg} | {m['rss']:.0f} MB |"
        )
    base = med.get("ptb-sqlite")
    if base:
        print()
        print("ratios against ptb-sqlite (CPU per event incl. PostgreSQL's; events/s; reply p50; peak RSS):")
        for name, m in med.items():
            cpu = m["cpu"] + m.get("pg_cpu", 0.0)
            print(
                f"  {name:<20} cpu ×{cpu / base['cpu']:.2f}"
                f"  events/s ×{m['events_s'] / base['events_s']:.2f}  "
                f"reply p50 ×{m['rep50'] / base['rep50']:.2f}  rss ×{m['rss'] / base['rss']:.2f}"
            )


if __name__ == "__main__":
    main()
