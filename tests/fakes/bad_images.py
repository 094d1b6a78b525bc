"""Hostile and awkward image fixtures, built in memory (nothing committed)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bomb(side: int = 30_000) -> bytes:
    """A valid 1-bit PNG of side×side pixels (900 MP by default) that compresses to ~100 KB.

    Built row by row with zlib so making it never holds the pixels in memory.
    """
    row = b"\x00" + b"\x00" * ((side + 7) // 8)  # filter byte + packed black pixels
    compressor = zlib.compressobj(9)
    parts = []
    block = row * 256
    for _ in range(side // 256):
        parts.append(compressor.compress(block))
    parts.append(compressor.compress(row * (side % 256)))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


def photo_with_gps(fmt: str = "JPEG", orientation: int | None = None) -> bytes:
    """A small photo carrying EXIF camera and GPS tags (and optionally an orientation)."""
    image = Image.new("RGB", (120, 60), (200, 120, 80))
    for x in range(0, 120, 10):
        image.putpixel((x, 5), (0, 0, 0))
    exif = Image.Exif()
    exif[0x010F] = "CanonCanary"  # Make
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 50.0)})
    if orientation:
        exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, format=fmt, exif=exif)
    return out.getvalue()


def truncated_jpeg() -> bytes:
    """A real JPEG cut off half way through its scan data."""
    image = Image.effect_noise((400, 300), 60).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    data = out.getvalue()
    return data[: len(data) // 2]


def small_png(
    colour: tuple[int, int, int] = (10, 20, 30), size: tuple[int, int] = (40, 30)
) -> bytes:
    """A tiny valid PNG in one colour."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()
