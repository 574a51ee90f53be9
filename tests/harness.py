"""Runs readable Thai conversation transcripts (tests/transcripts/*.chat) against any channel.

Transcript lines (actor defaults to `volunteer`; any other name is another chat):
    > ข้อความ              the actor types a message
    > [ปุ่ม]               the actor taps the button with that label (from their latest buttons)
    > @location 14.8,103.5 the actor shares a location
    > @image ชื่อ.jpg      the actor sends a photo (a generated JPEG with EXIF GPS)
    < ข้อความ              a bot message to the actor (the current one or a later one) contains this text
    <! ข้อความ             no new bot message to the actor contains this text
    = tips 1               stored tips (all volunteers) ; `= tip <field> <value>` checks the last tip
    = alerts 2             alert rows queued for staff chats
    = opted_out 1          contacts that stopped notices
    = copies 2             broadcast copies delivered (all broadcasts)
    = attachments 1        evidence rows stored (any tip or none)
    = media_files 1        files in the media folder
    = audit tip_read 1     audit rows with that action (`= audit verify` checks the hash chain)
    @clock +25h            time passes (the injected clock moves on)
    @clock at 2030-01-07 09:00   the clock jumps to that Thai time
    @tick                  the scheduler runs once (reminders, escalations, digests)
    @story_pause +20s      the story step waits this long for more messages (tests default to none)
    @wait +25s             time passes and whatever fell due meanwhile is done (e.g. a pause ending)
    {invite:3}             a fresh invite code for region 3 (`{invite:3:organizer}` for a role)
    {code}                 the last case code the actor was told (else the volunteer's)
    {code:somsri}          the last case code that chat was told
    {broadcast}            the number of the newest broadcast
    {link}                 the last account-link code anyone was told
    {identity}             what the consent text says about identity on this channel (Thai)
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, select

from bot.app import Services
from bot.core.casecode import find as find_code
from bot.core.compose import BANGKOK
from storage import tables as t
from storage.reports import export_tips

TRANSCRIPTS = Path(__file__).with_name("transcripts")
LINE_RE = re.compile(r"^(?P<actor>[A-Za-z][A-Za-z0-9_]*)?\s*(?P<op><!|<|>)\s?(?P<rest>.*)$")


@dataclass
class Msg:
    text: str
    buttons: list[tuple[str, str]] = field(default_factory=list)


class FakeClock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


class Driver(Protocol):
    """A channel as a person uses it: say, tap, share; and what the person received."""

    name: str
    services: Services

    async def say(self, actor: str, text: str) -> None: ...
    async def tap(self, actor: str, label: str, payload: str) -> None: ...
    async def location(self, actor: str, lat: float, lon: float) -> None: ...
    async def image(self, actor: str, data: bytes, name: str) -> None: ...
    def received(self, actor: str) -> list[Msg]: ...


def evidence_jpeg(seed: str) -> bytes:
    """A small JPEG carrying EXIF GPS data, so stripping can be checked."""
    from PIL import Image

    img = Image.new("RGB", (32, 24), tuple(hashlib.sha256(seed.encode()).digest()[:3]))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (14.0, 52.0, 30.0), 3: "E", 4: (103.0, 29.0, 0.0)}
    exif[0x010F] = "CameraMaker"
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif)
    return out.getvalue()


class TranscriptError(AssertionError):
    pass


class Runner:
    def __init__(self, driver: Driver, clock: FakeClock) -> None:
        self.driver = driver
        self.clock = clock
        self.read: dict[str, int] = {}
        self.codes: dict[str, str] = {}
        self.matched: set[str] = set()
        self.actors: set[str] = set()

    async def settle(self) -> None:
        """Let the app work off everything, then let the driver read what its chats got (the web
        chat's mailboxes are in the database, read over the page's own API)."""
        await self.driver.services.settle()
        refresh = getattr(self.driver, "refresh", None)
        if refresh is not None:
            await refresh()

    async def run(self, path: Path) -> None:
        for lineno, raw in enumerate(path.read_text("utf-8").splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                await self.step(line)
            except AssertionError as exc:
                raise TranscriptError(f"{path.name}:{lineno} [{self.driver.name}] {line}\n{exc}") from None

    async def step(self, line: str) -> None:
        if line.startswith("@clock at "):
            target = datetime.strptime(line.removeprefix("@clock at ").strip(), "%Y-%m-%d %H:%M")
            self.clock.offset = target.replace(tzinfo=BANGKOK) - datetime.now(UTC)
            return
        if line.startswith("@clock"):
            self.clock.offset += _duration(line.split()[1])
            return
        if line.startswith("@story_pause"):
            self.driver.services.dispatcher.story_pause = _duration(line.split()[1])
            return
        if line.startswith("@wait"):
            self.clock.offset += _duration(line.split()[1])
            await self.settle()
            return
        if line.startswith("@tick"):
            scheduler = self.driver.services.scheduler
            assert scheduler is not None
            await scheduler.tick()
            await self.settle()
            return
        if line.startswith("="):
            await self.check(line[1:].split())
            return
        m = LINE_RE.match(line)
        if not m:
            raise TranscriptError(f"cannot read transcript line: {line}")
        actor = m.group("actor") or "volunteer"
        self.actors.add(actor)
        op, rest = m.group("op"), await self.expand(actor, m.group("rest").strip())
        if op == ">":
            await self.act(actor, rest)
        elif op == "<":
            self.expect(actor, rest)
        else:
            self.expect_none(actor, rest)

    async def expand(self, actor: str, text: str) -> str:
        async def invite(m: re.Match[str]) -> str:
            return await self.invite(m.group(1), m.group(2) or "staff")

        out = text
        for m in list(re.finditer(r"\{invite:([0-9a-z]+)(?::([a-z]+))?\}", text)):
            out = out.replace(m.group(0), await invite(m))
        if "{broadcast}" in out:
            async with self.driver.services.store.transaction() as uow:
                newest = (await uow.session.execute(select(func.max(t.Broadcast.id)))).scalar_one()
            assert newest is not None, "no broadcast yet"
            out = out.replace("{broadcast}", str(newest))
        if "{identity}" in out:
            channel = "telegram" if self.driver.name.startswith("telegram") else self.driver.name
            said = self.driver.services.catalog.text(f"privacy.identity.{channel}", "th")
            out = out.replace("{identity}", said)
        if "{link}" in out:
            from bot.core.casecode import find_link_code

            codes = [
                c
                for who in sorted(self.actors)
                for m in self.driver.received(who)
                if (c := find_link_code(m.text)) is not None
            ]
            assert codes, "nobody was told a link code"
            out = out.replace("{link}", codes[-1])
        for m in list(re.finditer(r"\{code:([A-Za-z][A-Za-z0-9_]*)\}", out)):
            self._collect_codes(m.group(1))
            told = self.codes.get(m.group(1))
            assert told, f"{m.group(1)} was never told a case code"
            out = out.replace(m.group(0), told)
        if "{code}" in out:
            self._collect_codes(actor)
            self._collect_codes("volunteer")
            code = self.codes.get(actor) or self.codes.get("volunteer")
            assert code, f"{actor} was never told a case code"
            out = out.replace("{code}", code)
        return out

    async def invite(self, region: str, role: str) -> str:
        from bot.cli.main import new_invite_code

        code = new_invite_code()
        now = self.clock()
        async with self.driver.services.store.transaction() as uow:
            await uow.staff.create_invite(code, region, role, now + timedelta(days=1), now)
        return code

    async def act(self, actor: str, rest: str) -> None:
        if rest.startswith("[") and rest.endswith("]"):
            label = rest[1:-1]
            for msg in reversed(self.driver.received(actor)):
                for blabel, payload in msg.buttons:
                    if blabel == label:
                        await self.driver.tap(actor, blabel, payload)
                        await self.settle()
                        return
            raise AssertionError(f"no button [{label}] for {actor}; last messages:\n{self._tail(actor)}")
        if rest.startswith("@location"):
            lat, lon = (float(x) for x in rest.split(None, 1)[1].split(","))
            await self.driver.location(actor, lat, lon)
        elif rest.startswith("@image"):
            name = rest.split(None, 1)[1]
            await self.driver.image(actor, evidence_jpeg(name), name)
        else:
            await self.driver.say(actor, rest)
        await self.settle()

    def _unread(self, actor: str) -> list[Msg]:
        return self.driver.received(actor)[self.read.get(actor, 0) :]

    def _tail(self, actor: str) -> str:
        return "\n---\n".join(
            m.text + (f"  {[b for b, _ in m.buttons]}" if m.buttons else "")
            for m in self.driver.received(actor)[-4:]
        )

    def expect(self, actor: str, text: str) -> None:
        unread = self._unread(actor)
        for i, msg in enumerate(unread):
            if text in msg.text:
                # The matched message stays current, so several lines can check one message.
                self.read[actor] = self.read.get(actor, 0) + i
                self.matched.add(actor)
                self._collect_codes(actor)
                return
        raise AssertionError(
            f"{actor} did not receive «{text}»; unread messages:\n" + "\n---\n".join(m.text for m in unread)
        )

    def expect_none(self, actor: str, text: str) -> None:
        # The message an earlier `<` matched is not new any more.
        start = self.read.get(actor, 0) + (1 if actor in self.matched else 0)
        for msg in self.driver.received(actor)[start:]:
            assert text not in msg.text, f"{actor} unexpectedly received «{text}»:\n{msg.text}"

    def _collect_codes(self, actor: str) -> None:
        for msg in self.driver.received(actor):
            code = find_code(msg.text)
            if code:
                self.codes[actor] = code

    async def check(self, words: list[str]) -> None:
        store = self.driver.services.store
        tips = [row async for row in export_tips(store)]
        what = words[0]
        if what == "tips":
            assert len(tips) == int(words[1]), f"expected {words[1]} tips, found {len(tips)}"
        elif what == "tip":
            assert tips, "no tip stored"
            key, want = words[1], " ".join(words[2:])
            got = tips[-1].get(key)
            assert str(got) == want, f"tip {key}: expected {want!r}, got {got!r}"
        elif what == "alerts":
            async with store.transaction() as uow:
                n = (
                    await uow.session.execute(
                        select(func.count()).select_from(t.OutboxRow).where(t.OutboxRow.kind == "alert")
                    )
                ).scalar_one()
            assert n == int(words[1]), f"expected {words[1]} alerts, found {n}"
        elif what == "opted_out":
            async with store.transaction() as uow:
                q = select(func.count()).select_from(t.Contact).where(t.Contact.opted_out.is_(True))
                n = (await uow.session.execute(q)).scalar_one()
            assert n == int(words[1]), f"expected {words[1]} opted-out contacts, found {n}"
        elif what == "copies":
            async with store.transaction() as uow:
                q = select(func.count()).select_from(t.BroadcastRecipient)
                n = (await uow.session.execute(q.where(t.BroadcastRecipient.status == "sent"))).scalar_one()
            assert n == int(words[1]), f"expected {words[1]} broadcast copies delivered, found {n}"
        elif what == "contacts":
            async with store.transaction() as uow:
                n = (await uow.session.execute(select(func.count()).select_from(t.Contact))).scalar_one()
            assert n == int(words[1]), f"expected {words[1]} contacts, found {n}"
        elif what == "attachments":
            async with store.transaction() as uow:
                n = (await uow.session.execute(select(func.count()).select_from(t.Attachment))).scalar_one()
            assert n == int(words[1]), f"expected {words[1]} attachment rows, found {n}"
        elif what == "media_files":
            media_dir = self.driver.services.settings.media_dir
            n = sum(1 for p in media_dir.rglob("*") if p.is_file()) if media_dir.exists() else 0
            assert n == int(words[1]), f"expected {words[1]} files in the media folder, found {n}"
        elif what == "audit":
            async with store.transaction() as uow:
                if words[1] == "verify":
                    check = await uow.audit.verify()
                    assert check.intact, f"audit chain broken at row {check.broken_at}"
                    return
                n = sum(1 for e in await uow.audit.entries() if e.action == words[1])
            assert n == int(words[2]), f"expected {words[2]} audit rows {words[1]}, found {n}"
        else:
            raise TranscriptError(f"unknown check {what}")


def _duration(text: str) -> timedelta:
    m = re.fullmatch(r"\+(\d+)([smhd])", text)
    if not m:
        raise TranscriptError(f"bad duration {text}")
    n, unit = int(m.group(1)), m.group(2)
    return timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: n})


def transcripts() -> list[Path]:
    return sorted(TRANSCRIPTS.glob("*.chat"))


DriverFactory = Callable[..., Any]
