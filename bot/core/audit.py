"""The audit log's vocabulary: who may act (actor kinds), what they did (actions), and the
records the audit repository returns. Pure data; the chain's hashing lives in storage.

An audit row names the case and the staff pseudonym or desk officer, never the reporter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

# Actor kinds: who did it.
STAFF_CHAT: Final = "staff_chat"  #: a registered staff chat; actor is its pseudonym "staff:<id>"
DESK: Final = "desk"  #: an officer signed in to the web desk; actor is the officer's id
OPERATOR: Final = "operator"  #: the command line on the server
SYSTEM: Final = "system"  #: the scheduler (retention, reminders)
REPORTER: Final = "reporter"  #: the reporter's own chat; actor is never their identity, only "reporter"

ACTOR_KINDS: Final = (STAFF_CHAT, DESK, OPERATOR, SYSTEM, REPORTER)

# Actions: what was done. Ids are stable forever (they are inside the hash chain).
TIP_READ: Final = "tip_read"  #: a tip's details were shown (chat /tip, the desk)
EVIDENCE_READ: Final = "evidence_read"  #: an evidence file was fetched or sent
EXPORT: Final = "export"  #: tips were exported (detail: format, region, rows)
STATUS_CHANGE: Final = "status_change"  #: detail: "from → to"
QUESTION: Final = "question"  #: staff asked the reporter a question (never its text)
ANSWER: Final = "answer"  #: the reporter's answer reached staff (never its text)
REASSIGN: Final = "reassign"  #: detail: "from → to" region
DELETION_REQUEST: Final = "deletion_request"  #: the reporter erased their data (detail: withdrawn/kept)
RETENTION_RUN: Final = "retention_run"  #: detail: counts by kind
TIP_ERASED: Final = "tip_erased"  #: a tip's content was erased (withdrawn or retention)


def staff_actor(staff_id: int) -> str:
    """The pseudonym of a staff chat in the audit log (its row id, never its platform id)."""
    return f"staff:{staff_id}"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of the audit log as it was appended."""

    id: int
    at: datetime
    actor_kind: str
    actor: str
    action: str
    case_code: str | None
    detail: str | None
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AuditCheck:
    """What `verify` found: `broken_at` is the first row whose link does not hold (None: intact)."""

    rows: int
    broken_at: int | None = None
    reason: str | None = None  #: "changed" (content or hash edited) or "unlinked" (row deleted/inserted)
    head_id: int | None = None
    head_hash: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_at is None
