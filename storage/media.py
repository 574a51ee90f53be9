"""Evidence bytes on disk: encrypted, under random names, never the sender's file name."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from storage.crypto import keyring


class FileMediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        if not name.isalnum():
            raise ValueError("bad media name")
        return self.root / name[:2] / name

    def put(self, data: bytes) -> str:
        name = secrets.token_hex(20)
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            fh.write(keyring().encrypt(data))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        tmp.replace(path)
        return name

    def get(self, name: str) -> bytes:
        return keyring().decrypt(self._path(name).read_bytes())

    def rewrite(self, name: str) -> None:
        """Encrypt a file again under the newest key (key rotation)."""
        path = self._path(name)
        if not path.exists():
            return
        data = self.get(name)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            fh.write(keyring().encrypt(data))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        tmp.replace(path)

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)
