"""The dispatcher: claims inbox rows, one conversation at a time in arrival order, runs the
engine and commits the Turn (conversation, tip, outbox rows, inbox status) in one transaction.

Talks to storage and channels only through `bot.core.ports`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import metrics
from bot.core import evidence
from bot.core.compose import wants_staff
from bot.core.effects import (
    AnswerQuestion,
    AskOrganizer,
    BroadcastCommand,
    Consent,
    CreateBroadcast,
    Effect,
    EraseMe,
    ForgetAttachment,
    ForgetMe,
    JoinStaff,
    LeaveStaff,
    LinkEffect,
    LinkStart,
    LinkWith,
    MarkUnreachable,
    PreviewBroadcast,
    RedactTip,
    Rsvp,
    ShowMyData,
    ShowNotices,
    StaffAction,
    SubmitTip,
    Unlink,
    UpdateContact,
    WakeLater,
)
from bot.core.engine import Context, Engine, Turn
from bot.core.forms import Understanding
from bot.core.joinguard import join_guard_live
from bot.core.model import (
    ContactRecord,
    Inbound,
    InboundKind,
    InboxEvent,
    InboxItem,
    MediaGone,
    MediaNotReady,
    MediaRef,
    MediaTooLarge,
    OutboxItem,
    Reply,
)
from bot.core.ports import (
    Channel,
    ConcurrentUpdate,
    MediaStore,
    StorageUnavailable,
    Store,
    UnitOfWork,
)
from bot.core.routing import RegionTable
from bot.core.state import State
from bot.runtime.broadcast import BroadcastDesk
from bot.runtime.contact import ContactDesk
from bot.runtime.link import LinkDesk
from bot.runtime.rights import RightsDesk
from bot.runtime.staff import StaffDesk
from bot.runtime.tip import TipDesk
from bot.runtime.worker import work_loop

log = logging.getLogger("tipbot.dispatcher")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _carries_file(inbound: Inbound) -> bool:
    """A file sent in a private chat we answer (LINE standby only records): one we might fetch."""
    return (
        inbound.kind == InboundKind.MEDIA
        and inbound.media is not None
        and inbound.chat_kind == "private"
        and not inbound.standby
    )


#: the payload key of a WAKE event the dispatcher stored itself (see `Dispatcher._wake_later`)
WAKE_KEY = "tipbot_wake"


def _woken(item: InboxItem) -> Inbound | None:
    """The WAKE event of a row the dispatcher stored itself; None for a platform's event."""
    payload = item.payload or {}
    if WAKE_KEY not in payload:
        return None
    return Inbound(
        channel=item.channel,
        chat_id=str(payload["chat_id"]),
        kind=InboundKind.WAKE,
        event_id=item.event_id,
        occurred_at=item.occurred_at or utcnow(),
        chat_kind="group" if payload.get("chat_kind") == "group" else "private",
        text=str(payload[WAKE_KEY]),
    )


@dataclass(slots=True)
class Commit:
    """One turn on its way into the database: the event it answers, and what its effects changed."""

    inbound: Inbound
    turn: Turn
    now: datetime
    #: the chat's contact as the effects so far left it (None once "forget me" deleted it)
    contact: ContactRecord | None
    #: media files the turn let go: deleted once the transaction has committed
    forgotten: list[str] = field(default_factory=list)
    #: a broadcast was created or changed: the broadcaster is woken after the commit
    broadcast_changed: bool = False


#: applies one effect inside the commit's transaction, by handing it to its desk
Applier = Callable[[UnitOfWork, Any, Commit], Awaitable[None]]


