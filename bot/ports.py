"""Small protocols through which the core talks to channels and storage.

The core depends on these shapes only; `bot/app.py` wires real implementations in.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.model import (
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


class UnitOfWork(Protocol):
    """Everything one transaction may read or write. Plain chat ids go in; storage hashes them."""

    async def try_lock(self, name: str) -> bool:
        """Hold a named lock until the transaction ends; False when another process holds it."""
        ...

    # inbox
    async def inbox_pending(
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

    async def inbox_claim(self, item_id: int) -> InboxItem | None:
        """The row locked for this transaction, or None when it is done, another worker has its
        conversation, or an earlier event of its chat is still pending."""
        ...

    async def inbox_finish(
        self, item_id: int, status: str, now: datetime, error: str | None = None
    ) -> None: ...
    async def inbox_retry_later(self, item_id: int, error: str, next_at: datetime) -> None: ...
    async def inbox_forget_payloads(self, channel: str, chat_id: str) -> None: ...
    async def inbox_counts(self) -> dict[str, int]: ...
    async def inbox_purge(
        self, payloads_before: datetime, rows_before: datetime, limit: int = 2000
    ) -> tuple[int, int]:
        """Clear payloads / delete rows of processed events finished before the given times;
        returns (payloads cleared, rows deleted), at most `limit` of each."""
        ...

    # contacts and conversations
    async def contact_get(self, channel: str, chat_id: str) -> ContactRecord | None: ...
    async def contact_create(
        self, channel: str, chat_id: str, locale: str, now: datetime
    ) -> ContactRecord: ...
    async def contact_update(self, contact_id: int, **fields: Any) -> None: ...
    async def contact_delete(self, contact_id: int) -> None: ...
    async def contacts_link(self, first: int, second: int, new_key: str) -> bool: ...
    async def contact_set_reachable(self, channel: str, chat_id: str, reachable: bool) -> None: ...
    async def conversation_load(self, contact_id: int) -> tuple[dict[str, Any], int]: ...
    async def conversation_save(
        self, contact_id: int, state: dict[str, Any], version: int, now: datetime
    ) -> None: ...

    # tips
    async def tip_add(
        self, tip: TipRecord, *, contact_id: int, channel: str, draft_id: str, now: datetime
    ) -> int: ...
    async def tips_of_contact(self, contact_id: int) -> list[TipSummary]: ...
    async def tip_get(self, case_code: str) -> TipDetail | None: ...
    async def tip_update(self, tip_id: int, **fields: Any) -> None: ...
    async def tips_open(self, region: str | None, limit: int) -> list[TipDetail]: ...
    async def tips_unacknowledged(self, created_before: datetime) -> list[TipDetail]: ...
    async def region_counts(
        self, region: str, since: datetime, overdue_before: datetime
    ) -> dict[str, int]: ...
    async def contact_address(self, contact_id: int) -> ChatAddress | None: ...
    async def tip_event_add(
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

    # evidence
    async def attachment_add(
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
    async def attachments_link(self, attachment_ids: Sequence[int], tip_id: int) -> None: ...
    async def attachment_forget(self, contact_id: int, message_ref: str) -> tuple[int, str] | None: ...
    async def attachments_of(self, tip_id: int) -> list[tuple[int, str]]: ...
    async def attachment_file(self, attachment_id: int) -> tuple[str, str] | None: ...
    async def attachments_unlinked(self, before: datetime, limit: int) -> list[tuple[int, int | None]]: ...
    async def attachments_delete_unlinked(self, attachment_ids: Sequence[int]) -> list[str]: ...

    # staff
    async def staff_for_region(self, region: str) -> list[StaffChatRecord]: ...
    async def staff_get(self, channel: str, chat_id: str) -> StaffChatRecord | None: ...
    async def staff_join(
        self, channel: str, chat_id: str, region: str, role: str, locale: str, now: datetime
    ) -> StaffChatRecord: ...
    async def staff_deactivate(self, staff_id: int, now: datetime) -> None: ...
    async def staff_by_id(self, staff_id: int) -> StaffChatRecord | None: ...
    async def staff_migrate(self, channel: str, old_chat_id: str, new_chat_id: str) -> None: ...
    async def staff_regions(self) -> list[str]: ...
    async def invite_redeem(self, code: str, now: datetime) -> tuple[int, str, str] | None: ...
    async def invite_mark_used(self, invite_id: int, staff_id: int) -> None: ...

    # outbox
    async def outbox_add(self, item: OutboxItem, now: datetime) -> None: ...
    async def outbox_due(
        self, now: datetime, limit: int, scope: Sequence[tuple[str, str | None]], holder: str | None = None
    ) -> list[OutboxItem]:
        """Due rows, leased to `holder` (a process incarnation) so no other relay sends them
        while it lives."""
        ...

    async def outbox_start(self, item_ids: Sequence[int], holder: str, now: datetime) -> set[int]:
        """Mark leased rows as being sent; returns the ones still leased to `holder`."""
        ...

    async def outbox_settle(
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
    async def outbox_retarget(self, item_id: int, chat_id: str) -> None: ...
    async def outbox_release(
        self,
        item_ids: Sequence[int],
        now: datetime | None,
        *,
        holder: str | None = None,
        behind: int | None = None,
    ) -> None:
        """Leased rows that were not attempted: freed, due at `now`, or together with row `behind`."""
        ...

    # broadcasts
    async def broadcast_add(self, bc: BroadcastRecord, now: datetime) -> int: ...
    async def broadcast_get(self, bc_id: int) -> BroadcastRecord | None: ...
    async def broadcast_list(self, limit: int = 20) -> list[BroadcastRecord]: ...
    async def broadcast_transition(
        self, bc_id: int, from_status: Collection[str], *, unless_set: str | None = None, **fields: Any
    ) -> bool: ...
    async def broadcasts_due(self, now: datetime) -> list[BroadcastRecord]:
        """Scheduled broadcasts whose time has come, locked for the caller (once across processes)."""
        ...

    async def broadcasts_in(self, status: str) -> list[BroadcastRecord]: ...
    async def broadcasts_to_remind(self, until: datetime, now: datetime) -> list[BroadcastRecord]: ...
    async def audience(self, provinces: Collection[str] | None) -> list[AudienceMember]: ...
    async def recipients_add(self, bc_id: int, members: Sequence[AudienceMember], now: datetime) -> int: ...
    async def recipients_claim(
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
    async def recipients_settle(
        self,
        ids: Sequence[int],
        *,
        status: str,
        now: datetime,
        next_attempt_at: datetime | None = None,
        error: str | None = None,
        possible_duplicate: bool = False,
    ) -> None: ...
    async def broadcast_totals(self, bc_id: int) -> dict[str, int]: ...
    async def broadcast_cancel(self, bc_id: int, now: datetime) -> bool: ...
    async def rsvp_set(
        self, bc_id: int, contact_id: int, answer: str, now: datetime
    ) -> BroadcastRecord | None: ...
    async def rsvp_question(
        self, bc_id: int, contact_id: int, text: str, now: datetime
    ) -> BroadcastRecord | None: ...
    async def rsvp_accepted(self, bc_id: int) -> list[tuple[int, ChatAddress]]: ...
    async def broadcast_questions(self, bc_id: int) -> list[str]: ...
    async def notices_of_contact(self, contact_id: int, limit: int = 3) -> list[BroadcastRecord]: ...
    async def line_usage(self, since: datetime) -> int: ...

    # processes: heartbeats of process incarnations, and the leases they hold
    async def process_register(
        self, incarnation: str, *, instance: str, role: str, host: str, pid: int, now: datetime
    ) -> list[tuple[str, str, int]]: ...
    async def process_beat(self, incarnation: str, now: datetime) -> bool: ...
    async def processes_silent(self, before: datetime) -> list[str]: ...
    async def processes_stop(
        self,
        incarnations: Sequence[str],
        now: datetime,
        reason: str,
        *,
        silent_before: datetime | None = None,
    ) -> list[str]: ...
    async def leases_free(self, now: datetime) -> tuple[int, int]: ...
    async def processes_forget(self, stopped_before: datetime) -> int: ...

    # small durable values
    async def kv_get(self, key: str) -> str | None: ...
    async def kv_set(self, key: str, value: str) -> None: ...


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
