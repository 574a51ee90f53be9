"""Encryption at rest and keyed hashing; the encrypted column types are built here.

Keys come from TIPBOT_SECRET_KEY (plus older keys for rotation); nothing is read at import time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.engine import Dialect
from sqlalchemy.types import LargeBinary, TypeDecorator

from bot.core.cleantext import without_surrogates


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"tipbot/v1", info=purpose).derive(
        secret.encode("utf-8")
    )


class Keyring:
    """Fernet encryption with rotation (newest key first) and an HMAC key for lookups."""

    def __init__(self, secret: str, old_secrets: list[str] | tuple[str, ...] = ()) -> None:
        if len(secret) < 16:
            raise ValueError("TIPBOT_SECRET_KEY must be at least 16 characters")
        keys = [secret, *old_secrets]
        self._fernet = MultiFernet(
            [Fernet(base64.urlsafe_b64encode(_derive(k, b"encryption"))) for k in keys]
        )
        self._hmac_key = _derive(secret, b"lookup-hash")
        # The audit chain's keys: rows are sealed with the newest, and rows sealed before a
        # rotation still verify under an older one.
        self._audit_keys = [_derive(k, b"audit-chain") for k in keys]
        self._blind_key = _derive(secret, b"blind-index")

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        return self._fernet.decrypt(token)

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt a token under the newest key."""
        return self._fernet.rotate(token)

    def lookup_hash(self, value: str) -> str:
        return hmac.new(self._hmac_key, _utf8(value), hashlib.sha256).hexdigest()

    def audit_seal(self, content: bytes) -> str:
        """The keyed hash of an audit row's content (newest key)."""
        return hmac.new(self._audit_keys[0], content, hashlib.sha256).hexdigest()

    def audit_sealed(self, content: bytes, seal: str) -> bool:
        """Whether `seal` is the keyed hash of `content` under the current or an older key."""
        return any(
            hmac.compare_digest(hmac.new(k, content, hashlib.sha256).hexdigest(), seal)
            for k in self._audit_keys
        )

    def blind_hash(self, value: str) -> int:
        """A 64-bit keyed hash (signed, as a BIGINT holds it) for the related-tips index; a key of
        its own, so it cannot be compared with the lookup hashes. Rotated with the secret key
        (`tipbot db rotate-key` rebuilds the index)."""
        digest = hmac.new(self._blind_key, _utf8(value), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big", signed=True)


def _utf8(value: str) -> bytes:
    """UTF-8 that cannot raise: a lone surrogate (valid in a Python str, not in UTF-8) becomes
    U+FFFD. Events are cleaned where they enter; this keeps any other path from failing a write."""
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        return without_surrogates(value).encode("utf-8")


_keyring: Keyring | None = None


def install_keyring(keyring: Keyring) -> None:
    """Set the process keyring; column types need it to bind and load values."""
    global _keyring
    _keyring = keyring


def keyring() -> Keyring:
    if _keyring is None:
        raise RuntimeError("storage keyring not installed: build the app through create_app()")
    return _keyring


class EncryptedText(TypeDecorator[str]):
    """A text column stored as a Fernet token."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return keyring().encrypt(_utf8(value))

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        try:
            return keyring().decrypt(bytes(value)).decode("utf-8")
        except InvalidToken as exc:
            raise ValueError("cannot decrypt a stored value: wrong TIPBOT_SECRET_KEY?") from exc


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON document stored as a Fernet token."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        raw = _utf8(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
        return keyring().encrypt(raw)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        try:
            return json.loads(keyring().decrypt(bytes(value)))
        except InvalidToken as exc:
            raise ValueError("cannot decrypt a stored value: wrong TIPBOT_SECRET_KEY?") from exc
