"""Channel-neutral value types shared by the core, the adapters and storage.

Owns the shapes of what comes in (Inbound), what goes out (Reply, Outbound) and the
records the core reasons about. Must not know any platform SDK, SQL or HTTP.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

ChatKind = Literal["private", "group"]

#: payload of the button that asks the platform to share the phone's location
LOCATION_PAYLOAD = "@location"


class InboundKind(enum.StrEnum):
    """What a volunteer or staff member did, whatever the platform."""

    TEXT = "text"
    BUTTON = "button"  # a tap on a button we sent: payload in Inbound.button
    LOCATION = "location"
    MEDIA = "media"  # a photo, file, video or audio clip: Inbound.media
    STICKER = "sticker"
    FOLLOW = "follow"  # added as friend / unblocked / /start without text
    UNFOLLOW = "unfollow"  # blocked the bot
    JOINED_GROUP = "joined_group"  # the bot was added to a group
    LEFT_GROUP = "left_group"  # the bot was removed from a group
    EDIT = "edit"  # an earlier text message was edited: Inbound.text is the new text
    UNSEND = "unsend"  # an earlier message was withdrawn: Inbound.ref_message_id
    IGNORED = "ignored"  # nothing for the engine (stored as done-and-ignored)
    WAKE = "wake"  # a pause the conversation asked for has passed: Inbound.text is its token


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    title: str = ""
    address: str = ""


@dataclass(frozen=True, slots=True)
class MediaRef:
    """Evidence a volunteer sent. ``platform_ref`` is what the adapter needs to download it."""

    kind: Literal["image", "video", "audio", "file"]
    platform_ref: str
    file_name: str = ""
    claimed_mime: str = ""
    claimed_size: int | None = None
    attachment_id: int | None = None  # set once the bytes are stored


@dataclass(frozen=True, slots=True)
class Inbound:
    """One event from one chat, mapped from a platform payload."""

    channel: str
    chat_id: str
    kind: InboundKind
    event_id: str
    occurred_at: datetime
    chat_kind: ChatKind = "private"
    text: str = ""
    button: str | None = None
    location: Location | None = None
    media: MediaRef | None = None
    message_id: str | None = None  # the platform's id of this message (for edit/unsend)
    ref_message_id: str | None = None  # the message an edit/unsend refers to
    reply_token: str | None = None
    reply_token_expires: datetime | None = None
    locale_hint: str | None = None
    standby: bool = False  # LINE standby mode: record, never reply
    ack_ref: str | None = None  # what the platform wants acknowledged (Telegram callback query id)


@dataclass(frozen=True, slots=True)
class InboxEvent:
    """What a webhook writes to the inbox before it answers the platform."""

    channel: str
    event_id: str
    chat_id: str
    occurred_at: datetime
    payload: dict[str, Any]
    #: not to be processed before this time (a pause the conversation asked for)
    not_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class Button:
    """A tappable choice. ``label`` is a message key; ``payload`` is what the tap sends back."""

    label: str
    payload: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reply:
    """A message to send, as a catalog key and parameters: never text."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)
    buttons: tuple[Button, ...] = ()
    request_location: bool = False
    attachment_id: int | None = None  # an evidence file sent with the message (staff details)


@dataclass(frozen=True, slots=True)
class RenderedButton:
    label: str
    payload: str


@dataclass(frozen=True, slots=True)
class Outbound:
    """A rendered message: text in the recipient's language plus buttons."""

    text: str
    buttons: tuple[RenderedButton, ...] = ()
    request_location: bool = False
    attachment_id: int | None = None
    #: a message that stands on its own as a card (see `bot.core.catalog.CARDS`); a channel that
    #: has cards (LINE's Flex bubbles) shows it as one, with its buttons inside; "" for plain text
    card: str = ""


@dataclass(frozen=True, slots=True)
class Address:
    """Where a message goes: a chat on a channel."""

    channel: str
    chat_id: str


class SendStatus(enum.StrEnum):
    SENT = "sent"
    RETRY = "retry"  # try again after retry_after seconds (rate limit, 5xx, timeout)
    PERMANENT = "permanent"  # will never succeed as is
    UNREACHABLE = "unreachable"  # blocked / left: mark the chat unreachable
    PAUSED = "paused"  # the channel cannot send for a long while (LINE monthly limit)
    MIGRATED = "migrated"  # the chat has a new id (Telegram group → supergroup)


@dataclass(frozen=True, slots=True)
class SendResult:
    status: SendStatus
    retry_after: float | None = None
    error: str = ""
    new_chat_id: str | None = None
    possible_duplicate: bool = False


@dataclass(frozen=True, slots=True)
class FetchedMedia:
    data: bytes
    claimed_mime: str = ""


class MediaNotReady(Exception):
    """The platform is still preparing the content (LINE 202): try again later."""


class MediaTooLarge(Exception):
    """The content is over the size we accept or the platform lets us download."""


class MediaGone(Exception):
    """The platform no longer has the content (unsent, expired)."""


@dataclass(frozen=True, slots=True)
class TipSummary:
    """What a volunteer may see of their own tip."""

    case_code: str
    category: str
    status: str
    created_at: datetime
    province: str | None = None


@dataclass(frozen=True, slots=True)
class TipRecord:
    """A tip as the core hands it to storage and as alerts describe it."""

    case_code: str
    category: str
    narrative: str
    agency: str | None
    official: str | None
    province: str | None
    district: str | None
    region: str
    incident_date: date | None
    incident_date_text: str | None
    amount_thb: int | None
    contact_ok: bool
    contact_how: str | None
    location: Location | None
    attachment_ids: tuple[int, ...]
    #: further locations the volunteer shared as evidence (the first one is `location`)
    more_locations: tuple[Location, ...] = ()
    status: str = "received"
    created_at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """A chat identity as the core sees it (no platform id in clear beyond the address)."""

    id: int
    channel: str
    locale: str
    consented_at: datetime | None
    home_province: str | None
    opted_out: bool
    reachable: bool
    last_seen_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StaffChatRecord:
    id: int
    channel: str
    chat_id: str
    region: str
    role: str
    active: bool
    locale: str = "th"


