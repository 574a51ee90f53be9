"""Related tips on SQLite (and PostgreSQL when TIPBOT_TEST_DATABASE_URL is set): the blind index
holds only keyed hashes, finds the same office written differently and not its neighbour, respects
regions, forgets an erased tip, follows a key rotation, and names groups that grew in the digest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.core.catalog import Catalog
from bot.core.model import TipDetail, TipRecord
from bot.core.related import AGENCY, Facts, signals
from bot.runtime.related import RelatedDesk
from storage import tables as t
from storage.crypto import Keyring, install_keyring
from storage.database import create_engine, upgrade_async
from storage.maintenance import reindex
from storage.repositories import SqlStore

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SECRET = "related-test-secret-0123456789"
DESK = RelatedDesk()
CATALOG = Catalog.load()

A = ("ปลัด อบต.หนองบัว เรียกเงินใต้โต๊ะห้าหมื่นบาท เพื่อออกใบอนุญาตก่อสร้างบ้าน", "อบต.หนองบัว", "ปลัด อบต.")
B = (
    "ปลัดองค์การบริหารส่วนตำบลหนองบัวเรียกรับเงินห้าหมื่น แลกกับการออกใบอนุญาตก่อสร้าง",
    "องค์การบริหารส่วนตำบลหนองบัว อ.ปราสาท",
    "ปลัด",
)
NEIGHBOUR = ("นายก อบต.หนองบัวใหญ่ เอาพวกพ้องมาทำถนนลูกรัง งานไม่ได้มาตรฐาน", "อบต.หนองบัวใหญ่", "นายก อบต.")


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlStore]:
    install_keyring(Keyring(SECRET))
    await upgrade_async(db_url)
    s = SqlStore(create_engine(db_url))
    yield s
    await s.engine.dispose()


async def add(
    store: SqlStore,
    code: str,
    told: tuple[str, str, str],
    *,
    region: str = "3",
    category: str = "bribery",
    at: datetime = NOW,
) -> TipDetail:
    narrative, agency, official = told
    async with store.transaction() as uow:
        contact = await uow.contacts.create("webchat", f"chat-{code}", "th", at)
        await uow.tips.add(
            TipRecord(
                case_code=code,
                category=category,
                narrative=narrative,
                agency=agency,
                official=official,
                province="สุรินทร์",
                district="ปราสาท",
                region=region,
                incident_date=None,
                incident_date_text=None,
                amount_thb=None,
                contact_ok=False,
                contact_how=None,
                location=None,
                attachment_ids=(),
            ),
            contact_id=contact.id,
            channel="webchat",
            draft_id=f"d-{code}",
            now=at,
        )
        tip = await uow.tips.get(code)
        assert tip is not None
        await DESK.index(uow, tip)
        return tip


async def test_the_index_holds_hashes_and_finds_the_same_office_not_its_neighbour(store: SqlStore) -> None:
    first = await add(store, "TB-AAAA-AAAA", A)
    await add(store, "TB-CCCC-CCCC", NEIGHBOUR)
    second = await add(store, "TB-BBBB-BBBB", B)
    async with store.transaction() as uow:
        rows = (await uow.session.execute(select(t.TipIndex))).scalars().all()
        sig, found = await DESK.find(uow, second, NOW)
    assert rows and all(isinstance(r.hash, int) for r in rows)
    assert {r.kind for r in rows} >= {"agency", "agency_district", "position", "place", "story"}
    # only keyed hashes: the plain features' hashes under another key are not there
    other = Keyring("some-other-secret-0123456789")
    plain = signals(Facts("bribery", B[0], B[1], B[2], "สุรินทร์", "ปราสาท", NOW.date())).index
    assert not {other.blind_hash(f) for f in plain} & {r.hash for r in rows}
    assert [m.case_code for m in found] == [first.case_code]
    assert found[0].score >= 0.55 and "agency" in found[0].signals
    reason = CATALOG.text("related.reason.agency", "th", {"what": sig.labels[AGENCY]})
    assert reason == "หน่วยงานเดียวกัน: อบต.หนองบัว อ.ปราสาท"


async def test_a_region_sees_only_a_count_of_another_regions_tip(store: SqlStore) -> None:
    await add(store, "TB-AAAA-AAAA", A, region="5")
    second = await add(store, "TB-BBBB-BBBB", B, region="3")
    async with store.transaction() as uow:
        _, own = await DESK.related_for(uow, second, "3", NOW)
        _, central = await DESK.related_for(uow, second, "central", NOW)
        _, fifth = await DESK.related_for(uow, second, "5", NOW)
    assert own.visible == () and own.hidden == (("5", 1),)
    assert [m.case_code for m in central.visible] == ["TB-AAAA-AAAA"]
    assert [m.case_code for m in fifth.visible] == ["TB-AAAA-AAAA"]
    rendered = CATALOG.text("related.alert_note", "th", {"note": "", "related": DESK.alert_line(own)})
    assert "อีก 1 เรื่องอยู่ใน ปปท.เขต 5" in rendered and "TB-AAAA-AAAA" not in rendered


async def test_an_erased_tip_leaves_the_index_and_an_old_one_is_outside_the_window(store: SqlStore) -> None:
    first = await add(store, "TB-AAAA-AAAA", A, at=NOW - timedelta(days=400))
    second = await add(store, "TB-BBBB-BBBB", B)
    async with store.transaction() as uow:
        _, found = await DESK.find(uow, second, NOW)
        assert found == []  # 400 days ago: outside the default year
        _, found = await RelatedDesk(window=timedelta(days=500)).find(uow, second, NOW)
        assert [m.case_code for m in found] == [first.case_code]
        assert await DESK.forget(uow, first.id) > 0
        left = await uow.session.execute(
            select(func.count()).select_from(t.TipIndex).where(t.TipIndex.tip_id == first.id)
        )
        assert left.scalar_one() == 0
        _, found = await RelatedDesk(window=timedelta(days=500)).find(uow, second, NOW)
        assert found == []


async def test_a_rotated_key_rebuilds_the_index(store: SqlStore) -> None:
    await add(store, "TB-AAAA-AAAA", A)
    second = await add(store, "TB-BBBB-BBBB", B)
    async with store.transaction() as uow:
        before = set((await uow.session.execute(select(t.TipIndex.hash))).scalars().all())
    install_keyring(Keyring("the-new-secret-key-0123456789", [SECRET]))
    async with store.transaction() as uow:
        _, found = await DESK.find(uow, second, NOW)
    assert found == []  # queried under the new key, indexed under the old one
    assert await reindex(store) == 2
    async with store.transaction() as uow:
        after = set((await uow.session.execute(select(t.TipIndex.hash))).scalars().all())
        _, found = await DESK.find(uow, second, NOW)
    assert not before & after
    assert [m.case_code for m in found] == ["TB-AAAA-AAAA"]


async def test_the_digest_names_a_group_that_grew(store: SqlStore) -> None:
    for i, days in enumerate((80, 30, 10)):
        told = (f"เรื่องที่ {i} ของ อบต.หนองบัว คนละเรื่องกัน", "อบต.หนองบัว", "")
        await add(store, f"TB-DDDD-DDD{'ACD'[i]}", told, at=NOW - timedelta(days=days))
    async with store.transaction() as uow:
        assert await DESK.digest_lines(uow, "3", NOW) == []  # nothing new in the last day
    await add(store, "TB-EEEE-EEEE", ("อบต.หนองบัว ไม่จ่ายค่าจ้างคนงาน", "อบต.หนองบัว", ""), at=NOW)
    await add(store, "TB-FFFF-FFFF", ("อีกเรื่อง", "อบต.หนองบัว", ""), region="5", at=NOW)
    async with store.transaction() as uow:
        third = await DESK.digest_lines(uow, "3", NOW)
        fifth = await DESK.digest_lines(uow, "5", NOW)
        central = await DESK.digest_lines(uow, "central", NOW)
    text = CATALOG.text("related.digest", "th", {"lines": third})
    assert "อบต.หนองบัว อ.ปราสาท: 4 เรื่องใน 90 วัน" in text
    assert fifth == []  # region 5 sees one tip of the group
    assert "5 เรื่องใน 90 วัน" in CATALOG.text("related.digest", "th", {"lines": central})


def test_agency_names_agree_across_spellings() -> None:
    from bot.thai.agency import agency

    same = ["อบต.หนองบัว", "องค์การบริหารส่วนตำบลหนองบัว", "อบต. หนองบัว อ.เมือง", "อบตหนองบัว", "อ.บ.ต.หนองบัว"]
    keys = {a.key for s in same if (a := agency(s, "สุรินทร์")) is not None}
    assert len(keys) == 1
    assert agency("อบต.หนองบัวใหญ่", "สุรินทร์").key not in keys  # type: ignore[union-attr]
    assert agency("รพ.สต.บ้านโคก").key == agency("โรงพยาบาลส่งเสริมสุขภาพตำบลบ้านโคก").key  # type: ignore[union-attr]
    assert agency("สพป.สุรินทร์ เขต 1").key != agency("สพป.สุรินทร์ เขต 2").key  # type: ignore[union-attr]
    assert agency("  ") is None


def test_facts_date_from_incident() -> None:
    f = Facts("bribery", "x", None, None, "สุรินทร์", "ปราสาท", date(2026, 1, 1))
    assert any(s.startswith("place:") for s in signals(f).index)
