"""Evidence files: what they really are (sniffed from bytes), their hash, and the copy staff may see.

The platform's claimed MIME type is never trusted. `scrub` is pure and bounded; it runs in the image
worker (`bot.runtime.scrubber`), never on the event loop. Knows nothing of storage or platforms.
"""

from __future__ import annotations

import hashlib
import io
import math
import warnings
from dataclasses import dataclass
from enum import StrEnum

import filetype
from PIL import Image, ImageFile, UnidentifiedImageError

_KINDS = {"image": "image", "video": "video", "audio": "audio"}

#: a phone photo is at most about 50 megapixels; a bigger bound is a setting
DEFAULT_MAX_PIXELS = 50_000_000

#: source formats whose copy is a JPEG (photographs); everything else becomes a lossless PNG
_PHOTO_FORMATS = frozenset({"JPEG", "MPO", "HEIF", "AVIF", "JPEG2000", "DCX"})
#: formats whose frames are kept (an animation or a multi-page scan), each written back as itself
_MULTI_FRAME = {"GIF": "GIF", "PNG": "PNG", "WEBP": "WEBP", "TIFF": "TIFF"}
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_JPEG_SCALES = (2, 4, 8)  # libjpeg decodes at these reductions for next to nothing


class Outcome(StrEnum):
    STRIPPED = "stripped"  # an image rebuilt from its pixels alone
    AS_IS = "as_is"  # a non-image file sent unchanged (only when the operator allows it)
    HELD_FILE = "held_file"  # a non-image file kept back (may carry its author or a location)
    HELD_UNREADABLE = "held_unreadable"  # an image that could not be decoded (truncated, corrupt)
    HELD_TOO_LARGE = "held_too_large"  # more pixels than the bound, even after JPEG reduction
    HELD_WORKER = "held_worker"  # the image worker died, ran out of memory or time


@dataclass(frozen=True, slots=True)
class Evidence:
    mime: str
    size: int
    sha256: str
    kind: str  # image | video | audio | file


@dataclass(frozen=True, slots=True)
class Scrubbed:
    """What may leave the store for staff: `data` is None when nothing may (the file is held)."""

    data: bytes | None
    outcome: Outcome

    @property
    def held(self) -> bool:
        return self.data is None


def inspect(data: bytes) -> Evidence:
    guess = filetype.guess(data)
    mime = guess.mime if guess is not None else "application/octet-stream"
    kind = _KINDS.get(mime.split("/", 1)[0], "file")
    return Evidence(mime=mime, size=len(data), sha256=hashlib.sha256(data).hexdigest(), kind=kind)


def scrub(
    data: bytes, mime: str, *, max_pixels: int = DEFAULT_MAX_PIXELS, send_files: bool = False
) -> Scrubbed:
    """The copy of one evidence file that staff may receive; the stored original is never changed.

    Any file Pillow reads is an image, whatever was sniffed: it is rebuilt from its pixels alone
    (no EXIF, GPS, XMP, ICC, comments or text chunks) or held. Nothing that looks like an image is
    ever sent unstripped. Other files are held unless `send_files`: PDFs and office files carry their
    author's name, videos the place and device they were recorded with, and nothing here can take
    those out safely.
    """
    known_other = mime != "application/octet-stream" and not mime.startswith("image/")
    if not known_other:
        # Unknown bytes are tried too: Pillow reads formats (PPM, TGA, PCX, ...) filetype does not know.
        copy = _image_copy(data, max_pixels)
        if copy is not None:
            return copy
        if mime.startswith("image/"):
            return Scrubbed(None, Outcome.HELD_UNREADABLE)
    return Scrubbed(data, Outcome.AS_IS) if send_files else Scrubbed(None, Outcome.HELD_FILE)


