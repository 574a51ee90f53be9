"""Small protocols through which the core talks to channels and storage.

The core depends on these shapes only; `bot/app.py` wires real implementations in.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from bot.core.model import (
    Address,
    AudienceMember,
    BroadcastRecord,
    ChatAddress,
    ContactRecord,
    FetchedMedia,
    Inbound,
    InboxEvent,
    InboxItem,
    MediaRef,
    Outbound,
    OutboxItem,
    Recipient,
    SendResult,
    StaffChatRecord,
    TipDetail,
    TipRecord,
    TipSummary,
)


class Ingest(Protocol):
    """Durably records webhook events (one transaction) and wakes the dispatcher.

    Returns how many events were new. Raises `StorageUnavailable` when the database
    cannot take them: the webhook must then answer 503 so the platform redelivers.
    Raises `EventRejected` when the database refused some of this request's events for what
    they contain (the request's other events are stored): answer 4xx, a retry cannot help.
    """

    async def __call__(self, events: Sequence[InboxEvent]) -> int: ...


class StorageUnavailable(Exception):
    """The database could not be reached or stayed locked."""


class EventRejected(Exception):
    """The database refused an event for its content; carries the error's type name only."""


class Channel(Protocol):
    """A chat platform as the dispatcher and relay see it.

    `to_inbound` maps one stored payload (what the webhook put in the inbox) to an
    Inbound, or None when the event means nothing to the engine (stored as ignored).
    """

    name: str

    def to_inbound(self, event_id: str, payload: Mapping[str, Any]) -> Inbound | None: ...

    async def acknowledge(self, inbound: Inbound) -> None:
        """Tell the platform we have the event (answer a Telegram callback query); may be a no-op."""
        ...

    async def fetch_media(self, media: MediaRef) -> FetchedMedia: ...

    async def send(
        self,
        address: Address,
        messages: Sequence[Outbound],
        *,
        reply_token: str | None,
        retry_key: str,
        attachments: Mapping[int, bytes] | None = None,
    ) -> SendResult: ...


class KeyValueStore(Protocol):
    """Small durable settings the adapters keep (e.g. the Telegram polling offset)."""

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str) -> None: ...


class DuplicateTip(Exception):
    """A tip for this draft is already stored (a double-tapped confirm)."""


class ConcurrentUpdate(Exception):
    """The conversation changed under us (optimistic version check failed)."""


#: the fields of a submitted tip a volunteer can take back by unsending their message
Redactable = Literal["narrative", "agency", "official", "contact_how"]


class InboxRepo(Protocol):
    """Webhook events waiting for the dispatcher."""

    async def pending(
        self,
        limit: int,
        now: datetime,
        channels: Collection[str] | None = None,
        *,
        per_chat: int | None = None,
        reply_first: Mapping[str, timedelta] | None = None,
    ) -> list[tuple[InboxItem, str]]:
        """Due pending rows with their chat key: at most `per_chat` per conversation, chats
        interleaved, chats with an event of a `reply_first` channel younger than its window
        first; each chat's rows in arrival order."""
        ...

    async def claim(self, item_id: int) -> InboxItem | None:
        """The row locked for this transaction (without its payload, which `pending` gave), or
        None when it is done, another worker has its conversation, or an earlier event of its
        chat is still pending."""
        ...

    async def finish(self, item_id: int, status: str, now: datetime, error: str | None = None) -> None: ...
    async def retry_later(self, item_id: int, error: str, next_at: datetime) -> None: ...
    async def forget_payloads(self, channel: str, chat_id: str) -> None: ...
    async def counts(self) -> dict[str, int]: ...
    async def purge(
        self, payloads_before: datetime, rows_before: datetime, limit: int = 2000
    ) -> tuple[int, int]:
        """Clear payloads / delete rows of processed events finished before the given times;
        returns (payloads cleared, rows deleted), at most `limit` of each."""
        ...


class ContactsRepo(Protocol):
    """The chats that talk to the bot: consent, settings, reachability, linked chats."""

    async def get(self, channel: str, chat_id: str) -> ContactRecord | None: ...
    async def create(self, channel: str, chat_id: str, locale: str, now: datetime) -> ContactRecord: ...
    async def delete(self, contact_id: int) -> None:
        """The contact and its conversation."""
        ...

    async def address(self, contact_id: int) -> ChatAddress | None: ...
    async def seen(self, contact_id: int, now: datetime) -> None: ...
    async def consent(self, contact_id: int, version: str, now: datetime) -> None: ...
    async def set_locale(self, contact_id: int, locale: str) -> None: ...
    async def set_home_province(self, contact_id: int, province: str | None) -> None: ...
    async def set_opted_out(self, contact_id: int, opted_out: bool) -> None: ...
    async def set_reachable(self, channel: str, chat_id: str, reachable: bool) -> None: ...
    async def mark_unreachable(self, contact_id: int) -> None: ...
    async def mark_unfollowed(self, contact_id: int) -> None:
        """Unreachable, and opted out of notices until the volunteer asks again."""
        ...

    async def link(self, first: int, second: int, new_key: str) -> bool: ...
    async def unlink(self, contact_id: int) -> None: ...


