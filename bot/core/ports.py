"""Small protocols through which the core talks to channels and storage.

The core depends on these shapes only; `bot/app.py` wires real implementations in.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from bot.core.audit import AuditCheck, AuditEntry
from bot.core.desk import (
    DeskFilter,
    DeskPage,
    DeskRow,
    DeskSessionRecord,
    Officer,
    Overview,
    TimelineEntry,
)
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
    TipLinkRecord,
    TipRecord,
    TipSummary,
    WebChatEntry,
)
from bot.core.related import Candidate


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

    async def add(self, events: Sequence[InboxEvent], now: datetime) -> list[str]:
        """Insert events once each (by channel and event id); the channel of each new one."""
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


class RelatedRepo(Protocol):
    """The blind index of tips' signals (only keyed hashes are stored) and staff's links."""

    async def index(self, tip_id: int, features: Sequence[str], at: datetime) -> int:
        """Replace the tip's index entries with the hashes of these "kind:value" features."""
        ...

    async def forget(self, tip_id: int) -> int:
        """Remove the tip's index entries (erasure); returns how many."""
        ...

    async def candidates(
        self, features: Sequence[str], since: datetime, exclude: int | None, limit: int = 200
    ) -> list[Candidate]: ...
    async def groups(
        self, kind: str, since: datetime, grown_since: datetime, min_size: int
    ) -> list[list[tuple[str, str]]]:
        """Groups of tips sharing a feature of `kind`, grown since `grown_since`: (case code, region)."""
        ...

    async def set_link(
        self,
        a: int,
        b: int,
        kind: str,
        *,
        actor: str,
        now: datetime,
        duplicate_id: int | None = None,
    ) -> str | None: ...
    async def links(self, tip_id: int) -> list[TipLinkRecord]: ...


class KeyValueRepo(Protocol):
    """Small durable values."""

    async def get(self, key: str) -> str | None: ...
    async def set(self, key: str, value: str) -> None: ...


class DeskRepo(Protocol):
    """The case desk: sign-in links and sessions (tokens kept as keyed hashes), officers, and
    the inbox, tip page and overview queries."""

    async def add_link(
        self, token: str, staff_chat_id: int, case_code: str | None, now: datetime, ttl: timedelta
    ) -> None: ...
    async def redeem_link(self, token: str, now: datetime) -> tuple[int, str | None] | None: ...
    async def add_session(
        self, token: str, staff_chat_id: int, csrf: str, locale: str, now: datetime, lifetime: timedelta
    ) -> int: ...
    async def session_for(self, token: str, now: datetime, idle: timedelta) -> DeskSessionRecord | None: ...
    async def set_session_locale(self, session_id: int, locale: str) -> None: ...
    async def end_session(self, session_id: int) -> None: ...
    async def sweep(self, now: datetime, idle: timedelta) -> tuple[int, int]: ...
    async def name_officer(self, session_id: int, region: str, name: str, now: datetime) -> Officer: ...
    async def officers(self, region: str | None) -> list[Officer]: ...
    async def assign(self, tip_id: int, officer_id: int | None, now: datetime) -> None: ...
    async def find(
        self,
        f: DeskFilter,
        region: str | None,
        overdue_before: datetime,
        *,
        limit: int,
        offset: int,
        full: bool = False,
        search_cap: int = 200_000,
        only: Sequence[int] | None = None,
    ) -> DeskPage: ...
    async def rows(
        self, ids: Sequence[int], *, full: bool = False, keep_order: bool = True
    ) -> list[DeskRow]: ...
    async def tip_extra(self, tip_id: int) -> dict[str, Any]: ...
    async def timeline(self, tip_id: int) -> list[TimelineEntry]: ...
    async def attachment(self, tip_id: int, n: int) -> tuple[int, str, str, str] | None: ...
    async def attachments(self, tip_id: int) -> list[tuple[int, str, str, int]]: ...
    async def overview(self, region: str | None, overdue_before: datetime, since: datetime) -> Overview: ...


class AuditRepo(Protocol):
    """The append-only, hash-chained audit log (who read or changed which case, when).

    `actor_kind` and `action` come from `bot.core.audit`; `actor` is a staff pseudonym
    (`audit.staff_actor(id)`), a desk officer, "operator" or "scheduler", never the reporter.
    `detail` is short and never quotes a tip's content, a question or a reporter's identity.
    """

    async def append(
        self,
        actor_kind: str,
        actor: str,
        action: str,
        case_code: str | None,
        detail: str | None,
        now: datetime,
    ) -> int:
        """Append one row in this transaction (serialised across processes); returns its id."""
        ...

    async def entries(
        self, *, case_code: str | None = None, since: datetime | None = None, limit: int | None = None
    ) -> list[AuditEntry]: ...
    async def verify(self, batch: int = 1000) -> AuditCheck:
        """The first row whose keyed hash or link to the previous row does not hold, if any."""
        ...


@dataclass(frozen=True, slots=True)
class TipRef:
    """Just enough of a tip to decide what erasing does to it."""

    id: int
    case_code: str
    status: str
    region: str


class ErasureRepo(Protocol):
    """What the reporter's rights and retention erase (`storage/repositories/erasure.py`).
    Methods returning file names have deleted evidence rows: delete the files after the commit."""

    async def linked_channels(self, contact_id: int) -> list[str]: ...
    async def tips_of(self, contact_id: int) -> list[TipRef]: ...
    async def detach_tip(self, tip_id: int) -> None: ...
    async def draft_files(self, contact_id: int) -> list[str]: ...
    async def chat_messages(self, channel: str, chat_id: str) -> int: ...
    async def erase_tip(self, tip_id: int, now: datetime) -> list[str]: ...
    async def closed_tips(self, before: datetime, limit: int) -> list[TipRef]: ...
    async def count_closed_tips(self, before: datetime) -> int: ...
    async def idle_drafts(self, before: datetime, after_id: int, limit: int) -> list[tuple[int, int]]: ...
    async def clear_draft(self, contact_id: int, now: datetime) -> list[str]: ...
    async def old_messages(self, before: datetime, limit: int) -> int: ...
    async def count_old_messages(self, before: datetime) -> int: ...
    async def expired_invites(self, now: datetime, limit: int) -> int: ...
    async def count_expired_invites(self, now: datetime) -> int: ...
    async def count_inbox(self, payloads_before: datetime, rows_before: datetime) -> tuple[int, int]: ...


class WebChatRepo(Protocol):
    """The web chat's mailboxes and history, and files browsers uploaded, shared by processes."""

    async def post(
        self, session: str, role: str, key: str, bodies: Sequence[Mapping[str, Any]], now: datetime
    ) -> list[int] | None: ...
    async def after(self, session: str, seq: int, limit: int) -> list[WebChatEntry]: ...
    async def remove(self, session: str, key: str) -> None: ...
    async def stage(self, session: str, token: str, data: bytes, now: datetime) -> None: ...
    async def peek(self, token: str) -> bytes | None: ...
    async def drop(self, token: str) -> None: ...
    async def purge_uploads(self, before: datetime) -> int: ...
    async def count_older_than(self, before: datetime) -> int: ...
    async def erase_older_than(self, before: datetime) -> int:
        """Retention: all history written before `before`."""
        ...

    async def erase_session(self, session: str) -> int:
        """Erasure: one browser session's whole history and uploads."""
        ...


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
    @property
    def desk(self) -> DeskRepo: ...
    @property
    def audit(self) -> AuditRepo: ...
    @property
    def related(self) -> RelatedRepo: ...
    @property
    def erasure(self) -> ErasureRepo: ...
    @property
    def webchat(self) -> WebChatRepo: ...

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