def _image_copy(data: bytes, max_pixels: int) -> Scrubbed | None:
    """A stripped copy, a held verdict, or None when Pillow does not take the bytes for an image."""
    with warnings.catch_warnings():
        # The bound that counts is `max_pixels`, checked below from the header before decoding;
        # Pillow's own warning says nothing more (the image worker lifts Pillow's bound entirely so
        # that a huge JPEG can still be decoded smaller).
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            return None
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            return Scrubbed(None, Outcome.HELD_TOO_LARGE)
        except (OSError, ValueError, SyntaxError, EOFError):
            return Scrubbed(None, Outcome.HELD_UNREADABLE)
        try:
            with img:
                return _rebuild(img, max_pixels)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            return Scrubbed(None, Outcome.HELD_TOO_LARGE)
        except MemoryError:
            return Scrubbed(None, Outcome.HELD_WORKER)
        except Exception:  # a decoder's error of any class: never a reason to send the original
            return Scrubbed(None, Outcome.HELD_UNREADABLE)


def _rebuild(img: ImageFile.ImageFile, max_pixels: int) -> Scrubbed:
    source = img.format or ""
    width, height = img.size
    if width * height > max_pixels:
        if source not in ("JPEG", "MPO"):
            return Scrubbed(None, Outcome.HELD_TOO_LARGE)
        # Decided from the header, before any pixel is decoded: a JPEG too big to show is decoded
        # at 1/2, 1/4 or 1/8 of its size instead (a phone's 108 or 200 megapixel mode).
        scale = next(
            (s for s in _JPEG_SCALES if math.ceil(width / s) * math.ceil(height / s) <= max_pixels), 0
        )
        if not scale:
            return Scrubbed(None, Outcome.HELD_TOO_LARGE)
        img.draft(img.mode, (math.ceil(width / scale), math.ceil(height / scale)))
        if img.size[0] * img.size[1] > max_pixels:
            return Scrubbed(None, Outcome.HELD_TOO_LARGE)
    orientation = _orientation(img)
    frames: list[Image.Image] = []
    durations: list[int] = []
    budget = max_pixels
    n_frames = getattr(img, "n_frames", 1) if source in _MULTI_FRAME else 1
    for index in range(n_frames):
        if index:
            img.seek(index)
        pixels = img.size[0] * img.size[1]
        if pixels > budget:
            if not frames:
                return Scrubbed(None, Outcome.HELD_TOO_LARGE)
            break  # the frames that fit the bound are shown; the original keeps every one
        budget -= pixels
        frames.append(_pixels_only(img, orientation))
        durations.append(int(img.info.get("duration") or 100))
    out = io.BytesIO()
    first = frames[0]
    if len(frames) > 1:
        fmt = _MULTI_FRAME[source]
        extra: dict[str, object] = {"duration": durations, "loop": 0} if fmt != "TIFF" else {}
        first.save(out, format=fmt, save_all=True, append_images=frames[1:], **extra)
    elif source in _PHOTO_FORMATS and first.mode in ("RGB", "L"):
        first.save(out, format="JPEG", quality=90)
    else:
        first.save(out, format="PNG")
    return Scrubbed(out.getvalue(), Outcome.STRIPPED)


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(0x0112, 1)
    except Exception:  # a malformed EXIF block is dropped anyway; the picture is kept as stored
        return 1
    return value if isinstance(value, int) else 1


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _pixels_only(frame: Image.Image, orientation: int) -> Image.Image:
    """A new image holding only the frame's pixels: an image made by `Image.new` has an empty `info`,
    so no encoder finds an EXIF block, ICC profile, comment or text chunk to write back."""
    transparent = frame.mode in _ALPHA_MODES or "transparency" in frame.info
    if transparent:
        mode = "RGBA"
    elif frame.mode in ("1", "L") or frame.mode.startswith(("I", "F")):
        mode = "L"
    else:
        mode = "RGB"
    pixels = frame if frame.mode == mode else frame.convert(mode)
    clean = Image.new(mode, frame.size)
    clean.paste(pixels)
    del pixels
    method = _TRANSPOSE.get(orientation)
    # Stripping EXIF drops its orientation tag: turn the pixels so the copy still shows upright.
    return clean.transpose(method) if method is not None else clean
