"""Case codes a volunteer can read aloud: no 0/O, 1/I/L, 2/Z, 5/S, 8/B look-alikes."""

from __future__ import annotations

import re

ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
PREFIX = "TB"
_CODE = re.compile(
    r"\bTB[-\s]?([" + ALPHABET + r"]{4})[-\s]?([" + ALPHABET + r"]{4})\b",
    re.IGNORECASE,
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
