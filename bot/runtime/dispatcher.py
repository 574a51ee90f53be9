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
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
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
    ForgetAttachment,
    ForgetMe,
    JoinStaff,
    LeaveStaff,
    LinkStart,
    LinkWith,
    MarkUnreachable,
    PreviewBroadcast,
    RedactTip,
    Rsvp,
    ShowNotices,
    StaffAction,
    SubmitTip,
    Unlink,
    UpdateContact,
)
from bot.core.engine import Context, Engine, Turn
from bot.core.forms import Understanding
from bot.core.model import (
    ContactRecord,
    Inbound,
    InboundKind,
    InboxItem,
    MediaGone,
    MediaNotReady,
    MediaTooLarge,
    OutboxItem,
    Reply,
)
from bot.core.ports import (
    Channel,
    ConcurrentUpdate,
    ContactsRepo,
    MediaStore,
    StorageUnavailable,
    Store,
    UnitOfWork,
)
from bot.core.routing import RegionTable
from bot.core.state import State
from bot.runtime.broadcast import BroadcastDesk
from bot.runtime.link import LinkDesk
from bot.runtime.staff import StaffDesk
from bot.runtime.tip import TipDesk
from bot.runtime.worker import work_loop

log = logging.getLogger("tipbot.dispatcher")

#: the version of the privacy notice a volunteer accepts today
CONSENT_VERSION = "1"
#: the tip field each redactable form field fills (see `bot.core.engine.REDACTABLE`)
#: how stale a contact's last-seen time may get before an event refreshes it (one write per hour)
SEEN_EVERY = timedelta(hours=1)


