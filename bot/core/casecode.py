"""Codes a volunteer can read aloud (case codes, chat link codes): no 0/O, 1/I/L, 2/Z, 5/S, 8/B
look-alikes."""

from __future__ import annotations

import re

ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
PREFIX = "TB"
_CODE = re.compile(
    r"\bTB[-\s]?([" + ALPHABET + r"]{4})[-\s]?([" + ALPHABET + r"]{4})\b",
    re.IGNORECASE,
)
_LINK_CODE = re.compile(
    r"\bLINK[-\s]?([" + ALPHABET + r"]{4})[-\s]?([" + ALPHABET + r"]{4})\b", re.IGNORECASE
)


def generate(entropy: bytes) -> str:
    """Eight symbols (~37 bits) from the given random bytes."""
    if len(entropy) < 8:
        raise ValueError("need at least 8 random bytes")
    n = int.from_bytes(entropy[:8], "big")
    chars = []
    for _ in range(8):
        n, r = divmod(n, len(ALPHABET))
        chars.append(ALPHABET[r])
    return f"{PREFIX}-{''.join(chars[:4])}-{''.join(chars[4:])}"


def find(text: str) -> str | None:
    """A case code mentioned in text, in canonical form (spaces, dashes and case forgiven)."""
    m = _CODE.search(text.upper())
    if not m:
        return None
    return f"{PREFIX}-{m.group(1).upper()}-{m.group(2).upper()}"


_NEAR_CODE = re.compile(r"\bTB[-\s]?([A-Z0-9]{4})[-\s]?([A-Z0-9]{4})\b", re.IGNORECASE)


def near_miss(text: str) -> str | None:
    """A case code typed with a character codes never use (0/O, 1/I/L, 2/Z, 5/S, 8/B), as typed."""
    if find(text) is not None:
        return None
    m = _NEAR_CODE.search(text.upper())
    return f"{PREFIX}-{m.group(1)}-{m.group(2)}" if m else None


def new_link_code(entropy: bytes) -> str:
    """A code that links this chat with the same volunteer's chat on another platform."""
    return "LINK" + generate(entropy).removeprefix("TB")


def find_link_code(text: str) -> str | None:
    m = _LINK_CODE.search(text.upper())
    return f"LINK-{m.group(1)}-{m.group(2)}" if m else None
