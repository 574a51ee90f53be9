"""What every flow of the conversation shares: the Context an event comes with, the Turn it
produces (the next `bot.core.state.State`), stamped buttons, and the routing table's Route.

Pure: no I/O, no clock, no randomness (time and random bytes come in `Context`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from bot.core.effects import Effect
from bot.core.forms import Understanding
from bot.core.model import Button, ContactRecord, Inbound, Reply, StaffChatRecord, TipSummary
from bot.core.routing import RegionTable
from bot.core.state import Flow, State


@dataclass(frozen=True, slots=True)
class Context:
    now: datetime
    today: date
    #: the random source (os.urandom in production, a seeded one in tests); read through `token`
    entropy: Callable[[int], bytes]
    contact: ContactRecord | None
    staff: StaffChatRecord | None
    my_tips: tuple[TipSummary, ...]
    regions: RegionTable
    understanding: Understanding
    draft_ttl: timedelta = timedelta(hours=24)
    default_locale: str = "th"
    #: where the privacy notice is served (the consent text links it)
    privacy_url: str = "/privacy"
    #: how long the story step waits for more messages before the next question (0: no wait)
    story_pause: timedelta = timedelta(0)

    def token(self, n: int) -> bytes:
        """`n` fresh random bytes: stamps, draft ids, case codes and link codes never share any."""
        return self.entropy(n)


@dataclass(slots=True)
class Turn:
    """What one event produced: the next state (a new frozen value), replies and effects."""

    state: State
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    save: bool = True  # False: leave no conversation behind (declined consent, groups)


# ---- buttons ---------------------------------------------------------------------------------------

GLOBAL_PREFIX = "g"  # stampless buttons (menus, rich menu): always valid


def btn(label: str, payload: str, **params: Any) -> Button:
    return Button(label=label, payload=payload, params=params)


def _gbtn(label: str, cmd: str) -> Button:
    return Button(label=label, payload=f"{GLOBAL_PREFIX}:{cmd}")


MENU_BUTTONS = (
    _gbtn("button.report", "report"),
    _gbtn("button.my_tips", "status"),
    _gbtn("button.help", "help"),
)


@dataclass(frozen=True, slots=True)
class Tap:
    stamp: str | None  # None for global buttons
    step: str
    value: str


def parse_payload(payload: str) -> Tap | None:
    parts = payload.split(":", 2)
    if len(parts) == 2 and parts[0] in (GLOBAL_PREFIX, "menu"):
        return Tap(stamp=None, step="g", value=parts[1])
    if len(parts) == 3 and re.fullmatch(r"[0-9a-f]{6}", parts[0]):
        return Tap(stamp=parts[0], step=parts[1], value=parts[2])
    return None


def stamp(ctx: Context, salt: int) -> str:
    """A fresh stamp for a flow's buttons: a tap on an older message's button is recognised."""
    return bytes(b ^ salt for b in ctx.token(3)).hex()


def to_menu(st: State, ctx: Context) -> State:
    """Back at the menu: everything goes but the tip just sent (its buttons still answer)."""
    return State(flow=Flow.MENU, stamp=stamp(ctx, 1), last_submitted=st.last_submitted)


# ---- the routing table -------------------------------------------------------------------------------


@dataclass(slots=True)
class Event:
    """One inbound event on its way through the routing table."""

    inbound: Inbound
    ctx: Context
    turn: Turn
    tap: Tap | None
    text: str  # the typed text, stripped

    @property
    def st(self) -> State:
        return self.turn.state

    @property
    def flow(self) -> Flow | None:
        return self.turn.state.flow


@dataclass(frozen=True, slots=True)
class Route:
    """`when` the event matches, `then` handles it; `then` returning False passes it on."""

    name: str
    when: Callable[[Event], bool]
    then: Callable[[Event], bool | None]