class Dispatcher:
    def __init__(
        self,
        *,
        store: Store,
        channels: Mapping[str, Channel],
        media: MediaStore,
        regions: RegionTable,
        understanding: Understanding,
        engine: Engine | None = None,
        clock: Callable[[], datetime] = utcnow,
        entropy: Callable[[int], bytes] = os.urandom,
        draft_ttl: timedelta = timedelta(hours=24),
        default_locale: str = "th",
        excerpt_chars: int = 200,
        max_media_bytes: int = 20 * 1024 * 1024,
        only_channels: Collection[str] | None = None,
        on_commit: Callable[[], None] = lambda: None,
        concurrency: int = 4,
        desk: StaffDesk | None = None,
        broadcasts: BroadcastDesk | None = None,
        on_broadcast: Callable[[], None] = lambda: None,
        links: LinkDesk | None = None,
        per_chat: int = 20,
        reply_first: Mapping[str, timedelta] | None = None,
        round_seconds: float = 1.0,
        rights: RightsDesk | None = None,
        privacy_url: str = "/privacy",
        story_pause: timedelta = timedelta(0),
    ) -> None:
        self.store = store
        #: how long the story step waits for more messages (0: the next question at once)
        self.story_pause = story_pause
        #: at most this many events of one conversation per round, so no chat holds others back
        self.per_chat = per_chat
        #: channel → how long its reply tokens last: chats with a token still valid go first
        self.reply_first = dict(reply_first or {})
        #: no chat is started after a round has run this long: the next round picks afresh, so
        #: an event with a reply token that arrived meanwhile waits about this long at most
        self.round_seconds = round_seconds
        self.channels = channels
        self.media = media
        self.regions = regions
        self.understanding = understanding
        self.engine = engine or Engine()
        self.clock = clock
        self.entropy = entropy
        self.draft_ttl = draft_ttl
        self.default_locale = default_locale
        self.excerpt_chars = excerpt_chars
        self.max_media_bytes = max_media_bytes
        self.only_channels = only_channels
        self.on_commit = on_commit
        self.desk = desk or StaffDesk(entropy=entropy, excerpt_chars=excerpt_chars)
        self.broadcasts = broadcasts or BroadcastDesk(
            regions=regions, channels=list(channels), entropy=entropy
        )
        self.tips = TipDesk(self.desk)
        self.contacts = ContactDesk(default_locale=default_locale)
        self.links = links or LinkDesk(entropy=entropy)
        self.rights = rights or RightsDesk(entropy=entropy)
        self.privacy_url = privacy_url
        self.on_broadcast = on_broadcast
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()
        self._sem = asyncio.Semaphore(concurrency)
        self._handled = 0
        self._broadcast_changed = False
        self._appliers = self._table()

    # ---- loop ----------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, fallback_poll: float = 2.0) -> None:
        """Process until `stop` (between events: one in progress is committed first)."""

        async def drain() -> int:
            return await self.drain(stop=stop)

        await work_loop(
            "dispatcher", drain, stop=stop, wake=self.wake, idle=self.idle, fallback_poll=fallback_poll
        )

    async def drain(self, limit: int = 200, stop: asyncio.Event | None = None) -> int:
        """Process one fair round of due inbox rows; returns how many this process handled.

        A round takes at most `per_chat` events of each conversation, chats interleaved, so one
        chat with thousands queued (a flood) cannot hold the others back; chats with a reply
        token still valid (LINE) start first, so their answers go out as free replies. No chat
        is started after `round_seconds`, so a new event of such a chat waits about that long.
        Rows whose conversation another process is working on are left to it (not counted), so
        a process that found only those waits for its next wake-up instead of spinning.
        """
        now = self.clock()
        async with self.store.transaction() as uow:
            batch = await uow.inbox.pending(
                limit, now, self.only_channels, per_chat=self.per_chat, reply_first=self.reply_first
            )
        if not batch:
            return 0
        self._handled = 0
        # Per-conversation order: rows of one chat run one after another, chats in parallel.
        by_chat: OrderedDict[str, list[InboxItem]] = OrderedDict()
        for item, chat_key in batch:
            by_chat.setdefault(chat_key, []).append(item)

        deadline = time.monotonic() + self.round_seconds
        cut = False

        async def one_chat(items: list[InboxItem]) -> None:
            nonlocal cut
            async with self._sem:
                for it in items:
                    if stop is not None and stop.is_set():
                        return  # shutting down: the rest stays pending for the next start
                    if time.monotonic() > deadline:
                        cut = True  # the rest stays pending for the next round, in order
                        return
                    if not await self.process(it):
                        break  # keep later events of this chat behind the one that must wait

        def replying(items: list[InboxItem]) -> bool:
            return any(
                it.channel in self.reply_first
                and it.occurred_at is not None
                and now - it.occurred_at <= self.reply_first[it.channel]
                for it in items
            )

        urgent = [items for items in by_chat.values() if replying(items)]
        rest = [items for items in by_chat.values() if not replying(items)]
        # Several processes read the same pending rows; starting each on different chats keeps
        # them from queueing behind one another's chat locks (order within a chat is kept).
        # Chats with a live reply token still take the semaphore first (it is first come, first
        # served).
        random.shuffle(urgent)
        random.shuffle(rest)
        await asyncio.gather(*(one_chat(items) for items in urgent + rest))
        # a cut round left work behind: never report it as idle
        return self._handled or int(cut)

    # ---- one event -----------------------------------------------------------------------------
    async def process(self, item: InboxItem) -> bool:
        """Handle one inbox row. False when it must be retried later (the chat waits)."""
        started = time.monotonic()
        now = self.clock()
        channel = self.channels.get(item.channel)
        if channel is None:
            await self._finish(item, "failed", f"no adapter for channel {item.channel}")
            return True
        try:
            inbound = _woken(item) or channel.to_inbound(item.event_id, item.payload)
        except Exception as exc:  # a payload the adapter cannot read must not stop the batch
            log.warning("event %s unreadable: %s", item.event_id, type(exc).__name__)
            inbound = None
        if inbound is None or inbound.kind == InboundKind.IGNORED:
            await self._finish(item, "ignored", "unknown or unsupported event")
            return True

        try:
            await channel.acknowledge(inbound)
        except Exception as exc:  # acknowledging is a courtesy; never lose the event over it
            log.info("acknowledge failed for %s: %s", item.event_id, type(exc).__name__)

        extra: list[Reply] = []
        stored_media: tuple[evidence.Evidence, str] | None = None
        wants_media = await self._wants_media(inbound, now)
        if wants_media and inbound.media is not None:
            fetched = await self._fetch(channel, item, inbound.media)
            if fetched is None:
                return False  # retried later; the chat's later events wait behind it
            if isinstance(fetched, Reply):
                extra.append(fetched)
            else:
                stored_media = fetched

        try:
            forgotten = await self._commit_media(item, inbound, now, stored_media, extra, wants_media)
        except ConcurrentUpdate:
            await self._retry(item, "concurrent update", timedelta(seconds=0.2))
            return False
        except StorageUnavailable:
            raise
        except Exception as exc:  # a bug or a corrupted state: apologise, restart, never loop
            # Type names only: an exception's text can quote a row (a volunteer's words, chat ids).
            log.error("event %s failed: %s", item.event_id, type(exc).__name__, exc_info=exc)
            await self._recover(item, inbound, now, type(exc).__name__)
            await self._release(channel, inbound)
            return True
        if forgotten is None:
            return True  # not ours (yet): another process has the conversation, or it is done
        await self._release(channel, inbound)
        for name in forgotten:
            self.media.delete(name)
        self._handled += 1
        metrics.EVENTS_PROCESSED.labels(item.channel, "done").inc()
        metrics.PROCESS_SECONDS.labels(item.channel).observe(time.monotonic() - started)
        self.on_commit()
        if self._broadcast_changed:
            self._broadcast_changed = False
            self.on_broadcast()
        return True

    async def _fetch(
        self, channel: Channel, item: InboxItem, media: MediaRef
    ) -> tuple[evidence.Evidence, str] | Reply | None:
        """Download, inspect and store an event's file: its evidence and stored name, or what the
        volunteer is told instead, or None when the event was set to be retried."""
        try:
            fetched = await channel.fetch_media(media)
            if len(fetched.data) > self.max_media_bytes:
                raise MediaTooLarge(str(len(fetched.data)))
            return evidence.inspect(fetched.data), self.media.put(fetched.data)
        except MediaNotReady:
            if item.attempts < 20:
                await self._retry(
                    item, "media not ready", timedelta(seconds=min(300, 10 * (item.attempts + 1)))
                )
                return None
            return Reply("media.failed")
        except MediaTooLarge:
            # the lower of ours and the platform's (Telegram's bots download at most 20 MB)
            limit = min(self.max_media_bytes, getattr(channel, "max_media_bytes", self.max_media_bytes))
            return Reply("media.too_large", {"mb": limit // (1024 * 1024)})
        except MediaGone:
            return Reply("media.failed")
        except Exception as exc:  # network trouble: try again later, keep the chat's order
            if item.attempts < 20:
                await self._retry(item, f"media fetch: {type(exc).__name__}", timedelta(seconds=30))
                return None
            return Reply("media.failed")

    async def _release(self, channel: Channel, inbound: Inbound) -> None:
        """The event is settled: a channel that holds a file's bytes itself (the web chat's
        uploads) may drop them now, kept as evidence or not."""
        release = getattr(channel, "release_media", None)
        if inbound.media is None or release is None:
            return
        try:
            await release(inbound.media)
        except Exception as exc:  # the channel's own expiry removes it later
            log.info("media of %s not released: %s", inbound.event_id, type(exc).__name__)

    async def _wants_media(self, inbound: Inbound, now: datetime) -> bool:
        """Read the conversation before any download: does it take this event's file now?"""
        if not _carries_file(inbound):
            return False
        async with self.store.transaction() as uow:
            contact = await uow.contacts.get(inbound.channel, inbound.chat_id)
            if contact is None or contact.consented_at is None:
                return False  # nothing is read of the conversation before consent
            stored, _ = await uow.conversations.load(contact.id)
        return self._takes_file(contact, State.from_dict(stored), now)

    def _takes_file(self, contact: ContactRecord | None, state: State, now: datetime) -> bool:
        """Evidence is downloaded only for a draft that takes it now; any other file is answered
        by the engine and nothing of it is fetched or stored (no consent, no draft: no file)."""
        consented = contact is not None and contact.consented_at is not None
        return consented and self.engine.takes_media(state, consented=True, now=now, draft_ttl=self.draft_ttl)

    async def _commit_media(
        self,
        item: InboxItem,
        inbound: Inbound,
        now: datetime,
        stored_media: tuple[evidence.Evidence, str] | None,
        extra: list[Reply],
        wants_media: bool,
    ) -> list[str] | None:
        """`_commit`, removing the downloaded file again when its row was certainly not written."""
        try:
            forgotten = await self._commit(item, inbound, now, stored_media, extra, wants_media)
        except StorageUnavailable:
            raise  # the commit may or may not have happened: keep the file (the row may exist)
        except Exception:
            if stored_media is not None:
                self.media.delete(stored_media[1])
            raise
        if forgotten is None and stored_media is not None:
            self.media.delete(stored_media[1])
        return forgotten

    async def _commit(
        self,
        item: InboxItem,
        inbound: Inbound,
        now: datetime,
        stored_media: tuple[evidence.Evidence, str] | None,
        extra: list[Reply],
        wants_media: bool = False,
    ) -> list[str] | None:
        """Commit the Turn; None when the row was not claimed (done, or not this process's turn).

        Returns the names of media files the turn let go, to delete once the commit holds."""
        async with self.store.transaction() as uow:
            claimed = await uow.inbox.claim(item.id)
            if claimed is None:
                return None
            contact = await self.contacts.meet(uow.contacts, inbound, now)
            stored, version = await uow.conversations.load(contact.id) if contact else ({}, 0)
            state = State.from_dict(stored)
            # Group chats and organizer commands need the staff record up front; staff actions
            # load it themselves.
            staff = (
                await uow.staff.get(inbound.channel, inbound.chat_id)
                if inbound.chat_kind == "group" or wants_staff(state, inbound)
                else None
            )
            tips = tuple(await uow.tips.of_contact(contact.id)) if contact else ()
            if _carries_file(inbound) and wants_media != self._takes_file(contact, state, now):
                # The conversation moved on between the look before the download and now.
                raise ConcurrentUpdate("conversation changed while its file was fetched")
            if stored_media is not None and inbound.media is not None:
                ev, name = stored_media
                att_id = await uow.attachments.add(
                    contact_id=contact.id if contact else None,
                    message_ref=inbound.message_id,
                    kind=ev.kind,
                    mime=ev.mime,
                    size=ev.size,
                    sha256=ev.sha256,
                    storage_name=name,
                    file_name=inbound.media.file_name or None,
                    now=now,
                )
                inbound = replace(inbound, media=replace(inbound.media, attachment_id=att_id))
            ctx = Context(
                now=now,
                today=(now + timedelta(hours=7)).date(),  # Thailand has one time zone, UTC+7
                entropy=self.entropy,
                contact=contact,
                staff=staff,
                my_tips=tips,
                regions=self.regions,
                understanding=self.understanding,
                draft_ttl=self.draft_ttl,
                default_locale=self.default_locale,
                privacy_url=self.privacy_url,
                story_pause=self.story_pause,
            )
            turn = self.engine.advance(state, inbound, ctx)
            turn.replies[:0] = extra
            work = Commit(inbound, turn, now, contact)
            for effect in turn.effects:
                await self._apply(uow, effect, work)
            alive = work.contact
            locale = alive.locale if alive else (staff.locale if staff else self.default_locale)
            if turn.replies and not inbound.standby:
                # event_at: for the event → reply latency metric (wall clock, any process)
                received = {"event_at": item.received_at.isoformat() if item.received_at else None}
                await uow.outbox.add(self._reply(inbound, locale, turn.replies, received), now)
            if alive is not None and turn.save:
                await uow.conversations.save(alive.id, turn.state.to_dict(), version, now)
            status = "done"
            await uow.inbox.finish(item.id, status, now)
        self._broadcast_changed = self._broadcast_changed or work.broadcast_changed
        return work.forgotten

    # ---- effects: one table from effect type to the desk that applies it ---------------------------
    async def _apply(self, uow: UnitOfWork, effect: Effect, work: Commit) -> None:
        apply = self._appliers.get(type(effect))
        if apply is None:
            raise TypeError(f"no desk applies {type(effect).__name__}")
        await apply(uow, effect, work)

    def _table(self) -> dict[type, Applier]:
        """Each entry only hands the effect and what it needs of the event to its desk."""
        return {
            Consent: self._consent,
            UpdateContact: self._update_contact,
            ForgetMe: self._forget_me,
            ShowMyData: self._show_my_data,
            EraseMe: self._erase_me,
            MarkUnreachable: self._mark_unreachable,
            ForgetAttachment: self._forget_attachment,
            SubmitTip: self._submit,
            RedactTip: self._redact,
            WakeLater: self._wake_later,
            JoinStaff: self._join,
            LeaveStaff: self._leave,
            StaffAction: self._staff_action,
            AnswerQuestion: self._answer,
            BroadcastCommand: self._broadcast_command,
            PreviewBroadcast: self._preview_broadcast,
            CreateBroadcast: self._create_broadcast,
            Rsvp: self._rsvp,
            AskOrganizer: self._ask_organizer,
            ShowNotices: self._show_notices,
            LinkStart: self._link,
            LinkWith: self._link,
            Unlink: self._link,
        }

    async def _wake_later(self, uow: UnitOfWork, effect: WakeLater, work: Commit) -> None:
        """A WAKE event for this chat, stored with its events in the inbox: due (and ordered
        among them) at `now + after`, so it survives a restart and never overtakes a message."""
        inbound = work.inbound
        due = work.now + effect.after
        payload = {WAKE_KEY: effect.token, "chat_id": inbound.chat_id, "chat_kind": inbound.chat_kind}
        event = InboxEvent(
            channel=inbound.channel,
            event_id=f"wake:{effect.token}",
            chat_id=inbound.chat_id,
            occurred_at=due,
            payload=payload,
            not_before=due,
        )
        await uow.inbox.add([event], work.now)

    async def _consent(self, uow: UnitOfWork, effect: Consent, work: Commit) -> None:
        work.contact = await self.contacts.consent(uow.contacts, work.contact, effect, work.now)

    async def _update_contact(self, uow: UnitOfWork, effect: UpdateContact, work: Commit) -> None:
        work.contact = await self.contacts.update(uow.contacts, work.contact, effect)

    async def _forget_me(self, uow: UnitOfWork, effect: ForgetMe, work: Commit) -> None:
        await self.contacts.forget(uow.contacts, uow.inbox, work.contact, work.inbound)
        work.contact = None

    async def _show_my_data(self, uow: UnitOfWork, effect: ShowMyData, work: Commit) -> None:
        work.turn.replies.extend(await self.rights.mydata(uow, work.contact))

    async def _erase_me(self, uow: UnitOfWork, effect: EraseMe, work: Commit) -> None:
        inbound, now = work.inbound, work.now
        locale = work.contact.locale if work.contact else self.default_locale
        replies, files = await self.rights.erase(uow, work.contact, inbound, now)
        work.turn.replies.extend(replies)
        work.forgotten.extend(files)
        work.contact = None
        guard = work.turn.state.join_guard
        if guard is not None and join_guard_live(guard, now):
            # The /join failure count outlives an erasure, as it outlives declining consent: a
            # bare, unconsented contact keeps that count and nothing else until it runs out.
            kept = await uow.contacts.create(inbound.channel, inbound.chat_id, locale, now)
            await uow.conversations.save(kept.id, State(join_guard=guard).to_dict(), 0, now)

    async def _mark_unreachable(self, uow: UnitOfWork, effect: MarkUnreachable, work: Commit) -> None:
        work.contact = await self.contacts.mark_unreachable(uow.contacts, work.contact)

    async def _forget_attachment(self, uow: UnitOfWork, effect: ForgetAttachment, work: Commit) -> None:
        name = await self.contacts.forget_attachment(uow.attachments, work.contact, effect)
        if name is not None:
            work.forgotten.append(name)

    async def _submit(self, uow: UnitOfWork, effect: SubmitTip, work: Commit) -> None:
        if work.contact is not None:
            instead = await self.tips.submit(uow, effect, work.contact, work.inbound.channel, work.now)
            if instead is not None:
                work.turn.replies[:] = [instead]

    async def _redact(self, uow: UnitOfWork, effect: RedactTip, work: Commit) -> None:
        if work.contact is not None:
            work.turn.replies.extend(await self.tips.redact(uow, effect, work.contact, work.now))

    async def _join(self, uow: UnitOfWork, effect: JoinStaff, work: Commit) -> None:
        contact, inbound = work.contact, work.inbound
        turn = work.turn
        replies, guard = await self.desk.join(
            uow,
            channel=inbound.channel,
            chat_id=inbound.chat_id,
            pseudonym=contact.id if contact else None,
            code=effect.code,
            guard=turn.state.join_guard,
            locale=contact.locale if contact else self.default_locale,
            now=work.now,
        )
        turn.replies.extend(replies)
        if guard != turn.state.join_guard:
            turn.state = replace(turn.state, join_guard=guard)
            turn.save = True  # the failure count must reach the database

    async def _leave(self, uow: UnitOfWork, effect: LeaveStaff, work: Commit) -> None:
        inbound = work.inbound
        said = inbound.kind != InboundKind.LEFT_GROUP  # removed from the group: nobody to answer
        replies = await self.desk.leave(uow, inbound.channel, inbound.chat_id, work.now, said=said)
        work.turn.replies.extend(replies)

    async def _staff_action(self, uow: UnitOfWork, effect: StaffAction, work: Commit) -> None:
        desk_chat = await uow.staff.get(work.inbound.channel, work.inbound.chat_id)
        work.turn.replies.extend(await self.desk.handle(uow, desk_chat, effect, work.now))

    async def _answer(self, uow: UnitOfWork, effect: AnswerQuestion, work: Commit) -> None:
        work.turn.replies.extend(await self.desk.answer(uow, effect, work.now))

    async def _broadcast_command(self, uow: UnitOfWork, effect: BroadcastCommand, work: Commit) -> None:
        organizer = await uow.staff.get(work.inbound.channel, work.inbound.chat_id)
        work.turn.replies.extend(await self.broadcasts.handle(uow, organizer, effect, work.now))
        work.broadcast_changed = True

    async def _preview_broadcast(self, uow: UnitOfWork, effect: PreviewBroadcast, work: Commit) -> None:
        organizer = await uow.staff.get(work.inbound.channel, work.inbound.chat_id)
        work.turn.replies.extend(await self.broadcasts.preview(uow, organizer, effect, work.now))
        work.broadcast_changed = True

    async def _create_broadcast(self, uow: UnitOfWork, effect: CreateBroadcast, work: Commit) -> None:
        organizer = await uow.staff.get(work.inbound.channel, work.inbound.chat_id)
        work.turn.replies.extend(await self.broadcasts.create(uow, organizer, effect, work.now))
        work.broadcast_changed = True

    async def _rsvp(self, uow: UnitOfWork, effect: Rsvp, work: Commit) -> None:
        work.turn.replies.extend(await self.broadcasts.rsvp(uow, work.contact, effect, work.now))

    async def _ask_organizer(self, uow: UnitOfWork, effect: AskOrganizer, work: Commit) -> None:
        work.turn.replies.extend(await self.broadcasts.question(uow, work.contact, effect, work.now))

    async def _show_notices(self, uow: UnitOfWork, effect: ShowNotices, work: Commit) -> None:
        work.turn.replies.extend(await self.broadcasts.notices(uow, work.contact))

    async def _link(self, uow: UnitOfWork, effect: LinkEffect, work: Commit) -> None:
        work.turn.replies.extend(await self.links.apply(uow, work.contact, effect, work.now))

    def _reply(
        self, inbound: Inbound, locale: str, replies: list[Reply], extra: dict[str, str | None] | None = None
    ) -> OutboxItem:
        """The answer to an event, on its reply token while that lasts."""
        return OutboxItem.of(
            inbound.channel,
            inbound.chat_id,
            locale,
            replies,
            kind="reply",
            key=str(uuid.UUID(bytes=self.entropy(16), version=4)),
            extra=extra,
            reply_token=inbound.reply_token,
            reply_token_expires=inbound.reply_token_expires,
        )

    # ---- failure paths -------------------------------------------------------------------------
    async def _finish(self, item: InboxItem, status: str, error: str | None) -> None:
        async with self.store.transaction() as uow:
            await uow.inbox.finish(item.id, status, self.clock(), error)
        self._handled += 1
        metrics.EVENTS_PROCESSED.labels(item.channel, status).inc()

    async def _retry(self, item: InboxItem, error: str, delay: timedelta) -> None:
        async with self.store.transaction() as uow:
            await uow.inbox.retry_later(item.id, error, self.clock() + delay)
        metrics.EVENTS_PROCESSED.labels(item.channel, "retry").inc()

    async def _recover(self, item: InboxItem, inbound: Inbound, now: datetime, reason: str) -> None:
        """Restart the conversation with an apology and mark the row failed, in one transaction."""
        try:
            async with self.store.transaction() as uow:
                contact = await uow.contacts.get(inbound.channel, inbound.chat_id)
                if contact is not None:
                    _, version = await uow.conversations.load(contact.id)
                    with contextlib.suppress(ConcurrentUpdate):
                        await uow.conversations.save(contact.id, {"flow": "menu"}, version, now)
                if inbound.chat_kind == "private" and not inbound.standby:
                    locale = contact.locale if contact else self.default_locale
                    sorry = self._reply(inbound, locale, [Reply("common.sorry_restart")])
                    await uow.outbox.add(sorry, now)
                await uow.inbox.finish(item.id, "failed", now, reason)
            self._handled += 1
            metrics.EVENTS_PROCESSED.labels(item.channel, "failed").inc()
        except StorageUnavailable:
            raise
        except Exception as exc:  # even recovery failed: mark failed alone so we never loop
            log.error("recovery failed for %s: %s", item.event_id, type(exc).__name__, exc_info=exc)
            await self._finish(item, "failed", reason)
        self.on_commit()
