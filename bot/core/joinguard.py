"""The `/join` guessing guard: how many wrong staff codes a chat gave lately, and its lock-out.

Pure: state and time in, a verdict out. The record lives in the chat's conversation state.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

#: `/join` guessing: a chat that gives JOIN_MAX_FAILURES wrong codes within JOIN_WINDOW is
#: refused every attempt, the right code included, for JOIN_LOCKOUT. The record lives in the
#: chat's conversation state (the database), so every process sees the same count.
JOIN_MAX_FAILURES = 5
JOIN_WINDOW = timedelta(minutes=10)
JOIN_LOCKOUT = timedelta(minutes=30)
#: the conversation state key of that record: {"fails": [iso times], "until": iso time | None}
JOIN_GUARD = "join_guard"


def join_locked_until(state: Mapping[str, Any], now: datetime) -> datetime | None:
    """When the chat's `/join` lock-out ends; None when it may try a code now."""
    record = state.get(JOIN_GUARD) or {}
    until = record.get("until")
    if until and datetime.fromisoformat(until) > now:
        return datetime.fromisoformat(until)
    return None


def join_guard_live(state: Mapping[str, Any], now: datetime) -> bool:
    """True while the record still matters: a lock-out running or failures inside the window."""
    record = state.get(JOIN_GUARD) or {}
    if join_locked_until(state, now) is not None:
        return True
    return any(now - datetime.fromisoformat(at) < JOIN_WINDOW for at in record.get("fails") or ())


def join_failed(state: dict[str, Any], now: datetime) -> bool:
    """Count a wrong code in `state`; True when this failure starts a lock-out."""
    record = state.get(JOIN_GUARD) or {}
    fails = [at for at in record.get("fails") or () if now - datetime.fromisoformat(at) < JOIN_WINDOW]
    fails.append(now.isoformat())
    if len(fails) >= JOIN_MAX_FAILURES:
        state[JOIN_GUARD] = {"fails": [], "until": (now + JOIN_LOCKOUT).isoformat()}
        return True
    state[JOIN_GUARD] = {"fails": fails, "until": None}
    return False


def minutes_left(until: datetime, now: datetime) -> int:
    return max(1, -(-int((until - now).total_seconds()) // 60))