@dataclass(frozen=True, slots=True)
class InboxItem:
    """A stored inbox row as the dispatcher sees it."""

    id: int
    channel: str
    event_id: str
    payload: dict[str, Any]
    attempts: int
    occurred_at: datetime | None = None
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A message we promised to send. ``payload`` holds the locale and the replies as data."""

    channel: str
    chat_id: str
    kind: str  # reply | alert | notice
    payload: dict[str, Any]
    idempotency_key: str
    tip_id: int | None = None
    staff_chat_id: int | None = None
    reply_token: str | None = None
    reply_token_expires: datetime | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    status: str = "pending"
    id: int | None = None
    created_at: datetime | None = None
    #: leased before without an outcome being recorded (its sender died or its lease ran out
    #: mid-send): the platform may already have the message
    in_doubt: bool = False

    @classmethod
    def of(
        cls,
        channel: str,
        chat_id: str,
        locale: str,
        replies: Sequence[Reply],
        *,
        kind: str,
        key: str,
        extra: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> OutboxItem:
        """Replies to one chat, kept as data the relay renders in `locale` when it sends."""
        payload = {"locale": locale, "replies": [reply_to_data(r) for r in replies], **(extra or {})}
        return cls(
            channel=channel, chat_id=chat_id, kind=kind, payload=payload, idempotency_key=key, **fields
        )


def reply_to_data(reply: Reply) -> dict[str, Any]:
    return {
        "key": reply.key,
        "params": reply.params,
        "buttons": [{"label": b.label, "payload": b.payload, "params": b.params} for b in reply.buttons],
        "request_location": reply.request_location,
        "attachment_id": reply.attachment_id,
    }


def reply_from_data(data: dict[str, Any]) -> Reply:
    return Reply(
        key=str(data["key"]),
        params=dict(data.get("params") or {}),
        buttons=tuple(
            Button(label=str(b["label"]), payload=str(b["payload"]), params=dict(b.get("params") or {}))
            for b in data.get("buttons") or []
        ),
        request_location=bool(data.get("request_location")),
        attachment_id=int(data["attachment_id"]) if data.get("attachment_id") is not None else None,
    )


@dataclass(frozen=True, slots=True)
class TipDetail:
    """A stored tip as staff tools see it (never the reporter's chat)."""

    id: int
    case_code: str
    category: str
    narrative: str
    agency: str | None
    official: str | None
    province: str | None
    district: str | None
    region: str
    incident_date: date | None
    incident_date_text: str | None
    amount_thb: int | None
    contact_ok: bool
    contact_how: str | None
    status: str
    status_detail: str | None
    created_at: datetime
    contact_id: int | None
    attachments: int
    claimed_by: int | None = None
    reminded_at: datetime | None = None
    #: every location the volunteer shared (place step and evidence), as (lat, lon)
    locations: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True, slots=True)
class ChatAddress:
    """Where to reach a contact, and in which language."""

    channel: str
    chat_id: str
    locale: str
    reachable: bool


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a broadcast is for: volunteers whose home province is in these regions or provinces.

    Both empty means every consented volunteer (including those who gave no province).
    """

    regions: tuple[str, ...] = ()
    provinces: tuple[str, ...] = ()

    @property
    def everyone(self) -> bool:
        return not self.regions and not self.provinces

    def to_data(self) -> dict[str, Any]:
        return {"regions": list(self.regions), "provinces": list(self.provinces)}

    @classmethod
    def from_data(cls, data: dict[str, Any] | None) -> Audience:
        data = data or {}
        return cls(tuple(data.get("regions") or ()), tuple(data.get("provinces") or ()))


@dataclass(frozen=True, slots=True)
class BroadcastRecord:
    """A workshop notice: what volunteers read, who gets it and when it goes."""

    title: str
    body: str
    audience: Audience
    place: str | None = None
    event_at: datetime | None = None
    rsvp: bool = False
    send_at: datetime | None = None
    status: str = "scheduled"  # scheduled | sending | done | cancelled
    created_by: str = "cli"  # cli | chat
    staff_chat_id: int | None = None
    recipients: int = 0
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    reminded_at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class AudienceMember:
    """A volunteer a broadcast could reach: one chat, and the person it belongs to."""

    contact_id: int
    channel: str
    locale: str
    person: str  # the link key shared by one volunteer's chats, or a key of this chat alone
    last_seen_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Recipient:
    """A claimed broadcast delivery. ``in_flight`` means an earlier send may have got through."""

    id: int
    broadcast_id: int
    contact_id: int
    channel: str
    chat_id: str
    locale: str
    attempts: int
    in_flight: bool = False


@dataclass(frozen=True, slots=True)
class TipLinkRecord:
    """Staff's decision about a tip and another: "linked", "rejected", "duplicate" (the other was
    closed as a duplicate of this one) or "original" (this one is a duplicate of the other)."""

    tip_id: int
    case_code: str
    region: str
    category: str
    status: str
    status_detail: str | None
    created_at: datetime
    kind: str
    actor: str


@dataclass(frozen=True, slots=True)
class WebChatEntry:
    """One line of a web chat session's history: what the bot said ("bot") or the volunteer
    sent ("me"), numbered within the session."""

    seq: int
    role: str
    key: str
    body: dict[str, Any]
    at: datetime | None
