"""The case desk's pure rules: who may see what, the inbox filter read from a query string,
and the records the desk pages show. No I/O, no clock (times are passed in).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from bot.core.casecode import find as find_code
from bot.core.routing import CENTRAL, REGIONS

STATUSES = ("received", "acknowledged", "in_review", "forwarded", "closed")
SORTS = ("newest", "oldest", "status", "province")
PAGE_SIZE = 50
#: a sign-in link works once, for this long
LINK_TTL = timedelta(minutes=10)
#: a session ends this long after sign-in, however busy
SESSION_MAX = timedelta(hours=12)
#: roles whose chats may open the desk (organizer chats get no desk)
DESK_ROLES = frozenset({"staff", "admin"})
MAX_QUERY_CHARS = 100
MAX_OFFICER_CHARS = 80


@dataclass(frozen=True, slots=True)
class DeskFilter:
    """What the inbox shows: every field optional; `region` is the session's scope, never the URL's."""

    status: str | None = None
    category: str | None = None
    province: str | None = None
    district: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    has_evidence: bool = False
    overdue: bool = False
    routing_gap: bool = False
    assigned_to: int | None = None
    #: only the tips related to this case (as the related-tips matcher and staff's links say)
    related: str | None = None
    query: str = ""
    sort: str = "newest"
    page: int = 1

    def to_query(self) -> dict[str, str]:
        """The filter as query parameters (for links to other pages and exports)."""
        out: dict[str, str] = {}
        for name in ("status", "category", "province", "district"):
            value = getattr(self, name)
            if value:
                out[name] = value
        if self.date_from:
            out["from"] = self.date_from.isoformat()
        if self.date_to:
            out["to"] = self.date_to.isoformat()
        for name in ("has_evidence", "overdue", "routing_gap"):
            if getattr(self, name):
                out[name] = "1"
        if self.assigned_to is not None:
            out["officer"] = str(self.assigned_to)
        if self.related:
            out["related"] = self.related
        if self.query:
            out["q"] = self.query
        if self.sort != "newest":
            out["sort"] = self.sort
        return out


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        return min(high, max(low, int((value or "").strip())))
    except ValueError:
        return default


def parse_filter(query: Mapping[str, str], categories: frozenset[str] | set[str]) -> DeskFilter:
    """Read the inbox filter from a query string; anything unknown is ignored, never an error."""
    status = query.get("status") or None
    category = query.get("category") or None
    sort = query.get("sort") or "newest"
    officer = query.get("officer")
    return DeskFilter(
        status=status if status in STATUSES else None,
        category=category if category in categories else None,
        province=(query.get("province") or "").strip()[:64] or None,
        district=(query.get("district") or "").strip()[:64] or None,
        date_from=_date(query.get("from")),
        date_to=_date(query.get("to")),
        has_evidence=query.get("has_evidence") == "1",
        overdue=query.get("overdue") == "1",
        routing_gap=query.get("routing_gap") == "1",
        assigned_to=_int(officer, 0, 0, 2**31 - 1) or None if officer else None,
        related=find_code(query.get("related") or ""),
        query=" ".join((query.get("q") or "").split())[:MAX_QUERY_CHARS],
        sort=sort if sort in SORTS else "newest",
        page=_int(query.get("page"), 1, 1, 100_000),
    )


def next_page(f: DeskFilter, step: int) -> DeskFilter:
    return replace(f, page=max(1, f.page + step))


def scope(region: str) -> str | None:
    """The regions a desk session sees: its own, or every region for the central office (None)."""
    return None if region == CENTRAL else region


def may_see(session_region: str, tip_region: str) -> bool:
    return session_region in (tip_region, CENTRAL)


def valid_region(value: str) -> bool:
    return value in REGIONS


def clean_officer_name(value: str) -> str | None:
    """An officer's name as they typed it: one line, trimmed, not empty, not too long."""
    name = " ".join(value.split())[:MAX_OFFICER_CHARS]
    return name or None


@dataclass(frozen=True, slots=True)
class DeskSessionRecord:
    id: int
    staff_chat_id: int
    region: str
    role: str
    csrf: str
    locale: str
    officer_id: int | None
    officer_name: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Officer:
    id: int
    region: str
    name: str


@dataclass(frozen=True, slots=True)
class DeskRow:
    """One line of the inbox (or an export row): never the reporter's identity."""

    id: int
    case_code: str
    category: str
    status: str
    status_detail: str | None
    region: str
    province: str | None
    district: str | None
    created_at: datetime
    incident_date: date | None
    amount_thb: int | None
    attachments: int
    acknowledged_at: datetime | None
    officer: str | None
    routing_gap: bool = False
    narrative: str = ""
    agency: str | None = None
    official: str | None = None


@dataclass(frozen=True, slots=True)
class DeskPage:
    rows: list[DeskRow]
    total: int
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class Overview:
    by_status: dict[str, int]
    by_category: dict[str, int]
    by_month: list[tuple[str, int]]
    by_province: dict[str, int]
    by_region: dict[str, int]
    overdue: list[DeskRow]
    unacknowledged: list[DeskRow]


def actor_label(actor: str) -> tuple[str, str]:
    """`staff:12` / `desk:12:Somchai` / `volunteer` / `system` → (kind, who) for the timeline."""
    kind, _, rest = actor.partition(":")
    if kind == "desk":
        chat, _, name = rest.partition(":")
        return "desk", f"#{chat} {name}".strip()
    if kind == "staff":
        return "staff", f"#{rest}"
    return kind, ""
