"""The reporter's rights and retention, end to end.

Erasure: a name and a phone number planted as contact details, a marker in the narrative and in
an image's EXIF; after "ลบข้อมูลของฉัน" none of them is anywhere: not in the SQLite file's bytes
after a checkpoint, not in any decrypted column, the media folder, the logs, the export or what
staff chats get afterwards; the tip's statistics row remains. Retention: an injected clock, both
databases, exactly what is due and nothing else, idempotent, and once a day across processes.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.app import privacy_pages
from bot.core import audit
from bot.core.catalog import Catalog
from bot.core.model import TipRecord
from bot.core.related import facts, signals
from bot.logs import configure as configure_logs
from bot.runtime.retention import TIP_ERASERS, Retention, erase_tip, retention_kinds
from bot.settings import Settings
from storage import tables as t
from storage.crypto import Keyring, install_keyring
from storage.database import create_engine, upgrade_async
from storage.maintenance import ENCRYPTED
from storage.media import FileMediaStore
from storage.reports import export_tips
from storage.repositories import SqlStore
from tests.conftest import SECRET, make_settings
from tests.drivers import console_driver
from tests.harness import FakeClock, Runner

NAME = "นางสาวพิมพ์ชนก ลบทิ้งแน่"
PHONE = "086-555-0199"
MARKER = "MARKER-ZQX7"
EXIF_MARKER = "EXIFMARK-KJ42"
SECRETS = (NAME, PHONE, MARKER, EXIF_MARKER)


def marked_jpeg() -> bytes:
    from PIL import Image

    img = Image.new("RGB", (32, 24), (200, 10, 10))
    exif = Image.Exif()
    exif[0x010E] = EXIF_MARKER  # ImageDescription
    exif[0x8825] = {1: "N", 2: (14.0, 52.0, 30.0), 3: "E", 4: (103.0, 29.0, 0.0)}
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif)
    assert EXIF_MARKER.encode() in out.getvalue()
    return out.getvalue()


REPORT = f"""
staff3> /join {{invite:3}}
> สวัสดี
> [ยินยอม]
> [ข้าม]
> [แจ้งเบาะแส]
> [เรียกรับสินบน]
> ครูใหญ่เรียกเงินแป๊ะเจี๊ยะห้าหมื่นบาท {MARKER} จากผู้ปกครองเพื่อแลกกับที่นั่งเรียน
< หน่วยงาน
> โรงเรียนบ้านหนองบัว
> ข้าม
< จังหวัดไหน
> สุรินทร์
> [ข้าม]
> [ใช่]
"""

AFTER_EVIDENCE = f"""
> [เสร็จแล้ว]
> [ถามทางแชตได้]
> {NAME} โทร {PHONE}
> [ยืนยันส่ง]
< รหัสเรื่องของคุณคือ
staff3< 📣 เรื่องใหม่
"""

ERASE = """
> ลบข้อมูลของฉัน
< จะถูกถอนทั้งเรื่อง
> [ยืนยันลบข้อมูล]
< ถอนเรื่องแล้ว
staff3< ถูกผู้แจ้งถอนแล้ว
staff3> /tip {code}
staff3> /tips
"""


async def run(runner: Runner, script: str) -> None:
    for line in script.strip().splitlines():
        await runner.step(line.strip())


async def decrypted_everything(store: SqlStore) -> str:
    """Every encrypted column of every row, decrypted, as one text."""
    out: list[str] = []
    async with store.transaction() as uow:
        for table, columns in ENCRYPTED.items():
            for row in (await uow.session.execute(select(table))).scalars().all():
                out.extend(repr(getattr(row, c)) for c in columns)
                out.append(repr(row))
        for row in (await uow.session.execute(select(t.AuditRow))).scalars().all():
            out.append(repr(row))
    return "\n".join(out)


@pytest.fixture
def production_log() -> Iterator[io.StringIO]:
    """The log as `tipbot serve` writes it, at DEBUG (see tests/test_log_hygiene.py)."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    names = ("aiohttp.access", "sqlalchemy", "aiosqlite", "alembic", "PIL")
    quiet = {name: logging.getLogger(name).level for name in names}
    stream = io.StringIO()
    configure_logs("DEBUG", "text")
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        for name, lvl in quiet.items():
            logging.getLogger(name).setLevel(lvl)


