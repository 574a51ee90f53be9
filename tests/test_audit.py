"""The audit log: a keyed hash chain that `audit verify` checks, on SQLite and PostgreSQL.

Editing a row, deleting one, or re-sealing it without the key is found at the first broken link;
appends from two engines at once (two processes) never fork the chain.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.cli.main import main as tipbot_main
from bot.core import audit
from storage.crypto import Keyring, install_keyring
from storage.database import create_engine, upgrade_async
from storage.repositories import SqlStore
from tests.conftest import SECRET

T0 = datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlStore]:
    install_keyring(Keyring(SECRET))
    await upgrade_async(db_url)
    made = SqlStore(create_engine(db_url))
    yield made
    await made.engine.dispose()


async def seed(store: SqlStore, n: int = 5) -> list[int]:
    ids = []
    async with store.transaction() as uow:
        for i in range(n):
            ids.append(
                await uow.audit.append(
                    audit.STAFF_CHAT,
                    audit.staff_actor(3),
                    audit.TIP_READ if i % 2 == 0 else audit.STATUS_CHANGE,
                    f"TB-AAAA-AAA{i}",
                    None if i % 2 == 0 else "received → acknowledged",
                    T0 + timedelta(minutes=i),
                )
            )
    return ids


async def sql(store: SqlStore, statement: str, **params: object) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(text(statement), params)


async def verify(store: SqlStore) -> audit.AuditCheck:
    async with store.transaction() as uow:
        return await uow.audit.verify(batch=2)  # small pages: the walk crosses page boundaries


async def test_an_untouched_chain_verifies_and_lists_by_case_and_time(store: SqlStore) -> None:
    ids = await seed(store)
    check = await verify(store)
    assert check.intact
    assert check.rows == 5
    assert check.head_id == ids[-1]
    async with store.transaction() as uow:
        one = await uow.audit.entries(case_code="TB-AAAA-AAA1")
        later = await uow.audit.entries(since=T0 + timedelta(minutes=3))
        newest = await uow.audit.entries(limit=2)
    assert [(e.action, e.detail) for e in one] == [(audit.STATUS_CHANGE, "received → acknowledged")]
    assert one[0].at == T0 + timedelta(minutes=1)
    assert [e.case_code for e in later] == ["TB-AAAA-AAA3", "TB-AAAA-AAA4"]
    assert [e.id for e in newest] == ids[-2:]
    assert one[0].prev_hash != one[0].hash


@pytest.mark.parametrize(
    ("statement", "row", "reason"),
    [
        ("UPDATE audit SET detail = 'in_review → closed' WHERE id = :id", 1, "changed"),
        ("UPDATE audit SET case_code = 'TB-ZZZZ-ZZZZ' WHERE id = :id", 0, "changed"),
        ("UPDATE audit SET actor = 'staff:9' WHERE id = :id", 4, "changed"),
        ("UPDATE audit SET hash = '" + "a" * 64 + "' WHERE id = :id", 2, "changed"),
        ("DELETE FROM audit WHERE id = :id", 2, "unlinked"),
        ("DELETE FROM audit WHERE id = :id", 0, "unlinked"),
    ],
)
async def test_an_edited_or_deleted_row_is_the_first_broken_link(
    store: SqlStore, statement: str, row: int, reason: str
) -> None:
    ids = await seed(store)
    await sql(store, statement, id=ids[row])
    check = await verify(store)
    assert not check.intact
    # a deleted row shows at the row after it, which no longer links to its predecessor
    expected = ids[row + 1] if statement.startswith("DELETE") else ids[row]
    assert check.broken_at == expected
    assert check.reason == reason
    assert check.rows == row  # the rows before the break still hold


async def test_a_row_resealed_without_the_key_is_found(store: SqlStore) -> None:
    """Someone with the database but not the secret recomputes the chain with another key."""
    await seed(store, 3)
    install_keyring(Keyring("some-other-secret-key-0123456789"))
    await sql(store, "DELETE FROM audit")
    forged = await seed(store, 3)  # a whole chain, consistent, under the wrong key
    install_keyring(Keyring(SECRET))
    check = await verify(store)
    assert check.broken_at == forged[0]
    assert check.reason == "changed"


async def test_rows_sealed_before_a_key_rotation_still_verify(store: SqlStore) -> None:
    await seed(store, 2)
    install_keyring(Keyring("the-new-secret-key-0123456789abc", [SECRET]))
    await seed(store, 2)
    assert (await verify(store)).rows == 4
    install_keyring(Keyring("the-new-secret-key-0123456789abc"))  # old key dropped
    assert not (await verify(store)).intact
    install_keyring(Keyring(SECRET))


async def test_two_processes_appending_at_once_never_fork_the_chain(store: SqlStore, db_url: str) -> None:
    other = SqlStore(create_engine(db_url))  # a second engine: its own connections, like a process

    async def append(s: SqlStore, i: int) -> None:
        async with s.transaction() as uow:
            await uow.audit.append(audit.SYSTEM, "scheduler", audit.RETENTION_RUN, None, str(i), T0)
            await asyncio.sleep(0)  # give the other appender a chance to interleave

    try:
        await asyncio.gather(*(append(store if i % 2 else other, i) for i in range(24)))
    finally:
        await other.engine.dispose()
    check = await verify(store)
    assert check.intact
    assert check.rows == 24
    async with store.transaction() as uow:
        rows = await uow.audit.entries()
    assert len({e.prev_hash for e in rows}) == 24  # no two rows link to the same predecessor


def test_cli_verify_and_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/tipbot.db"
    monkeypatch.setenv("TIPBOT_DATABASE_URL", url)
    monkeypatch.setenv("TIPBOT_SECRET_KEY", SECRET)
    monkeypatch.setenv("TIPBOT_STORY_PAUSE", "0")
    monkeypatch.setenv("TIPBOT_MEDIA_DIR", str(tmp_path / "media"))

    async def prepare() -> list[int]:
        install_keyring(Keyring(SECRET))
        await upgrade_async(url)
        s = SqlStore(create_engine(url))
        try:
            return await seed(s, 4)
        finally:
            await s.engine.dispose()

    ids = asyncio.run(prepare())
    assert tipbot_main(["audit", "verify"]) == 0
    assert f"audit chain intact: 4 rows; head #{ids[-1]}" in capsys.readouterr().out
    assert tipbot_main(["audit", "list", "--case", "tb-aaaa-aaa2"]) == 0
    out = capsys.readouterr().out
    assert "TB-AAAA-AAA2" in out
    assert "staff_chat:staff:3" in out
    assert "TB-AAAA-AAA1" not in out
    assert tipbot_main(["audit", "list", "--since", "2026-12-01T16:03"]) == 0  # Thai time = 09:03 UTC
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == [f"#{ids[3]}"]
    assert tipbot_main(["audit", "list", "--since", "yesterday-ish"]) == 2
    assert "--since" in capsys.readouterr().err

    async def tamper() -> None:
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE audit SET detail = 'x' WHERE id = :id"), {"id": ids[1]})
        await engine.dispose()

    asyncio.run(tamper())
    assert tipbot_main(["audit", "verify"]) == 1
    assert f"BROKEN at row #{ids[1]}: its content or hash was changed" in capsys.readouterr().out
