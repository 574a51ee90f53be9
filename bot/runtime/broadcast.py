"""Organizer broadcasts: planning an audience, queueing it once, delivering each copy once.

`BroadcastDesk` answers organizers and volunteers inside the dispatcher's transaction (preview,
create, list, report, cancel, RSVP, questions). `Broadcaster` is the loop that starts due
broadcasts (the audience is queued in one transaction), delivers copies at each platform's pace
and records every outcome, and sends RSVP reminders.

Exactly once: a LINE copy goes out in a multicast batch whose membership and retry key are
committed before the call, so a resend after a crash or a 429 repeats the same key and LINE
drops it. A copy on a platform without retry keys (Telegram) is marked in flight before the
call and sent after the previous mark is settled, so a crash can leave at most one copy in
doubt per process; it is resent and recorded as a possible duplicate.

Talks to storage and channels only through `bot.core.ports`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot.core.catalog import Catalog, ref
from bot.core.compose import (
    BANGKOK,
    ORGANIZER_ROLES,
    audience_ref,
    choose,
    draft_record,
    notice_reply,
    provinces_for,
    reminder_reply,
    when_ref,
)
from bot.core.effects import AskOrganizer, BroadcastCommand, CreateBroadcast, PreviewBroadcast, Rsvp
from bot.core.model import (
    Address,
    AudienceMember,
    BroadcastRecord,
    Button,
    ContactRecord,
    Outbound,
    OutboxItem,
    Recipient,
    Reply,
    SendResult,
    SendStatus,
    StaffChatRecord,
)
from bot.core.ports import BroadcastsRepo, Channel, Store, UnitOfWork
from bot.core.routing import RegionTable
from bot.runtime.relay import MAX_ATTEMPTS, PAUSE, Pacing, backoff
from bot.runtime.worker import work_loop

log = logging.getLogger("tipbot.broadcast")

LEASE = timedelta(seconds=60)
NAMESPACE = uuid.UUID("3f0c6a52-6d1e-4c8e-9a57-2b1d0c7e4f11")


class Multicast(Protocol):
    """A channel that can send one message to many chats in one call (LINE)."""

    max_multicast: int
    multicast_per_second: float

    async def multicast(
        self, chat_ids: Sequence[str], messages: Sequence[Outbound], *, retry_key: str
    ) -> SendResult: ...


async def tell_organizer(uow: UnitOfWork, bc: BroadcastRecord, reply: Reply, key: str, now: datetime) -> None:
    """Queue a message to the chat that composed the broadcast, if it is still an active staff chat."""
    if bc.staff_chat_id is None:
        return
    chat = await uow.staff.by_id(bc.staff_chat_id)
    if chat is None or not chat.active:
        return
    item = OutboxItem.of(
        chat.channel, chat.chat_id, chat.locale, [reply], kind="notice", key=key, staff_chat_id=chat.id
    )
    await uow.outbox.add(item, now)


def month_start(now: datetime) -> datetime:
    """The start of the current month in Thai time (the quota month)."""
    local = now.astimezone(BANGKOK)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Plan:
    """Who a broadcast would reach now, per channel, and what it means for the LINE quota."""

    members: list[AudienceMember]
    by_channel: dict[str, int]
    line_quota: int  # 0: no quota set
    line_left: int | None  # None: no quota set
    moved_to_other: int  # volunteers reached on another platform instead of LINE

    @property
    def total(self) -> int:
        return len(self.members)

    @property
    def over_quota(self) -> int:
        if self.line_left is None:
            return 0
        return max(0, self.by_channel.get("line", 0) - self.line_left)


async def plan(
    uow: UnitOfWork,
    bc: BroadcastRecord,
    *,
    regions: RegionTable,
    channels: Sequence[str],
    line_quota: int,
    now: datetime,
) -> Plan:
    found = [
        m for m in await uow.broadcasts.audience(provinces_for(bc.audience, regions)) if m.channel in channels
    ]
    members = choose(found)
    left: int | None = None
    moved = 0
    if line_quota > 0:
        left = max(0, line_quota - await uow.broadcasts.line_usage(month_start(now)))
        if sum(m.channel == "line" for m in members) > left:
            # Volunteers who linked LINE and Telegram get this one on Telegram: it costs no quota.
            spared = choose(found, avoid=("line",))
            moved = sum(m.channel == "line" for m in members) - sum(m.channel == "line" for m in spared)
            members = spared
    by_channel: dict[str, int] = {}
    for m in members:
        by_channel[m.channel] = by_channel.get(m.channel, 0) + 1
    return Plan(members, by_channel, line_quota, left, moved)


def totals_params(bc: BroadcastRecord, totals: Mapping[str, int]) -> dict[str, Any]:
    return {
        "id": bc.id,
        "title": bc.title,
        "status": ref(f"broadcast.status.{bc.status}"),
        "recipients": bc.recipients,
        "sent": totals.get("sent", 0),
        "pending": totals.get("pending", 0) + totals.get("sending", 0),
        "failed": totals.get("failed", 0),
        "skipped": totals.get("skipped", 0) + totals.get("cancelled", 0),
        "yes": totals.get("rsvp_yes", 0),
        "no": totals.get("rsvp_no", 0),
        "ask": totals.get("rsvp_ask", 0),
    }


class BroadcastDesk:
    """What organizers and volunteers do with broadcasts inside one dispatcher transaction."""

    def __init__(
        self,
        *,
        regions: RegionTable,
        channels: Sequence[str],
        line_quota: int = 0,
        entropy: Callable[[int], bytes],
    ) -> None:
        self.regions = regions
        self.channels = list(channels)
        self.line_quota = line_quota
        self.entropy = entropy

    async def plan(self, uow: UnitOfWork, bc: BroadcastRecord, now: datetime) -> Plan:
        return await plan(
            uow, bc, regions=self.regions, channels=self.channels, line_quota=self.line_quota, now=now
        )

    def plan_reply(self, bc: BroadcastRecord, p: Plan, buttons: tuple[Any, ...] = ()) -> Reply:
        channels = [
            ref("broadcast.channel_count", channel=ref(f"channel.{c}"), count=n)
            for c, n in sorted(p.by_channel.items())
        ]
        notes: list[Any] = []
        if p.moved_to_other:
            notes.append(ref("broadcast.quota_moved", count=p.moved_to_other))
        if p.over_quota:
            notes.append(ref("broadcast.quota_over", over=p.over_quota, left=p.line_left, quota=p.line_quota))
        when = when_ref(bc.send_at) if bc.send_at else ref("broadcast.send_now")
        return Reply(
            "broadcast.plan",
            {
                "audience": audience_ref(bc.audience),
                "count": p.total,
                "channels": channels,
                "notes": notes,
                "send": when,
                "rsvp": ref("broadcast.rsvp_on" if bc.rsvp else "broadcast.rsvp_off"),
            },
            buttons=buttons,
        )

    @staticmethod
    def allowed(staff: StaffChatRecord | None) -> bool:
        return staff is not None and staff.active and staff.role in ORGANIZER_ROLES

    async def preview(
        self, uow: UnitOfWork, staff: StaffChatRecord | None, effect: PreviewBroadcast, now: datetime
    ) -> list[Reply]:
        if not self.allowed(staff):
            return [Reply("broadcast.denied")]
        bc = draft_record(effect.draft, staff_chat_id=None, created_by="chat")
        p = await self.plan(uow, bc, now)
        return [Reply("broadcast.preview_intro"), notice_reply(bc), self.plan_reply(bc, p, effect.buttons)]

    async def create(
        self, uow: UnitOfWork, staff: StaffChatRecord | None, effect: CreateBroadcast, now: datetime
    ) -> list[Reply]:
        if not self.allowed(staff):
            return [Reply("broadcast.denied")]
        assert staff is not None
        bc = draft_record(effect.draft, staff_chat_id=staff.id, created_by="chat")
        bc_id = await uow.broadcasts.add(bc, now)
        log.info("broadcast %s created in chat by staff chat %s", bc_id, staff.id)
        when = when_ref(bc.send_at) if bc.send_at else ref("broadcast.send_now")
        return [Reply("broadcast.created", {"id": bc_id, "title": bc.title, "send": when})]

    async def handle(
        self, uow: UnitOfWork, staff: StaffChatRecord | None, command: BroadcastCommand, now: datetime
    ) -> list[Reply]:
        if not self.allowed(staff):
            return [Reply("broadcast.denied")]
        if command.action == "list":
            items = await uow.broadcasts.recent(10)
            if not items:
                return [Reply("broadcast.list_empty")]
            lines = [
                ref(
                    "broadcast.list_line",
                    id=b.id,
                    title=b.title,
                    status=ref(f"broadcast.status.{b.status}"),
                    recipients=b.recipients,
                )
                for b in items
            ]
            return [Reply("broadcast.list", {"items": lines})]
        if command.action in ("report", "cancel") and command.bc_id is not None:
            bc = await uow.broadcasts.get(command.bc_id)
            if bc is None:
                return [Reply("broadcast.not_found", {"id": command.bc_id})]
            if command.action == "cancel":
                if not await uow.broadcasts.cancel(bc.id or 0, now):
                    return [Reply("broadcast.cannot_cancel", {"id": bc.id})]
                bc = await uow.broadcasts.get(command.bc_id) or bc
            totals = await uow.broadcasts.totals(bc.id or 0)
            key = "broadcast.cancelled_one" if command.action == "cancel" else "broadcast.report"
            return [Reply(key, totals_params(bc, totals))]
        return [Reply("broadcast.help")]

    async def rsvp(
        self, uow: UnitOfWork, contact: ContactRecord | None, effect: Rsvp, now: datetime
    ) -> list[Reply]:
        if effect.bc_id == 0:
            return [Reply("broadcast.preview_tap")]
        bc = await uow.broadcasts.set_rsvp(effect.bc_id, contact.id, effect.answer, now) if contact else None
        if bc is None:
            return [Reply("broadcast.rsvp_unknown")]
        return [Reply(f"broadcast.rsvp_thanks.{effect.answer}", {"title": bc.title})]

    async def question(
        self, uow: UnitOfWork, contact: ContactRecord | None, effect: AskOrganizer, now: datetime
    ) -> list[Reply]:
        bc = (
            await uow.broadcasts.add_question(effect.bc_id, contact.id, effect.text, now) if contact else None
        )
        if bc is None:
            return [Reply("broadcast.rsvp_unknown")]
        reply = Reply(
            "broadcast.question_for_organizer", {"id": bc.id, "title": bc.title, "text": effect.text}
        )
        await tell_organizer(uow, bc, reply, str(uuid.UUID(bytes=self.entropy(16), version=4)), now)
        return [Reply("broadcast.question_sent", {"title": bc.title})]

    async def notices(self, uow: UnitOfWork, contact: ContactRecord | None) -> list[Reply]:
        recent = await uow.broadcasts.of_contact(contact.id, 3) if contact else []
        opted_out = contact is not None and contact.opted_out
        if opted_out:
            setting = Reply("notices.settings_off", buttons=(Button("button.notices_on", "g:optin"),))
        else:
            setting = Reply("notices.settings_on", buttons=(Button("button.notices_off", "g:optout"),))
        if not recent:
            return [Reply("notices.none"), setting]
        lines = [
            ref("notices.line", title=b.title, when=when_ref(b.event_at) if b.event_at else "")
            for b in recent
        ]
        return [Reply("notices.recent", {"items": lines}), setting]


class Broadcaster:
    """Starts due broadcasts, delivers copies at platform pace, finishes and reminds."""

    def __init__(
        self,
        *,
        store: Store,
        channels: Mapping[str, Channel],
        catalog: Catalog,
        regions: RegionTable,
        pacing: Pacing,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        line_quota: int = 0,
        rsvp_reminder: timedelta = timedelta(hours=24),
        lease: timedelta = LEASE,
        in_flight: int = 1,
        entropy: Callable[[int], bytes] | None = None,
        rnd: Callable[[], float] = random.random,
        on_commit: Callable[[], None] = lambda: None,
        holder: str | None = None,
    ) -> None:
        self.store = store
        #: the process incarnation copies are leased to: freed at once when it is known gone
        self.holder = holder
        self.channels = channels
        self.catalog = catalog
        self.regions = regions
        self.pacing = pacing
        self.clock = clock
        self.line_quota = line_quota
        self.rsvp_reminder = rsvp_reminder
        self.lease = lease
        self.in_flight = max(1, in_flight)
        self.entropy = entropy or (lambda n: uuid.uuid4().bytes[:n])
        self.rnd = rnd
        self.on_commit = on_commit
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()
        self._rendered: dict[tuple[int, str], list[Outbound]] = {}

    async def run(self, stop: asyncio.Event, fallback_poll: float = 2.0) -> None:
        async def drain() -> int:
            return await self.drain(stop)

        await work_loop(
            "broadcaster", drain, stop=stop, wake=self.wake, idle=self.idle, fallback_poll=fallback_poll
        )

    async def drain(self, stop: asyncio.Event | None = None) -> int:
        worked = await self.start_due()
        worked += await self.remind()
        async with self.store.transaction() as uow:
            active = await uow.broadcasts.in_status("sending")
        for bc in active:
            sent = await asyncio.gather(*(self._deliver(bc, name, stop) for name in self.channels))
            worked += sum(sent)
            await self._finish(bc)
        return worked

    # ---- starting ----------------------------------------------------------------------------
    async def start_due(self) -> int:
        now = self.clock()
        started = 0
        async with self.store.transaction() as uow:
            for bc in await uow.broadcasts.due(now):
                assert bc.id is not None
                p = await plan(
                    uow,
                    bc,
                    regions=self.regions,
                    channels=list(self.channels),
                    line_quota=self.line_quota,
                    now=now,
                )
                await uow.broadcasts.add_recipients(bc.id, p.members, now)
                if not await uow.broadcasts.start(bc.id, p.total, now):
                    raise RuntimeError(f"broadcast {bc.id} changed while it was being queued")
                await self._tell_organizer(
                    uow,
                    bc,
                    Reply("broadcast.started", {"id": bc.id, "title": bc.title, "count": p.total}),
                    now,
                )
                log.info("broadcast %s queued for %d volunteers %s", bc.id, p.total, p.by_channel)
                started += 1
        if started:
            self.on_commit()
        return started

    async def _tell_organizer(
        self, uow: UnitOfWork, bc: BroadcastRecord, reply: Reply, now: datetime
    ) -> None:
        # one per broadcast and message kind, even if two processes got here
        await tell_organizer(
            uow, bc, reply, str(uuid.uuid5(NAMESPACE, f"organizer:{bc.id}:{reply.key}")), now
        )

    # ---- delivering --------------------------------------------------------------------------
    def _messages(self, bc: BroadcastRecord, locale: str) -> list[Outbound]:
        key = (bc.id or 0, locale)
        if key not in self._rendered:
            self._rendered[key] = [self.catalog.render(notice_reply(bc), locale)]
        return self._rendered[key]

    async def _deliver(self, bc: BroadcastRecord, name: str, stop: asyncio.Event | None) -> int:
        channel = self.channels[name]
        if hasattr(channel, "multicast"):
            return await self._deliver_batches(bc, name, channel, stop)  # type: ignore[arg-type]
        # Each sender keeps one copy in flight; `in_flight` senders trade speed on a slow network
        # against how many copies a crash can leave in doubt.
        senders = [self._deliver_one_by_one(bc, name, channel, stop) for _ in range(self.in_flight)]
        return sum(await asyncio.gather(*senders))

    async def _line_room(self, broadcasts: BroadcastsRepo, now: datetime) -> int | None:
        if self.line_quota <= 0:
            return None
        return max(0, self.line_quota - await broadcasts.line_usage(month_start(now)))

    async def _deliver_batches(
        self, bc: BroadcastRecord, name: str, channel: Multicast, stop: asyncio.Event | None
    ) -> int:
        assert bc.id is not None
        done = 0
        while stop is None or not stop.is_set():
            now = self.clock()
            async with self.store.transaction() as uow:
                limit = channel.max_multicast
                if name == "line":
                    room = await self._line_room(uow.broadcasts, now)
                    if room is not None:
                        limit = min(limit, room)
                if limit <= 0:
                    await uow.kv.set(f"paused.{name}", "quota")
                    log.warning("broadcast %s waits: the LINE monthly quota is used up", bc.id)
                    return done
                key, batch = await uow.broadcasts.claim_recipients(
                    bc.id,
                    name,
                    now,
                    lease=self.lease,
                    limit=limit,
                    batch_key=str(uuid.UUID(bytes=self.entropy(16), version=4)),
                    holder=self.holder,
                )
            if not batch:
                return done
            assert key is not None
            await self.pacing.wait_calls(name, channel.multicast_per_second)
            try:
                result = await channel.multicast(
                    [r.chat_id for r in batch], self._messages(bc, batch[0].locale), retry_key=key
                )
            except Exception as exc:  # an adapter bug must not stop the broadcast
                log.exception("multicast raised for broadcast %s", bc.id)
                result = SendResult(SendStatus.RETRY, error=type(exc).__name__)
            async with self.store.transaction() as uow:
                await self._settle(uow, batch, result, self.clock(), keyed=True)
            done += len(batch)
        return done

    async def _deliver_one_by_one(
        self, bc: BroadcastRecord, name: str, channel: Channel, stop: asyncio.Event | None
    ) -> int:
        """One copy in flight at a time: each send's outcome is committed with the next claim."""
        assert bc.id is not None
        done = 0
        last: tuple[Recipient, SendResult] | None = None
        while True:
            now = self.clock()
            async with self.store.transaction() as uow:
                if last is not None:
                    await self._settle(uow, [last[0]], last[1], now)
                    last = None
                if stop is not None and stop.is_set():
                    return done
                _, claimed = await uow.broadcasts.claim_recipients(
                    bc.id, name, now, lease=self.lease, limit=1, holder=self.holder
                )
            if not claimed:
                return done
            item = claimed[0]
            await self.pacing.wait_chat(name, channel, item.chat_id, bulk=True)
            try:
                result = await channel.send(
                    Address(name, item.chat_id),
                    self._messages(bc, item.locale),
                    reply_token=None,
                    retry_key=str(uuid.uuid5(NAMESPACE, f"copy:{item.id}")),
                )
            except Exception as exc:  # an adapter bug must not stop the broadcast
                log.exception("send raised for broadcast %s", bc.id)
                result = SendResult(SendStatus.RETRY, error=type(exc).__name__, possible_duplicate=True)
            last = (item, result)
            done += 1

    async def _settle(
        self,
        uow: UnitOfWork,
        batch: list[Recipient],
        result: SendResult,
        now: datetime,
        *,
        keyed: bool = False,
    ) -> None:
        """Record a send's outcome. `keyed`: the platform drops a repeat of the same retry key,
        so a resend of a batch that was in flight cannot have delivered twice."""
        ids = [r.id for r in batch]
        attempts = max(r.attempts for r in batch)
        if result.status == SendStatus.SENT:
            repeat = result.possible_duplicate or (not keyed and any(r.in_flight for r in batch))
            await uow.broadcasts.settle_recipients(ids, status="sent", now=now, possible_duplicate=repeat)
            if repeat:
                log.warning("broadcast copy %s may have been delivered twice", ids[0])
            return
        if result.status == SendStatus.RETRY and attempts < MAX_ATTEMPTS:
            wait = result.retry_after if result.retry_after is not None else backoff(attempts, self.rnd)
            # A send that may have got through (timeout) stays "sending": its resend is recorded.
            status = "sending" if result.possible_duplicate else "pending"
            await uow.broadcasts.settle_recipients(
                ids, status=status, now=now, next_attempt_at=now + timedelta(seconds=wait), error=result.error
            )
            return
        if result.status == SendStatus.PAUSED:
            await uow.broadcasts.settle_recipients(
                ids, status="pending", now=now, next_attempt_at=now + PAUSE, error=result.error
            )
            await uow.kv.set(f"paused.{batch[0].channel}", (now + PAUSE).isoformat())
            return
        if result.status == SendStatus.UNREACHABLE:
            for r in batch:
                await uow.contacts.mark_unreachable(r.contact_id)
        await uow.broadcasts.settle_recipients(
            ids, status="failed", now=now, error=result.error or result.status.value
        )

    # ---- finishing and reminding --------------------------------------------------------------
    async def _finish(self, bc: BroadcastRecord) -> None:
        assert bc.id is not None
        now = self.clock()
        async with self.store.transaction() as uow:
            totals = await uow.broadcasts.totals(bc.id)
            if totals.get("pending", 0) + totals.get("sending", 0):
                return
            if not await uow.broadcasts.finish(bc.id, now):
                return
            done = await uow.broadcasts.get(bc.id) or bc
            await self._tell_organizer(
                uow, done, Reply("broadcast.finished", totals_params(done, totals)), now
            )
            log.info("broadcast %s done: %s", bc.id, totals)
        self._rendered = {k: v for k, v in self._rendered.items() if k[0] != bc.id}
        self.on_commit()

    async def remind(self) -> int:
        now = self.clock()
        queued = 0
        async with self.store.transaction() as uow:
            for bc in await uow.broadcasts.to_remind(now + self.rsvp_reminder, now):
                assert bc.id is not None
                if not await uow.broadcasts.mark_reminded(bc.id, now):
                    continue
                for contact_id, address in await uow.broadcasts.accepted(bc.id):
                    if not address.reachable:
                        continue
                    key = str(uuid.uuid5(NAMESPACE, f"remind:{bc.id}:{contact_id}"))
                    reminder = [reminder_reply(bc)]
                    item = OutboxItem.of(
                        address.channel, address.chat_id, address.locale, reminder, kind="notice", key=key
                    )
                    await uow.outbox.add(item, now)
                    queued += 1
        if queued:
            self.on_commit()
        return queued