async def test_erasing_leaves_no_trace_but_the_statistics(
    tmp_path: Path, production_log: io.StringIO
) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/tipbot.db", tmp_path, alert_detail="full")
    clock = FakeClock()
    async with console_driver(settings, clock, tmp_path) as driver:
        runner = Runner(driver, clock)
        await run(runner, REPORT)
        await driver.image("volunteer", marked_jpeg(), "photo.jpg")
        await driver.services.settle()
        await run(runner, AFTER_EVIDENCE)
        media = settings.media_dir
        assert sum(1 for p in media.rglob("*") if p.is_file()) == 1
        store = driver.services.store
        before = await decrypted_everything(store)
        assert all(s in before for s in (NAME, PHONE, MARKER)), "the planted data was stored"
        staff_seen = len(driver.received("staff3"))

        await run(runner, ERASE)
        code = runner.codes["volunteer"]

        # the database: every decrypted column, and the file's bytes after a checkpoint
        after = await decrypted_everything(store)
        # the WAL's pages go into the file (the pool's connections hold no transaction now)
        db = sqlite3.connect(tmp_path / "tipbot.db", timeout=5)
        try:
            assert db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
        finally:
            db.close()
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("tipbot.db*"))
        for secret in SECRETS:
            assert secret not in after, secret
            assert secret.encode() not in raw, secret
            assert secret not in production_log.getvalue(), secret
        assert code in production_log.getvalue()  # the log was written, with case codes only
        # the media folder: the withdrawn tip's evidence file is gone
        assert [p for p in media.rglob("*") if p.is_file()] == []
        # the export: the statistics row remains, nothing else
        [row] = [r async for r in export_tips(store)]
        assert (row["case_code"], row["region"], row["province"], row["status"]) == (
            code,
            "3",
            "สุรินทร์",
            "closed.withdrawn",
        )
        assert row["category"] == "bribery"
        assert row["narrative"] == ""
        assert row["agency"] is None
        assert row["attachments"] == 0
        for secret in SECRETS:
            assert secret not in str(row), secret
        # staff chats: what they get after the erasure carries nothing of it
        later = "\n".join(m.text for m in driver.received("staff3")[staff_seen:])
        assert code in later
        for secret in SECRETS:
            assert secret not in later, secret
        # the history says what happened, the audit log who asked, never who they are
        async with store.transaction() as uow:
            events = (await uow.session.execute(select(t.TipEvent.action))).scalars().all()
            entries = await uow.audit.entries(case_code=code)
            assert (await uow.audit.verify()).intact
            tip = (await uow.session.execute(select(t.Tip))).scalar_one()
        assert "withdrawn" in events
        assert [e.action for e in entries if e.actor_kind == audit.REPORTER] == [audit.DELETION_REQUEST]
        assert tip.status_detail == "withdrawn"
        assert tip.contact_id is None
        assert tip.erased_at is not None
        # the chat starts afresh
        await run(runner, "> สวัสดี\n< ก่อนเริ่ม ขอแจ้งให้ทราบว่า")


# ---- retention -------------------------------------------------------------------------------

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlStore]:
    install_keyring(Keyring(SECRET))
    await upgrade_async(db_url)
    made = SqlStore(create_engine(db_url))
    yield made
    await made.engine.dispose()


def kinds() -> Any:
    return retention_kinds(
        closed_tips=timedelta(days=365),
        drafts=timedelta(days=30),
        messages=timedelta(days=14),
        inbox_payloads=timedelta(hours=24),
        inbox_rows=timedelta(days=30),
    )


def tip(code: str, narrative: str) -> TipRecord:
    return TipRecord(
        case_code=code,
        category="bribery",
        narrative=narrative,
        agency="อบต. ตัวอย่าง",
        official="ปลัด",
        province="สุรินทร์",
        district="เมืองสุรินทร์",
        region="3",
        incident_date=None,
        incident_date_text="เมื่อวาน",
        amount_thb=5000,
        contact_ok=True,
        contact_how="0812345678",
        location=None,
        attachment_ids=(),
    )