def utcnow() -> datetime:
    return datetime.now(UTC)


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
    ) -> None:
        self.store = store
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
        self.links = links or LinkDesk(entropy=entropy)
        self.on_broadcast = on_broadcast
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()
        self._sem = asyncio.Semaphore(concurrency)
        self._handled = 0
        self._broadcast_changed = False

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
            inbound = channel.to_inbound(item.event_id, item.payload)
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
        # Evidence is downloaded only for a draft that takes it now; any other file is answered
        # by the engine and nothing of it is fetched or stored (no consent, no draft: no file).
        wants_media = (
            inbound.kind == InboundKind.MEDIA
            and inbound.media is not None
            and inbound.chat_kind == "private"
            and not inbound.standby
            and await self._wants_media(inbound, now)
        )
        if wants_media and inbound.media is not None:
            try:
                fetched = await channel.fetch_media(inbound.media)
                if len(fetched.data) > self.max_media_bytes:
                    raise MediaTooLarge(str(len(fetched.data)))
                ev = evidence.inspect(fetched.data)
                stored_media = (ev, self.media.put(fetched.data))
            except MediaNotReady:
                if item.attempts < 20:
                    await self._retry(
                        item, "media not ready", timedelta(seconds=min(300, 10 * (item.attempts + 1)))
                    )
                    return False
                extra.append(Reply("media.failed"))
            except MediaTooLarge:
                # the lower of ours and the platform's (Telegram's bots download at most 20 MB)
                limit = min(self.max_media_bytes, getattr(channel, "max_media_bytes", self.max_media_bytes))
                extra.append(Reply("media.too_large", {"mb": limit // (1024 * 1024)}))
            except MediaGone:
                extra.append(Reply("media.failed"))
            except Exception as exc:  # network trouble: try again later, keep the chat's order
                if item.attempts < 20:
                    await self._retry(item, f"media fetch: {type(exc).__name__}", timedelta(seconds=30))
                    return False
                extra.append(Reply("media.failed"))

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
            return True
        if forgotten is None:
            return True  # not ours (yet): another process has the conversation, or it is done
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

    async def _wants_media(self, inbound: Inbound, now: datetime) -> bool:
        """Read the conversation before any download: does it take a file now?"""
        async with self.store.transaction() as uow:
            contact = await uow.contacts.get(inbound.channel, inbound.chat_id)
            if contact is None or contact.consented_at is None:
                return False
            stored, _ = await uow.conversations.load(contact.id)
        return self.engine.takes_media(
            State.from_dict(stored), consented=True, now=now, draft_ttl=self.draft_ttl
        )

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
        """Commit the Turn; None when the row was not claimed (done, or not this process's turn)."""
        forgotten: list[str] = []
        async with self.store.transaction() as uow:
            claimed = await uow.inbox.claim(item.id)
            if claimed is None:
                return None
            contact = await uow.contacts.get(inbound.channel, inbound.chat_id)
            if contact is None and inbound.kind not in (InboundKind.UNFOLLOW, InboundKind.LEFT_GROUP):
                locale = inbound.locale_hint if inbound.locale_hint in ("th", "en") else self.default_locale
                contact = await uow.contacts.create(inbound.channel, inbound.chat_id, locale, now)
            elif contact is not None and (
                contact.last_seen_at is None or now - contact.last_seen_at > SEEN_EVERY
            ):
                await uow.contacts.seen(contact.id, now)
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
            if (
                inbound.kind == InboundKind.MEDIA
                and inbound.media is not None
                and inbound.chat_kind == "private"
                and not inbound.standby
                and wants_media
                != (
                    contact is not None
                    and contact.consented_at is not None
                    and self.engine.takes_media(state, consented=True, now=now, draft_ttl=self.draft_ttl)
                )
            ):
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
            )
            turn = self.engine.advance(state, inbound, ctx)
            turn.replies[:0] = extra
            alive = contact
            for effect in turn.effects:
                alive = await self._apply(uow, effect, inbound, alive, turn, now, forgotten)
            locale = alive.locale if alive else (staff.locale if staff else self.default_locale)
            if turn.replies and not inbound.standby:
                # event_at: for the event → reply latency metric (wall clock, any process)
                received = {"event_at": item.received_at.isoformat() if item.received_at else None}
                await uow.outbox.add(self._reply(inbound, locale, turn.replies, received), now)
            if alive is not None and turn.save:
                await uow.conversations.save(alive.id, turn.state.to_dict(), version, now)
            status = "done"
            await uow.inbox.finish(item.id, status, now)
        return forgotten

    async def _apply(
        self,
        uow: UnitOfWork,
        effect: object,
        inbound: Inbound,
        contact: ContactRecord | None,
        turn: Turn,
        now: datetime,
        forgotten: list[str],
    ) -> ContactRecord | None:
        if isinstance(effect, Consent) and contact is not None:
            if effect.accepted:
                await uow.contacts.consent(contact.id, CONSENT_VERSION, now)
                contact = replace(contact, consented_at=now)
        elif isinstance(effect, UpdateContact) and contact is not None:
            contact = await _update_contact(uow.contacts, contact, effect.fields)
        elif isinstance(effect, ForgetMe):
            if contact is not None:
                await uow.contacts.delete(contact.id)
            await uow.inbox.forget_payloads(inbound.channel, inbound.chat_id)
            return None
        elif isinstance(effect, MarkUnreachable) and contact is not None:
            await uow.contacts.mark_unfollowed(contact.id)
        elif isinstance(effect, SubmitTip) and contact is not None:
            await self._submit(uow, effect, inbound, contact, turn, now)
        elif isinstance(effect, JoinStaff):
            replies, guard = await self.desk.join(
                uow,
                channel=inbound.channel,
                chat_id=inbound.chat_id,
                pseudonym=contact.id if contact else None,
                code=effect.code,
                guard=turn.state.join_guard,
                locale=contact.locale if contact else self.default_locale,
                now=now,
            )
            turn.replies.extend(replies)
            if guard != turn.state.join_guard:
                turn.state = replace(turn.state, join_guard=guard)
                turn.save = True  # the failure count must reach the database
        elif isinstance(effect, LeaveStaff):
            said = inbound.kind != InboundKind.LEFT_GROUP
            turn.replies.extend(await self.desk.leave(uow, inbound.channel, inbound.chat_id, now, said=said))
        elif isinstance(effect, StaffAction):
            desk_chat = await uow.staff.get(inbound.channel, inbound.chat_id)
            turn.replies.extend(await self.desk.handle(uow, desk_chat, effect, now))
        elif isinstance(effect, AnswerQuestion):
            turn.replies.extend(await self.desk.answer(uow, effect, now))
        elif isinstance(effect, RedactTip) and contact is not None:
            turn.replies.extend(await self.tips.redact(uow, effect, contact, now))
        elif isinstance(effect, BroadcastCommand | PreviewBroadcast | CreateBroadcast):
            organizer = await uow.staff.get(inbound.channel, inbound.chat_id)
            if isinstance(effect, BroadcastCommand):
                turn.replies.extend(await self.broadcasts.handle(uow, organizer, effect, now))
            elif isinstance(effect, PreviewBroadcast):
                turn.replies.extend(await self.broadcasts.preview(uow, organizer, effect, now))
            else:
                turn.replies.extend(await self.broadcasts.create(uow, organizer, effect, now))
            self._broadcast_changed = True
        elif isinstance(effect, Rsvp):
            turn.replies.extend(await self.broadcasts.rsvp(uow, contact, effect, now))
        elif isinstance(effect, AskOrganizer):
            turn.replies.extend(await self.broadcasts.question(uow, contact, effect, now))
        elif isinstance(effect, ShowNotices):
            turn.replies.extend(await self.broadcasts.notices(uow, contact))
        elif isinstance(effect, LinkStart | LinkWith | Unlink):
            turn.replies.extend(await self.links.apply(uow, contact, effect, now))
        elif isinstance(effect, ForgetAttachment) and contact is not None:
            gone = await uow.attachments.forget(contact.id, effect.message_ref)
            if gone is not None:
                forgotten.append(gone[1])
        return contact

    async def _submit(
        self,
        uow: UnitOfWork,
        effect: SubmitTip,
        inbound: Inbound,
        contact: ContactRecord,
        turn: Turn,
        now: datetime,
    ) -> None:
        if not await self.tips.submit(uow, effect, contact, inbound.channel, now):
            turn.replies[:] = [Reply("report.already_sent_plain")]

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


async def _update_contact(
    contacts: ContactsRepo, contact: ContactRecord, fields: Mapping[str, Any]
) -> ContactRecord:
    """A volunteer's own settings, as the engine asked; other fields are not the engine's to set."""
    if isinstance(locale := fields.get("locale"), str):
        await contacts.set_locale(contact.id, locale)
        contact = replace(contact, locale=locale)
    if "home_province" in fields:
        province = fields["home_province"]
        await contacts.set_home_province(contact.id, province)
        contact = replace(contact, home_province=province)
    if "opted_out" in fields:
        opted_out = bool(fields["opted_out"])
        await contacts.set_opted_out(contact.id, opted_out)
        contact = replace(contact, opted_out=opted_out)
    return contact
