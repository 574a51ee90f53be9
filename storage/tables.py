"""SQLModel tables. They never leave `storage/`: repositories map them to core records."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, LargeBinary, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.crypto import EncryptedJSON, EncryptedText


def _ts(index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), index=index, nullable=nullable))


class Contact(SQLModel, table=True):
    """A chat identity: one chat on one channel (a volunteer's private chat)."""

    __tablename__ = "contact"
    __table_args__ = (UniqueConstraint("channel", "chat_hash", name="uq_contact_chat"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    chat_hash: str = Field(max_length=64)
    chat_id_enc: str = Field(sa_column=Column(EncryptedText, nullable=False))
    locale: str = Field(default="th", max_length=8)
    consented_at: datetime | None = _ts()
    consent_version: str | None = Field(default=None, max_length=16)
    home_province: str | None = Field(default=None, max_length=64)
    opted_out: bool = False
    reachable: bool = True
    #: shared by the chats one volunteer linked across platforms (LINE and Telegram)
    link_key: str | None = Field(default=None, max_length=64, index=True)
    created_at: datetime | None = _ts()
    last_seen_at: datetime | None = _ts()


class Conversation(SQLModel, table=True):
    __tablename__ = "conversation"

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", unique=True, ondelete="CASCADE")
    state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(EncryptedJSON, nullable=False))
    version: int = 0
    updated_at: datetime | None = _ts()


class InboxRow(SQLModel, table=True):
    """Every webhook event, durable before the platform gets its 200."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("channel", "event_id", name="uq_inbox_event"),
        Index("ix_inbox_status_chat", "status", "chat_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    event_id: str = Field(max_length=128)
    chat_hash: str = Field(max_length=64)
    occurred_at: datetime | None = _ts()
    received_at: datetime | None = _ts()
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(EncryptedJSON, nullable=True))
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    error: str | None = Field(default=None, max_length=500)
    next_attempt_at: datetime | None = _ts()
    processed_at: datetime | None = _ts()


class Tip(SQLModel, table=True):
    __tablename__ = "tip"
    __table_args__ = (
        # the case desk's inbox: a region's tips newest first, optionally of one status
        Index("ix_tip_region_created", "region", "created_at"),
        Index("ix_tip_region_status_created", "region", "status", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_code: str = Field(max_length=24, unique=True)
    draft_id: str = Field(max_length=64, unique=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id", ondelete="SET NULL")
    channel: str = Field(max_length=16)
    category: str = Field(max_length=32, index=True)
    narrative_enc: str = Field(sa_column=Column(EncryptedText, nullable=False))
    agency: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))
    official: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))
    province: str | None = Field(default=None, max_length=64, index=True)
    district: str | None = Field(default=None, max_length=64)
    region: str = Field(max_length=8, index=True)
    incident_date: date | None = None
    incident_date_text: str | None = Field(default=None, max_length=200)
    amount_thb: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    contact_ok: bool = False
    contact_how: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))
    location: dict[str, Any] | None = Field(default=None, sa_column=Column(EncryptedJSON, nullable=True))
    status: str = Field(default="received", max_length=24, index=True)
    status_detail: str | None = Field(default=None, max_length=32)
    claimed_by: int | None = Field(default=None, foreign_key="staff_chat.id", ondelete="SET NULL")
    #: the officer of the region working the tip (named in the case desk)
    assigned_officer_id: int | None = Field(default=None, foreign_key="desk_officer.id", ondelete="SET NULL")
    created_at: datetime | None = _ts(index=True)
    updated_at: datetime | None = _ts()
    acknowledged_at: datetime | None = _ts()
    reminded_at: datetime | None = _ts()
    escalated_at: datetime | None = _ts()
    #: when its content was erased (withdrawn by the reporter, or past retention): statistics only
    erased_at: datetime | None = _ts()


class Attachment(SQLModel, table=True):
    __tablename__ = "attachment"

    id: int | None = Field(default=None, primary_key=True)
    tip_id: int | None = Field(default=None, foreign_key="tip.id", index=True, ondelete="CASCADE")
    contact_id: int | None = Field(default=None, foreign_key="contact.id", ondelete="SET NULL")
    message_ref: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=16)
    mime: str = Field(max_length=100)
    size: int
    sha256: str = Field(max_length=64)
    storage_name: str = Field(max_length=64)
    file_name: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))
    created_at: datetime | None = _ts()


class TipEvent(SQLModel, table=True):
    """Status history and audit of a tip: who, when, from → to, note."""

    __tablename__ = "tip_event"

    id: int | None = Field(default=None, primary_key=True)
    tip_id: int | None = Field(default=None, foreign_key="tip.id", index=True, ondelete="CASCADE")
    at: datetime | None = _ts()
    actor: str = Field(max_length=64)
    action: str = Field(max_length=32)
    from_status: str | None = Field(default=None, max_length=24)
    to_status: str | None = Field(default=None, max_length=24)
    note: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))


#: rows some process holds a lease on (literal, for the partial indexes below)
LEASED = "lease_holder IS NOT NULL"


class OutboxRow(SQLModel, table=True):
    """Every message we promise to send, written with the state change that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        # Only leased rows: freeing a dead process's leases stays quick however long the table.
        Index(
            "ix_outbox_lease_holder",
            "lease_holder",
            postgresql_where=text(LEASED),
            sqlite_where=text(LEASED),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    chat_hash: str = Field(max_length=64, index=True)
    address_enc: str = Field(sa_column=Column(EncryptedText, nullable=False))
    kind: str = Field(max_length=16)
    payload: dict[str, Any] = Field(sa_column=Column(EncryptedJSON, nullable=False))
    tip_id: int | None = Field(default=None, foreign_key="tip.id", index=True, ondelete="CASCADE")
    staff_chat_id: int | None = Field(default=None, foreign_key="staff_chat.id", ondelete="SET NULL")
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = _ts()
    idempotency_key: str = Field(max_length=64, unique=True)
    reply_token: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))
    reply_token_expires: datetime | None = _ts()
    last_error: str | None = Field(default=None, max_length=500)
    possible_duplicate: bool = False
    created_at: datetime | None = _ts()
    sent_at: datetime | None = _ts()
    #: the process incarnation (`process.id`) that has leased the row; NULL when nobody has
    lease_holder: str | None = Field(default=None, max_length=32)


class StaffChat(SQLModel, table=True):
    __tablename__ = "staff_chat"
    __table_args__ = (UniqueConstraint("channel", "chat_hash", name="uq_staff_chat"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    chat_hash: str = Field(max_length=64)
    chat_id_enc: str = Field(sa_column=Column(EncryptedText, nullable=False))
    region: str = Field(max_length=8, index=True)
    role: str = Field(default="staff", max_length=16)
    active: bool = True
    locale: str = Field(default="th", max_length=8)
    joined_at: datetime | None = _ts()
    left_at: datetime | None = _ts()


class Invite(SQLModel, table=True):
    __tablename__ = "invite"

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, unique=True)
    region: str = Field(max_length=8)
    role: str = Field(default="staff", max_length=16)
    expires_at: datetime | None = _ts()
    used_at: datetime | None = _ts()
    used_by: int | None = Field(default=None, foreign_key="staff_chat.id", ondelete="SET NULL")
    created_at: datetime | None = _ts()


class KeyValue(SQLModel, table=True):
    """Small durable settings (polling offsets, channel pauses)."""

    __tablename__ = "kv"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=500)


class Broadcast(SQLModel, table=True):
    """A notice an organizer sends to volunteers of some regions or provinces."""

    __tablename__ = "broadcast"
    __table_args__ = (Index("ix_broadcast_status_send", "status", "send_at"),)

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    place: str | None = Field(default=None, max_length=200)
    event_at: datetime | None = _ts()
    audience: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    rsvp: bool = False
    send_at: datetime | None = _ts()
    status: str = Field(default="scheduled", max_length=16)
    created_by: str = Field(default="cli", max_length=16)
    staff_chat_id: int | None = Field(default=None, foreign_key="staff_chat.id", ondelete="SET NULL")
    recipients: int = 0
    created_at: datetime | None = _ts()
    started_at: datetime | None = _ts()
    finished_at: datetime | None = _ts()
    reminded_at: datetime | None = _ts()


#: copies still to send (literal, so both databases use the partial indexes below)
OPEN_COPIES = "status IN ('pending', 'sending')"


class BroadcastRecipient(SQLModel, table=True):
    """One volunteer's copy of a broadcast: delivery state and their RSVP."""

    __tablename__ = "broadcast_recipient"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "contact_id", name="uq_broadcast_recipient"),
        # Only copies still to send, in queue order: claims stay quick however long the queue.
        Index(
            "ix_recipient_open",
            "broadcast_id",
            "channel",
            "id",
            postgresql_where=text(OPEN_COPIES),
            sqlite_where=text(OPEN_COPIES),
        ),
        Index(
            "ix_recipient_rebatch",
            "broadcast_id",
            "channel",
            "batch",
            postgresql_where=text(OPEN_COPIES + " AND batch IS NOT NULL"),
            sqlite_where=text(OPEN_COPIES + " AND batch IS NOT NULL"),
        ),
        Index(
            "ix_recipient_lease_holder",
            "lease_holder",
            postgresql_where=text(LEASED),
            sqlite_where=text(LEASED),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(foreign_key="broadcast.id", ondelete="CASCADE")
    contact_id: int = Field(foreign_key="contact.id", index=True, ondelete="CASCADE")
    channel: str = Field(max_length=16)
    locale: str = Field(default="th", max_length=8)
    status: str = Field(default="pending", max_length=16)
    batch: str | None = Field(default=None, max_length=40)
    attempts: int = 0
    next_attempt_at: datetime | None = _ts()
    sent_at: datetime | None = _ts(index=True)
    possible_duplicate: bool = False
    error: str | None = Field(default=None, max_length=300)
    rsvp: str | None = Field(default=None, max_length=8)
    rsvp_at: datetime | None = _ts()
    question: str | None = Field(default=None, sa_column=Column(EncryptedText, nullable=True))
    #: the process incarnation (`process.id`) sending the copy; NULL when nobody is
    lease_holder: str | None = Field(default=None, max_length=32)


class ProcessRow(SQLModel, table=True):
    """One run of a tipbot process (an incarnation): who holds leases, and whether it still beats.

    `instance` is stable across restarts (host and role/port, or TIPBOT_INSTANCE), so a
    restarted process recognises the leases of its own previous incarnation.
    """

    __tablename__ = "process"

    id: str = Field(primary_key=True, max_length=32)
    instance: str = Field(max_length=200, index=True)
    role: str = Field(max_length=16)
    host: str = Field(max_length=200)
    pid: int
    started_at: datetime | None = _ts()
    heartbeat_at: datetime | None = _ts()
    #: set at a clean stop, or by whoever found the process silent or restarted
    stopped_at: datetime | None = _ts(index=True)
    stop_reason: str | None = Field(default=None, max_length=16)


class DeskOfficer(SQLModel, table=True):
    """A named officer of a region, as they named themselves in the case desk."""

    __tablename__ = "desk_officer"
    __table_args__ = (UniqueConstraint("region", "name", name="uq_desk_officer"),)

    id: int | None = Field(default=None, primary_key=True)
    region: str = Field(max_length=8)
    name: str = Field(max_length=80)
    created_at: datetime | None = _ts()


class DeskLink(SQLModel, table=True):
    """A one-time sign-in link of the case desk, stored as a keyed hash of its token."""

    __tablename__ = "desk_link"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    staff_chat_id: int = Field(foreign_key="staff_chat.id", ondelete="CASCADE")
    case_code: str | None = Field(default=None, max_length=24)
    created_at: datetime | None = _ts()
    expires_at: datetime | None = _ts(index=True)
    used_at: datetime | None = _ts()


class DeskSession(SQLModel, table=True):
    """A signed-in case-desk browser: the staff chat's role and region, an officer's name."""

    __tablename__ = "desk_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    staff_chat_id: int = Field(foreign_key="staff_chat.id", index=True, ondelete="CASCADE")
    officer_id: int | None = Field(default=None, foreign_key="desk_officer.id", ondelete="SET NULL")
    csrf: str = Field(max_length=64)
    locale: str = Field(default="th", max_length=8)
    created_at: datetime | None = _ts()
    last_seen_at: datetime | None = _ts()
    expires_at: datetime | None = _ts(index=True)


class AuditRow(SQLModel, table=True):
    """Append-only audit log: who read or changed what, when, chained by a keyed hash.

    `hash` = HMAC(audit key, content of this row + `prev_hash`); the first row's `prev_hash` is
    GENESIS. Never the reporter's identity: actors are staff pseudonyms, desk officers, the operator.
    """

    __tablename__ = "audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime | None = _ts(index=True, nullable=False)
    actor_kind: str = Field(max_length=16)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=32)
    case_code: str | None = Field(default=None, max_length=24, index=True)
    detail: str | None = Field(default=None, max_length=500)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class TipLink(SQLModel, table=True):
    """What staff decided about two tips: linked (one matter), rejected (not related), or one
    closed as a duplicate of the other. One row per pair, the lower tip id first."""

    __tablename__ = "tip_link"
    __table_args__ = (UniqueConstraint("tip_lo", "tip_hi", name="uq_tip_link_pair"),)

    id: int | None = Field(default=None, primary_key=True)
    tip_lo: int = Field(foreign_key="tip.id", ondelete="CASCADE")
    tip_hi: int = Field(foreign_key="tip.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16)
    #: for kind "duplicate": which of the two was closed as the duplicate
    duplicate_id: int | None = None
    actor: str = Field(max_length=64)
    created_at: datetime | None = _ts()


class TipIndex(SQLModel, table=True):
    """The blind index: keyed hashes (HMAC from the secret key) of a tip's normalised agency,
    district, position, place and narrative words, so matching never decrypts stored tips."""

    __tablename__ = "tip_index"
    __table_args__ = (
        # both read from the index alone: tips by hash (matching), hashes by tip (the story step)
        Index("ix_tip_index_hash", "hash", "at", "tip_id", "kind"),
        Index("ix_tip_index_tip", "tip_id", "kind", "hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tip_id: int = Field(foreign_key="tip.id", ondelete="CASCADE")
    kind: str = Field(max_length=16)
    hash: int = Field(sa_column=Column(BigInteger, nullable=False))
    #: when the tip arrived (copied here so the window is read from the index alone)
    at: datetime | None = _ts()


class WebChatMessage(SQLModel, table=True):
    """The web chat's mailboxes and history: what each browser session was shown and sent.

    Every process may write (its relay sends) and read (its `/chat` long polls) them, so several
    `tipbot serve` processes serve one web chat. `seq` counts per session and is unique with it,
    so a session's rows become visible in the order of their numbers.
    """

    __tablename__ = "webchat_message"
    __table_args__ = (
        UniqueConstraint("session_hash", "seq", name="uq_webchat_message_seq"),
        UniqueConstraint("session_hash", "key", name="uq_webchat_message_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    session_hash: str = Field(max_length=64)
    seq: int
    #: the relay's retry key (a resent row is shown once) or the page's own event id
    key: str = Field(max_length=200)
    #: "bot" (a message to the volunteer) or "me" (what the volunteer sent)
    role: str = Field(max_length=8)
    body: dict[str, Any] = Field(sa_column=Column(EncryptedJSON, nullable=False))
    created_at: datetime | None = _ts(index=True)


class WebChatUpload(SQLModel, table=True):
    """An evidence file a browser uploaded, held (encrypted) until the dispatcher takes it into a
    draft or `TIPBOT_WEBCHAT_UPLOAD_TTL` passes: the bytes the platform would hold on LINE."""

    __tablename__ = "webchat_upload"

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=64, unique=True)
    session_hash: str = Field(max_length=64, index=True)
    #: a Fernet token of the file's bytes (encrypted by the repository)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    size: int = 0
    created_at: datetime | None = _ts(index=True)
