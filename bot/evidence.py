"""Evidence files: what they really are (sniffed from bytes), their hash, and a metadata-free copy.

The platform's claimed MIME type is never trusted. Knows nothing of storage or platforms.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import filetype
from PIL import Image

_KINDS = {"image": "image", "video": "video", "audio": "audio"}


@dataclass(frozen=True, slots=True)
class Evidence:
    mime: str
    size: int
    sha256: str
    kind: str  # image | video | audio | file


def inspect(data: bytes) -> Evidence:
    guess = filetype.guess(data)
    mime = guess.mime if guess is not None else "application/octet-stream"
    kind = _KINDS.get(mime.split("/", 1)[0], "file")
    return Evidence(mime=mime, size=len(data), sha256=hashlib.sha256(data).hexdigest(), kind=kind)


def strip_metadata(data: bytes, mime: str) -> bytes:
    """A copy of an image without EXIF/GPS/XMP; other files are returned unchanged.

    The original stays stored as evidence; only copies shown to staff are stripped.
    """
    if mime not in ("image/jpeg", "image/png", "image/webp"):
        return data
    try:
        with Image.open(io.BytesIO(data)) as img:
            # Rebuilding from raw pixels leaves every metadata block behind.
            clean = Image.frombytes(img.mode, img.size, img.tobytes())
            out = io.BytesIO()
            fmt = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}[mime]
            clean.save(out, format=fmt)
            return out.getvalue()
    except (OSError, ValueError):
        return data