async def seed(store: SqlStore, media: FileMediaStore) -> dict[str, Any]:
    """Each kind: one item due, one not yet due (and things never due)."""
    ids: dict[str, Any] = {}
    async with store.transaction() as uow:
        old_contact = await uow.contacts.create("line", "U-old", "th", T0 - 400 * DAY)
        new_contact = await uow.contacts.create("line", "U-new", "th", T0)
        plain = await uow.contacts.create("line", "U-plain", "th", T0)
        for name, age, status in (
            ("TB-OLDC-LOSD", 400, "closed"),
            ("TB-NEWC-LOSD", 10, "closed"),
            ("TB-OPEN-AAAA", 400, "received"),
        ):
            tid = await uow.tips.add(
                tip(name, f"เรื่องของ {name}"),
                contact_id=old_contact.id,
                channel="line",
                draft_id=name,
                now=T0 - age * DAY,
            )
            if status == "closed":
                await uow.tips.set_status(tid, "closed", "substantiated", T0 - age * DAY)
            await uow.tips.add_event(
                tid, actor="staff:1", action="question", at=T0 - age * DAY, note="คำถามลับ"
            )
            file = media.put(b"evidence " + name.encode())
            att = await uow.attachments.add(
                contact_id=old_contact.id,
                message_ref=None,
                kind="image",
                mime="image/jpeg",
                size=9,
                sha256="0" * 64,
                storage_name=file,
                file_name=None,
                now=T0,
            )
            await uow.attachments.link([att], tid)
            ids[name] = (tid, file)
        # drafts: idle 40 days (due), idle 5 days (not), idle 40 days without a draft (nothing to erase)
        await uow.conversations.save(
            old_contact.id,
            {"flow": "report", "draft": {"story": "ร่างเก่า"}, "draft_id": "d1"},
            0,
            T0 - 40 * DAY,
        )
        await uow.conversations.save(
            new_contact.id,
            {"flow": "report", "draft": {"story": "ร่างใหม่"}, "draft_id": "d2"},
            0,
            T0 - 5 * DAY,
        )
        await uow.conversations.save(plain.id, {"flow": "menu"}, 0, T0 - 40 * DAY)
        ids["contacts"] = (old_contact.id, new_contact.id, plain.id)
        await uow.staff.create_invite("JOIN-EXPIR-EDAAA", "3", "staff", T0 - DAY, T0 - 4 * DAY)
        await uow.staff.create_invite("JOIN-VALID-AAAAA", "3", "staff", T0 + DAY, T0 - DAY)
    # rendered messages: sent 20 days ago (due), sent 2 days ago, pending 20 days (never)
    from bot.core.model import OutboxItem, Reply

    async with store.transaction() as uow:
        for key in ("old-sent", "new-sent", "old-pending"):
            item = OutboxItem.of("line", "U-plain", "th", [Reply("menu.prompt")], kind="reply", key=key)
            await uow.outbox.add(item, T0 - (2 if key == "new-sent" else 20) * DAY)
    # the web chat's history: a line shown 20 days ago (due) and one 2 days ago; every tip indexed
    async with store.transaction() as uow:
        for key, age in (("old-shown", 20), ("new-shown", 2)):
            await uow.webchat.post("web-session", "bot", key, [{"text": "สวัสดี"}], T0 - age * DAY)
        for name in ("TB-OLDC-LOSD", "TB-NEWC-LOSD", "TB-OPEN-AAAA"):
            detail = await uow.tips.get(name)
            assert detail is not None
            await uow.related.index(detail.id, signals(facts(detail)).index, detail.created_at)
    async with store.engine.begin() as conn:
        await conn.execute(
            update(t.OutboxRow)
            .where(t.OutboxRow.idempotency_key.in_(["old-sent", "new-sent"]))  # type: ignore[attr-defined]
            .values(status="sent", sent_at=t.OutboxRow.created_at)
        )
    return ids


