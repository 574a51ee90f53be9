"""Evidence samples for the tests: images carrying planted metadata, and a decompression bomb.

Each sample plants the same marker (in the camera model, comments, XMP, PNG text chunks) beside a
GPS block; `assert_clean` reads a copy back with Pillow and searches its raw bytes for all of them.
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, PngImagePlugin

MARK = "PLANTED-7Q"  # in every text a sample carries: camera model, comments, XMP, PNG chunks
GPS_IFD = 0x8825


def planted_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[GPS_IFD] = {1: "N", 2: (14.0, 52.0, 30.0), 3: "E", 4: (103.0, 29.0, 0.0)}
    exif[0x010F] = f"{MARK}-maker"
    exif[0x0110] = f"{MARK}-model"
    exif[0x010E] = f"{MARK}-description"
    # TIFF writes IFDs it can read back: give it an EXIF block parsed from bytes
    parsed = Image.Exif()
    parsed.load(exif.tobytes())
    return parsed


def picture(size: tuple[int, int] = (64, 48), mode: str = "RGB") -> Image.Image:
    img = Image.new(mode, size)
    img.paste((200, 30, 30) if mode.startswith("RGB") else 120, (0, 0, size[0] // 2, size[1]))
    return img


def save(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


def jpeg_with_gps(size: tuple[int, int] = (64, 48)) -> bytes:
    return save(
        picture(size), "JPEG", exif=planted_exif(), comment=MARK.encode(), xmp=f"<x>{MARK}</x>".encode()
    )


def png_with_chunks() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", f"{MARK}-text")
    info.add_text("Author", f"{MARK}-zipped" * 20, zip=True)
    info.add_itxt("XML:com.adobe.xmp", f"<x>{MARK}</x>")
    return save(picture(), "PNG", pnginfo=info, exif=planted_exif())


def frames(n: int) -> list[Image.Image]:
    return [Image.new("RGB", (32, 32), (i * 70, 20, 200 - i * 50)) for i in range(n)]


def tiff_pages() -> bytes:
    first, *rest = frames(3)
    return save(first, "TIFF", save_all=True, append_images=rest, exif=planted_exif())


def animated_gif() -> bytes:
    first, *rest = frames(3)
    return save(first, "GIF", save_all=True, append_images=rest, comment=MARK.encode(), duration=120, loop=0)


def png_bomb(width: int = 14_000, height: int = 12_000) -> bytes:
    """A PNG of width × height black pixels: about half a megabyte, 504 MB once decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer = zlib.compressobj(9)
    row = bytes(1 + width * 3)  # filter byte + RGB
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def assert_clean(copy: bytes) -> Image.Image:
    assert MARK.encode() not in copy
    assert b"Exif\x00\x00" not in copy and b"http://ns.adobe.com/xap" not in copy and b"<x>" not in copy
    img = Image.open(io.BytesIO(copy))
    exif = img.getexif()
    assert GPS_IFD not in exif and 0x010F not in exif and 0x0110 not in exif and 0x010E not in exif
    assert not (
        set(img.info) & {"exif", "xmp", "comment", "icc_profile", "Comment", "Author", "XML:com.adobe.xmp"}
    )
    img.load()  # the copy decodes
    return img