class ConversationsRepo(Protocol):
    """Conversation state per contact, with an optimistic version."""

    async def load(self, contact_id: int) -> tuple[dict[str, Any], int]: ...
    async def save(self, contact_id: int, state: dict[str, Any], version: int, now: datetime) -> None:
        """Raises `ConcurrentUpdate` when the version moved on meanwhile."""
        ...


class TipsRepo(Protocol):
    """Submitted tips and their audit events."""

    async def add(
        self, tip: TipRecord, *, contact_id: int, channel: str, draft_id: str, now: datetime
    ) -> int:
        """Raises `DuplicateTip` when this draft is stored already."""
        ...

    async def get(self, case_code: str) -> TipDetail | None: ...
    async def of_contact(self, contact_id: int) -> list[TipSummary]: ...
    async def open(self, region: str | None, limit: int) -> list[TipDetail]: ...
    async def unacknowledged(self, created_before: datetime) -> list[TipDetail]: ...
    async def region_counts(
        self, region: str, since: datetime, overdue_before: datetime
    ) -> dict[str, int]: ...
    async def set_status(
        self,
        tip_id: int,
        status: str,
        detail: str | None,
        now: datetime,
        *,
        acknowledged_by: int | None = None,
    ) -> None: ...
    async def reassign(self, tip_id: int, region: str, now: datetime) -> None: ...
    async def mark_reminded(self, tip_id: int, now: datetime) -> None: ...
    async def mark_escalated(self, tip_id: int, now: datetime) -> None: ...
    async def redact(self, tip_id: int, field: Redactable, now: datetime) -> None: ...
    async def add_event(
        self,
        tip_id: int | None,
        *,
        actor: str,
        action: str,
        at: datetime,
        from_status: str | None = None,
        to_status: str | None = None,
        note: str | None = None,
    ) -> None: ...


class AttachmentsRepo(Protocol):
    """Evidence files: kept for a contact while the draft is open, linked to the tip on submit."""

    async def add(
        self,
        *,
        contact_id: int | None,
        message_ref: str | None,
        kind: str,
        mime: str,
        size: int,
        sha256: str,
        storage_name: str,
        file_name: str | None,
        now: datetime,
    ) -> int: ...
    async def link(self, attachment_ids: Sequence[int], tip_id: int) -> None: ...
    async def forget(self, contact_id: int, message_ref: str) -> tuple[int, str] | None: ...
    async def of_tip(self, tip_id: int) -> list[tuple[int, str]]: ...
    async def file(self, attachment_id: int) -> tuple[str, str] | None: ...
    async def unlinked(self, before: datetime, limit: int) -> list[tuple[int, int | None]]: ...
    async def delete_unlinked(self, attachment_ids: Sequence[int]) -> list[str]: ...


class StaffRepo(Protocol):
    """Staff chats of each region, and the invite codes that register them."""

    async def for_region(self, region: str) -> list[StaffChatRecord]: ...
    async def get(self, channel: str, chat_id: str) -> StaffChatRecord | None: ...
    async def by_id(self, staff_id: int) -> StaffChatRecord | None: ...
    async def chats(self, region: str | None = None) -> list[StaffChatRecord]: ...
    async def regions(self) -> list[str]: ...
    async def join(
        self, channel: str, chat_id: str, region: str, role: str, locale: str, now: datetime
    ) -> StaffChatRecord: ...
    async def deactivate(self, staff_id: int, now: datetime) -> None: ...
    async def migrate(self, channel: str, old_chat_id: str, new_chat_id: str) -> None: ...
    async def create_invite(
        self, code: str, region: str, role: str, expires_at: datetime, now: datetime
    ) -> None: ...
    async def redeem_invite(self, code: str, now: datetime) -> tuple[int, str, str] | None: ...
    async def mark_invite_used(self, invite_id: int, staff_id: int) -> None: ...


class OutboxRepo(Protocol):
    """Messages promised to a chat, leased to one relay at a time."""

    async def add(self, item: OutboxItem, now: datetime) -> None: ...
    async def due(
        self, now: datetime, limit: int, scope: Sequence[tuple[str, str | None]], holder: str | None = None
    ) -> list[OutboxItem]:
        """Due rows, leased to `holder` (a process incarnation) so no other relay sends them
        while it lives."""
        ...

    async def start(self, item_ids: Sequence[int], holder: str, now: datetime) -> set[int]:
        """Mark leased rows as being sent; returns the ones still leased to `holder`."""
        ...

    async def settle(
        self,
        item_id: int,
        *,
        status: str,
        attempts: int,
        now: datetime,
        next_attempt_at: datetime | None = None,
        error: str | None = None,
        possible_duplicate: bool = False,
    ) -> None: ...
    async def retarget(self, item_id: int, chat_id: str) -> None: ...
    async def release(
        self,
        item_ids: Sequence[int],
        now: datetime | None,
        *,
        holder: str | None = None,
        behind: int | None = None,
    ) -> None:
        """Leased rows that were not attempted: freed, due at `now`, or together with row `behind`."""
        ...