async def test_retention_erases_exactly_what_is_due_and_is_idempotent(
    store: SqlStore, tmp_path: Path
) -> None:
    media = FileMediaStore(tmp_path / "media")
    ids = await seed(store, media)
    clock = Clock()
    job = Retention(
        store=store, media=media, kinds=kinds(), clock=clock, batch=1
    )  # batch 1: many transactions
    due = await job.due()
    assert due == {
        "closed_tips": 1,
        "drafts": 1,
        "inbox": 0,
        "messages": 1,
        "webchat_history": 1,
        "expired_invites": 1,
    }
    assert await job.run() == due
    old_id, old_file = ids["TB-OLDC-LOSD"]
    async with store.transaction() as uow:
        tips = {r.case_code: r for r in (await uow.session.execute(select(t.Tip))).scalars().all()}
        notes = {
            e.tip_id: e.note
            for e in (await uow.session.execute(select(t.TipEvent).where(t.TipEvent.action == "question")))
            .scalars()
            .all()
        }
        files = {a.tip_id for a in (await uow.session.execute(select(t.Attachment))).scalars().all()}
        states = {
            c.contact_id: c.state for c in (await uow.session.execute(select(t.Conversation))).scalars().all()
        }
        keys = set((await uow.session.execute(select(t.OutboxRow.idempotency_key))).scalars().all())
        invites = (await uow.session.execute(select(t.Invite.region))).scalars().all()
        entries = await uow.audit.entries()
        shown = (await uow.session.execute(select(t.WebChatMessage.key))).scalars().all()
        indexed = set((await uow.session.execute(select(t.TipIndex.tip_id))).scalars().all())
    erased = tips["TB-OLDC-LOSD"]
    assert (erased.narrative_enc, erased.agency, erased.official, erased.contact_how, erased.amount_thb) == (
        "",
        None,
        None,
        None,
        None,
    )
    assert (erased.case_code, erased.region, erased.province, erased.category, erased.status) == (
        "TB-OLDC-LOSD",
        "3",
        "สุรินทร์",
        "bribery",
        "closed",
    )
    assert erased.created_at is not None
    for kept in ("TB-NEWC-LOSD", "TB-OPEN-AAAA"):
        assert tips[kept].narrative_enc == f"เรื่องของ {kept}"
        assert tips[kept].contact_how == "0812345678"
    assert notes[old_id] is None
    assert sorted(n for n in notes.values() if n) == ["คำถามลับ", "คำถามลับ"]
    assert old_id not in files
    assert len(files) == 2
    assert not (tmp_path / "media").joinpath(old_file).exists() or old_file not in {
        p.name for p in (tmp_path / "media").rglob("*")
    }
    assert len([p for p in (tmp_path / "media").rglob("*") if p.is_file()]) == 2
    old_contact, new_contact, plain = ids["contacts"]
    assert states[old_contact] == {"flow": "menu"}
    assert states[new_contact]["draft"] == {"story": "ร่างใหม่"}
    assert states[plain] == {"flow": "menu"}
    assert keys == {"new-sent", "old-pending"}
    assert len(invites) == 1
    assert shown == ["new-shown"]
    assert old_id not in indexed and len(indexed) == 2  # the erased tip's blind-index entries went
    assert [e.action for e in entries] == [audit.TIP_ERASED, audit.RETENTION_RUN]
    # idempotent: nothing more is due, a second run erases nothing
    assert set((await job.due()).values()) == {0}
    assert set((await job.run()).values()) == {0}
    # time passes: the next closed tip and draft become due
    clock.now = T0 + 400 * DAY
    due = await job.due()
    assert due["closed_tips"] == 1
    assert due["drafts"] == 1


async def test_every_tip_eraser_runs_in_the_erasing_transaction(store: SqlStore, tmp_path: Path) -> None:
    media = FileMediaStore(tmp_path / "media")
    ids = await seed(store, media)
    called: list[int] = []

    async def index_eraser(uow: Any, tip_id: int, now: datetime) -> None:
        called.append(tip_id)

    TIP_ERASERS.append(index_eraser)
    try:
        await Retention(store=store, media=media, kinds=kinds(), clock=Clock()).run()
        async with store.transaction() as uow:
            await erase_tip(uow, ids["TB-OPEN-AAAA"][0], T0)
    finally:
        TIP_ERASERS.remove(index_eraser)
    assert called == [ids["TB-OLDC-LOSD"][0], ids["TB-OPEN-AAAA"][0]]


async def test_two_processes_never_run_the_daily_retention_twice(
    store: SqlStore, db_url: str, tmp_path: Path
) -> None:
    media = FileMediaStore(tmp_path / "media")
    await seed(store, media)
    other = SqlStore(create_engine(db_url))
    clock = Clock()
    try:
        jobs = [
            Retention(store=s, media=media, kinds=kinds(), clock=clock) for s in (store, other, store, other)
        ]
        results = await asyncio.gather(*(j.daily() for j in jobs))
        assert sum(r is not None for r in results) == 1
        assert await jobs[1].daily() is None  # the same Thai day
        clock.now = T0 + DAY
        assert await jobs[1].daily() is not None
    finally:
        await other.engine.dispose()
    async with store.transaction() as uow:
        runs = [e for e in await uow.audit.entries() if e.action == audit.RETENTION_RUN]
    assert len(runs) == 2


def test_the_privacy_notice_says_what_the_settings_do(tmp_path: Path) -> None:
    settings: Settings = make_settings(
        "sqlite+aiosqlite:///x.db",
        tmp_path,
        retention_closed_days=200,
        controller_contact="มูลนิธิตัวอย่าง โทร 02-000-0000",
    )
    pages = privacy_pages(settings, Catalog.load())
    assert "ประกาศความเป็นส่วนตัว" in pages["th"]
    assert "Privacy notice" in pages["en"]
    for page in pages.values():
        assert "200" in page
        assert "มูลนิธิตัวอย่าง โทร 02-000-0000" in page
        assert "<script" not in page
    unset = privacy_pages(make_settings("sqlite+aiosqlite:///x.db", tmp_path), Catalog.load())
    assert "1206" in unset["th"]
    assert "365" in unset["en"]
