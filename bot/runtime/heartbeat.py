"""Process identity and heartbeat: who holds a lease, and whether it is still alive.

Each running process (serve or worker) registers an incarnation under a stable instance name
and beats every second or two. The leases it takes (outbox rows, broadcast copies) carry its
incarnation, so they stay its own however long a send takes, and are free again at once when it
restarts (it recognises its previous incarnation) or a few seconds after it stops beating.
Talks to storage only through `bot.core.ports`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.core.ports import StorageUnavailable, Store

log = logging.getLogger("tipbot.heartbeat")

#: stopped processes stay listed (`tipbot status`) this long, then their rows are deleted
KEEP_STOPPED = timedelta(days=1)
FORGET_EVERY = timedelta(hours=1)


def default_instance(role: str, port: int | None = None) -> str:
    """Stable per host and role/port, so a restarted process finds its previous incarnation."""
    host = socket.gethostname()
    return f"{host}:{role}:{port}" if port is not None else f"{host}:{role}"


def pid_gone(pid: int) -> bool:
    """True when no process (or only a zombie) has this pid on this host."""
    if pid == os.getpid():
        return True  # the pid is ours now: whoever had it is gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # someone else's live process
    with contextlib.suppress(OSError, IndexError):
        # a killed process its parent has not reaped yet is dead for our purposes
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")
    return False


class Heartbeat:
    """Registers this process, refreshes its heartbeat, and frees the leases of processes that
    are gone: its own previous incarnation at start, silent ones after `timeout`."""

    def __init__(
        self,
        *,
        store: Store,
        instance: str,
        role: str,
        timeout: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_free: Callable[[], None] = lambda: None,
        host: str | None = None,
        pid: int | None = None,
        gone: Callable[[int], bool] = pid_gone,
    ) -> None:
        self.store = store
        self.instance = instance
        self.role = role
        self.timeout = timeout
        self.clock = clock
        self.on_free = on_free
        self.host = host or socket.gethostname()
        self.pid = pid if pid is not None else os.getpid()
        self.gone = gone
        self.incarnation = uuid.uuid4().hex
        #: a beat every fifth of the timeout, at most 2 s apart
        self.interval = min(2.0, max(0.1, timeout.total_seconds() / 5))
        self._registered = False
        # Others are judged silent only after this process has itself been beating for a whole
        # timeout: after a database outage every heartbeat is old, and the live ones need that
        # long to show they are alive.
        self._beating_since: datetime | None = None
        self._forgot_at: datetime | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="heartbeat")

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await (self.beat() if self._registered else self.register())
            except StorageUnavailable:
                self._beating_since = None
                log.warning("heartbeat: database unavailable")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)

    async def register(self) -> None:
        now = self.clock()
        async with self.store.transaction() as uow:
            earlier = await uow.processes.register(
                self.incarnation,
                instance=self.instance,
                role=self.role,
                host=self.host,
                pid=self.pid,
                now=now,
            )
            dead = [i for i, host, pid in earlier if host != self.host or self.gone(pid)]
            for i, _, pid in earlier:
                if i not in dead:
                    log.warning(
                        "instance name %s is also used by live process %s: its leases are left to it;"
                        " give each process its own TIPBOT_INSTANCE",
                        self.instance,
                        pid,
                    )
            restarted = await uow.processes.stop(dead, now, "restarted")
            freed = await uow.processes.free_leases(now)
            await uow.processes.forget(now - KEEP_STOPPED)
        self._registered = True
        self._beating_since = self._forgot_at = now
        log.info("process %s registered as %s (%s)", self.incarnation, self.instance, self.role)
        self._freed(restarted, freed, "a previous run of this instance")

    async def beat(self) -> None:
        now = self.clock()
        silent_before = now - self.timeout
        reaped: list[str] = []
        async with self.store.transaction() as uow:
            if not await uow.processes.beat(self.incarnation, now):
                log.warning(
                    "process %s was taken for dead (its heartbeat stalled); beating again", self.incarnation
                )
                await uow.processes.register(
                    self.incarnation,
                    instance=self.instance,
                    role=self.role,
                    host=self.host,
                    pid=self.pid,
                    now=now,
                )
            if self._beating_since is not None and now - self._beating_since >= self.timeout:
                silent = await uow.processes.silent(silent_before)
                reaped = await uow.processes.stop(silent, now, "silent", silent_before=silent_before)
            # also leases taken by a process after it was marked stopped
            freed = await uow.processes.free_leases(now)
            if self._forgot_at is None or now - self._forgot_at >= FORGET_EVERY:
                await uow.processes.forget(now - KEEP_STOPPED)
                self._forgot_at = now
        if self._beating_since is None:
            self._beating_since = now
        self._freed(reaped, freed, "a silent process")

    def _freed(self, processes: list[str], freed: tuple[int, int], whose: str) -> None:
        if processes:
            log.warning("processes %s stopped beating or restarted", ", ".join(processes))
        if any(freed):
            log.warning("freed %d outbox rows and %d broadcast copies of %s", *freed, whose)
            self.on_free()

    async def close(self) -> None:
        """Stop beating and mark this process stopped (after the relay and broadcaster have
        stopped: a live sender must keep beating), freeing any lease it still holds."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if not self._registered:
            return
        try:
            async with self.store.transaction() as uow:
                await uow.processes.stop([self.incarnation], self.clock(), "stopped")
        except StorageUnavailable:
            log.warning("could not record the stop of process %s", self.incarnation)