class BroadcastsRepo(Protocol):
    """Workshop notices, their recipients, RSVPs and questions."""

    async def add(self, bc: BroadcastRecord, now: datetime) -> int: ...
    async def get(self, bc_id: int) -> BroadcastRecord | None: ...
    async def recent(self, limit: int = 20) -> list[BroadcastRecord]: ...
    async def start(self, bc_id: int, recipients: int, now: datetime) -> bool:
        """Scheduled → sending; False when it was no longer scheduled."""
        ...

    async def finish(self, bc_id: int, now: datetime) -> bool:
        """Sending → done; False when it was not sending."""
        ...

    async def mark_reminded(self, bc_id: int, now: datetime) -> bool:
        """False when it was reminded already (once across processes)."""
        ...

    async def cancel(self, bc_id: int, now: datetime) -> bool: ...
    async def due(self, now: datetime) -> list[BroadcastRecord]:
        """Scheduled broadcasts whose time has come, locked for the caller (once across processes)."""
        ...

    async def in_status(self, status: str) -> list[BroadcastRecord]: ...
    async def to_remind(self, until: datetime, now: datetime) -> list[BroadcastRecord]: ...
    async def audience(self, provinces: Collection[str] | None) -> list[AudienceMember]: ...
    async def add_recipients(self, bc_id: int, members: Sequence[AudienceMember], now: datetime) -> int: ...
    async def claim_recipients(
        self,
        bc_id: int,
        channel: str,
        now: datetime,
        *,
        lease: timedelta,
        limit: int = 1,
        batch_key: str | None = None,
        holder: str | None = None,
    ) -> tuple[str | None, list[Recipient]]: ...
    async def settle_recipients(
        self,
        ids: Sequence[int],
        *,
        status: str,
        now: datetime,
        next_attempt_at: datetime | None = None,
        error: str | None = None,
        possible_duplicate: bool = False,
    ) -> None: ...
    async def totals(self, bc_id: int) -> dict[str, int]: ...
    async def set_rsvp(
        self, bc_id: int, contact_id: int, answer: str, now: datetime
    ) -> BroadcastRecord | None: ...
    async def add_question(
        self, bc_id: int, contact_id: int, text: str, now: datetime
    ) -> BroadcastRecord | None: ...
    async def accepted(self, bc_id: int) -> list[tuple[int, ChatAddress]]: ...
    async def questions(self, bc_id: int) -> list[str]: ...
    async def of_contact(self, contact_id: int, limit: int = 3) -> list[BroadcastRecord]: ...
    async def line_usage(self, since: datetime) -> int: ...


class ProcessesRepo(Protocol):
    """Heartbeats of process incarnations, and the leases they hold."""

    async def register(
        self, incarnation: str, *, instance: str, role: str, host: str, pid: int, now: datetime
    ) -> list[tuple[str, str, int]]: ...
    async def beat(self, incarnation: str, now: datetime) -> bool: ...
    async def silent(self, before: datetime) -> list[str]: ...
    async def stop(
        self,
        incarnations: Sequence[str],
        now: datetime,
        reason: str,
        *,
        silent_before: datetime | None = None,
    ) -> list[str]: ...
    async def free_leases(self, now: datetime) -> tuple[int, int]: ...
    async def forget(self, stopped_before: datetime) -> int: ...


class KeyValueRepo(Protocol):
    """Small durable values."""

    async def get(self, key: str) -> str | None: ...
    async def set(self, key: str, value: str) -> None: ...


class UnitOfWork(Protocol):
    """One transaction, one repository per area. Plain chat ids go in; storage hashes them."""

    @property
    def inbox(self) -> InboxRepo: ...
    @property
    def contacts(self) -> ContactsRepo: ...
    @property
    def conversations(self) -> ConversationsRepo: ...
    @property
    def tips(self) -> TipsRepo: ...
    @property
    def attachments(self) -> AttachmentsRepo: ...
    @property
    def staff(self) -> StaffRepo: ...
    @property
    def outbox(self) -> OutboxRepo: ...
    @property
    def broadcasts(self) -> BroadcastsRepo: ...
    @property
    def processes(self) -> ProcessesRepo: ...
    @property
    def kv(self) -> KeyValueRepo: ...

    async def try_lock(self, name: str) -> bool:
        """Hold a named lock until the transaction ends; False when another process holds it."""
        ...


class Store(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[UnitOfWork]: ...

    async def ping(self) -> bool: ...

    async def reclaim_space(self) -> None:
        """Return space freed by purges to the file system where the database needs asking."""
        ...


class MediaStore(Protocol):
    """Encrypted evidence bytes on disk under random names."""

    def put(self, data: bytes) -> str: ...

    def get(self, name: str) -> bytes: ...

    def delete(self, name: str) -> None: ...
