"""The `/join` guessing guard: how many wrong staff codes a chat gave lately, and its lock-out.

Pure: the record and time in, a verdict (and the new record) out. The record lives in the chat's
conversation state (`State.join_guard`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.core.state import JoinGuard

#: `/join` guessing: a chat that gives JOIN_MAX_FAILURES wrong codes within JOIN_WINDOW is
#: refused every attempt, the right code included, for JOIN_LOCKOUT. The record lives in the
#: chat's conversation state (the database), so every process sees the same count.
JOIN_MAX_FAILURES = 5
JOIN_WINDOW = timedelta(minutes=10)
JOIN_LOCKOUT = timedelta(minutes=30)


def join_locked_until(guard: JoinGuard | None, now: datetime) -> datetime | None:
    """When the chat's `/join` lock-out ends; None when it may try a code now."""
    if guard is not None and guard.until is not None and guard.until > now:
        return guard.until
    return None


def join_guard_live(guard: JoinGuard | None, now: datetime) -> bool:
    """True while the record still matters: a lock-out running or failures inside the window."""
    if guard is None:
        return False
    if join_locked_until(guard, now) is not None:
        return True
    return any(now - at < JOIN_WINDOW for at in guard.fails)


def join_failed(guard: JoinGuard | None, now: datetime) -> tuple[JoinGuard, bool]:
    """The record after a wrong code, and whether this failure starts a lock-out."""
    fails = [at for at in (guard.fails if guard else ()) if now - at < JOIN_WINDOW]
    fails.append(now)
    if len(fails) >= JOIN_MAX_FAILURES:
        return JoinGuard(fails=(), until=now + JOIN_LOCKOUT), True
    return JoinGuard(fails=tuple(fails), until=None), False


def minutes_left(until: datetime, now: datetime) -> int:
    return max(1, -(-int((until - now).total_seconds()) // 60))
