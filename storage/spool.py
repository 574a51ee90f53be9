"""Disk spool for webhook events while the database is unreachable, replayed when it returns.

Each request's events become one encrypted file (written to a temporary name, flushed to disk,
then renamed), named so that replay keeps arrival order. Replaying inserts through the inbox's
UNIQUE key, so a file replayed twice (a crash between commit and unlink) adds nothing.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.core.model import InboxEvent
from storage.crypto import keyring

log = logging.getLogger("tipbot.spool")


class SpoolError(Exception):
    """The spool folder cannot be written."""


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()
        self._counter = 0

    def check(self) -> None:
        """Create the folder (mode 0700) and prove a file can be written, flushed and removed."""
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            probe = self.folder / f".probe-{os.getpid()}"
            with open(probe, "wb") as fh:
                fh.write(b"probe")
                fh.flush()
                os.fsync(fh.fileno())
            probe.unlink()
        except OSError as exc:
            raise SpoolError(f"spool folder {self.folder} is not writable: {type(exc).__name__}") from exc

    def _name(self) -> str:
        with self._lock:
            self._counter += 1
            return f"{time.time_ns():020d}-{os.getpid()}-{self._counter:06d}.spool"

    def put(self, events: Sequence[InboxEvent]) -> None:
        """Write one request's events durably; raises OSError when that is impossible."""
        document = [
            {
                "channel": e.channel,
                "event_id": e.event_id,
                "chat_id": e.chat_id,
                "occurred_at": e.occurred_at.isoformat(),
                "payload": e.payload,
            }
            for e in events
        ]
        data = keyring().encrypt(json.dumps(document, ensure_ascii=False).encode("utf-8"))
        name = self._name()
        tmp = self.folder / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.folder / name)
        _fsync_dir(self.folder)

    def files(self) -> list[Path]:
        try:
            return sorted(self.folder.glob("*.spool"))
        except OSError:
            return []

    def pending(self) -> int:
        return len(self.files())

    @staticmethod
    def read(path: Path) -> list[InboxEvent]:
        document: list[dict[str, Any]] = json.loads(keyring().decrypt(path.read_bytes()))
        return [
            InboxEvent(
                channel=d["channel"],
                event_id=d["event_id"],
                chat_id=d["chat_id"],
                occurred_at=datetime.fromisoformat(d["occurred_at"]),
                payload=d["payload"],
            )
            for d in document
        ]
