"""Image intake for the memorial wall: check, clean, store by content hash, make thumbnails.

Every uploaded screenshot is untrusted (safety-research §7 E6). `ImageStore.ingest_many` turns raw
bytes into stored, cleaned images or raises a `UserError` with an `images.*` key, and stores nothing
unless every image of the batch passed:

- the real type comes from magic bytes, and Pillow may only open PNG, JPEG and WEBP;
- the pixel count is checked from the header, before any pixel is decoded, against
  `ImageLimits.max_pixels`; Pillow's own `DecompressionBombWarning` is turned into an error too;
- truncated or corrupt files are rejected (Pillow's tolerant loading is never enabled);
- images are re-encoded from their pixels, so EXIF (GPS, camera), ICC and text chunks are gone;
  EXIF orientation is applied first so nothing appears sideways;
- files are named by the sha256 of the re-encoded bytes under `<root>/ab/abcdef….png|jpg`, so the
  same screenshot posted twice is stored once; thumbnails live under `<root>/thumbs/`.

Decoding runs in a worker thread (`asyncio.to_thread`); file names never come from the uploader.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import uuid
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from PIL import Image, ImageOps

from bot.core.errors import UserError

MB: Final = 1024 * 1024

_HASH_RE: Final = re.compile(r"^[0-9a-f]{64}$")
_EXTENSIONS: Final = ("png", "jpg")


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """Caps for one post's images (defaults follow safety-research §7 E5/E6)."""

    max_bytes: int = 10 * MB
    max_pixels: int = 40_000_000
    max_side: int = 20_000
    max_images: int = 10
    thumb_box: tuple[int, int] = (480, 720)
    jpeg_quality: int = 90
    thumb_quality: int = 80


@dataclass(frozen=True, slots=True)
class CleanImage:
    """A checked and re-encoded image, not yet on disk."""

    digest: str
    ext: str
    width: int
    height: int
    data: bytes
    thumb: bytes


@dataclass(frozen=True, slots=True)
class StoredImage:
    """An image on disk, known by its content hash."""

    digest: str
    ext: str
    width: int
    height: int
    size: int

    @property
    def name(self) -> str:
        """The stored file name (`<sha256>.<ext>`), safe to use in exports."""
        return f"{self.digest}.{self.ext}"


def sniff_format(data: bytes) -> str | None:
    """The Pillow format name from magic bytes, or None when not an allowed image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def clean_image(data: bytes, limits: ImageLimits) -> CleanImage:
    """Check and re-encode one image (blocking; run it in a thread).

    Raises `UserError` with `images.too_big`, `images.bad_format`, `images.too_many_pixels` or
    `images.corrupt`.
    """
    if len(data) > limits.max_bytes:
        raise UserError("images.too_big", limit_mb=limits.max_bytes // MB)
    fmt = sniff_format(data)
    if fmt is None:
        raise UserError("images.bad_format")
    with warnings.catch_warnings():
        # Pillow warns between its own limit and twice it; a warning here must stop the decode.
        # (catch_warnings is process-wide, not per thread: `_check_size` below is the guard that
        # always holds, this filter is the second line behind it.)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[fmt]) as source:
                _check_size(source.size, limits)
                source.seek(0)  # animated WEBP/APNG: the first frame is the screenshot
                source.load()
                upright = ImageOps.exif_transpose(source)
                return _reencode(upright, fmt, limits)
        except UserError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise UserError(
                "images.too_many_pixels", limit_mp=limits.max_pixels // 1_000_000
            ) from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            # Truncated data ("image file is truncated"), broken chunks, bad headers.
            raise UserError("images.corrupt") from exc


def _check_size(size: tuple[int, int], limits: ImageLimits) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise UserError("images.corrupt")
    if width * height > limits.max_pixels or max(width, height) > limits.max_side:
        raise UserError("images.too_many_pixels", limit_mp=limits.max_pixels // 1_000_000)


def _reencode(image: Image.Image, fmt: str, limits: ImageLimits) -> CleanImage:
    """Encode the pixels alone: photos stay JPEG, screenshots (PNG/WEBP) become lossless PNG."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if fmt == "JPEG":
        pixels = image.convert("RGB")
        ext, save_kw = "jpg", {"format": "JPEG", "quality": limits.jpeg_quality}
    else:
        pixels = image.convert("RGBA" if has_alpha else "RGB")
        ext, save_kw = "png", {"format": "PNG", "compress_level": 6}
    # convert() copies `info`; clearing it drops ICC profiles, text chunks and EXIF for good.
    pixels.info = {}
    out = io.BytesIO()
    pixels.save(out, **save_kw)  # type: ignore[arg-type]
    data = out.getvalue()
    return CleanImage(
        digest=hashlib.sha256(data).hexdigest(),
        ext=ext,
        width=pixels.width,
        height=pixels.height,
        data=data,
        thumb=_thumbnail(pixels, limits),
    )


def _thumbnail(image: Image.Image, limits: ImageLimits) -> bytes:
    """A JPEG preview at most `thumb_box` in size.

    Long scrolling screenshots keep a readable width: the preview shows their top part (the
    full image is a click away) instead of shrinking the whole strip to a sliver.
    """
    box_w, box_h = limits.thumb_box
    width, height = image.size
    scale = min(1.0, box_w / width)
    if height * scale > box_h and height > width * 2:
        image = image.crop((0, 0, width, round(box_h / scale)))
    thumb = image.copy()
    thumb.thumbnail(limits.thumb_box, Image.Resampling.LANCZOS)
    if thumb.mode == "RGBA":
        # JPEG has no alpha: lay transparent screenshots on white, as chat apps show them.
        flat = Image.new("RGB", thumb.size, (255, 255, 255))
        flat.paste(thumb, mask=thumb.getchannel("A"))
        thumb = flat
    out = io.BytesIO()
    thumb.convert("RGB").save(out, format="JPEG", quality=limits.thumb_quality, optimize=True)
    return out.getvalue()


class ImageStore:
    """Cleaned images on disk under `root`, addressed by sha256 digest."""

    def __init__(self, root: Path, limits: ImageLimits | None = None) -> None:
        self.root = root
        self.limits = limits or ImageLimits()
        # Held by callers across "store files + add rows" and "remove rows + delete files", so a
        # file is never deleted while a new post is about to reference it.
        self.lock = asyncio.Lock()

    async def ingest(self, data: bytes) -> StoredImage:
        """Check, clean and store one image (see `ingest_many`)."""
        return (await self.ingest_many([data]))[0]

    async def ingest_many(self, blobs: Sequence[bytes]) -> list[StoredImage]:
        """Check and clean every image, then store them all; any bad image stores none.

        Duplicates (inside the batch or already on disk) are stored once; the result keeps the
        order of `blobs` without repeating a digest.
        """
        return await self.write_many(await self.clean_many(blobs))

    async def clean_many(self, blobs: Sequence[bytes]) -> list[CleanImage]:
        """Check and re-encode a batch in a worker thread; raises on the first bad image."""
        if not blobs:
            raise UserError("images.none")
        if len(blobs) > self.limits.max_images:
            raise UserError("images.too_many", limit=self.limits.max_images, count=len(blobs))
        for blob in blobs:
            # Cheap checks for the whole batch first, so one bad file costs no decoding.
            if len(blob) > self.limits.max_bytes:
                raise UserError("images.too_big", limit_mb=self.limits.max_bytes // MB)
            if sniff_format(blob) is None:
                raise UserError("images.bad_format")
        return [await asyncio.to_thread(clean_image, blob, self.limits) for blob in blobs]

    async def write_many(self, cleaned: Sequence[CleanImage]) -> list[StoredImage]:
        """Store cleaned images (each digest once, files that exist are kept as they are)."""
        stored: list[StoredImage] = []
        seen: set[str] = set()
        for image in cleaned:
            if image.digest in seen:
                continue
            seen.add(image.digest)
            await asyncio.to_thread(self._write, image)
            stored.append(
                StoredImage(image.digest, image.ext, image.width, image.height, len(image.data))
            )
        return stored

    def path(self, digest: str, ext: str) -> Path:
        """Where the full image with this digest lives (whether or not it exists)."""
        _check_digest(digest, ext)
        return self.root / digest[:2] / f"{digest}.{ext}"

    def thumb_path(self, digest: str) -> Path:
        """Where the JPEG thumbnail of this digest lives."""
        _check_digest(digest, "jpg")
        return self.root / "thumbs" / digest[:2] / f"{digest}.jpg"

    def exists(self, digest: str, ext: str) -> bool:
        """True when the full image is on disk."""
        return self.path(digest, ext).is_file()

    async def read(self, digest: str, ext: str) -> bytes:
        """The stored full image."""
        return await asyncio.to_thread(self.path(digest, ext).read_bytes)

    async def read_thumb(self, digest: str) -> bytes:
        """The stored thumbnail."""
        return await asyncio.to_thread(self.thumb_path(digest).read_bytes)

    async def delete(self, digests: Iterable[tuple[str, str]]) -> int:
        """Remove images and thumbnails (call only for digests no post references); returns count."""
        items = list(digests)
        return await asyncio.to_thread(self._delete, items)

    def _delete(self, items: list[tuple[str, str]]) -> int:
        removed = 0
        for digest, ext in items:
            self.thumb_path(digest).unlink(missing_ok=True)
            full = self.path(digest, ext)
            if full.is_file():
                full.unlink()
                removed += 1
        return removed

    async def sweep(self, referenced: set[str]) -> int:
        """Delete stored images whose digest is not in `referenced` (files left by a crash)."""
        return await asyncio.to_thread(self._sweep, referenced)

    def _sweep(self, referenced: set[str]) -> int:
        if not self.root.is_dir():
            return 0
        stale = [
            (path.stem, path.suffix[1:])
            for path in self.root.glob("??/*.*")
            if _HASH_RE.match(path.stem) and path.stem not in referenced
        ]
        return self._delete([(d, e) for d, e in stale if e in _EXTENSIONS])

    def _write(self, image: CleanImage) -> None:
        _write_once(self.path(image.digest, image.ext), image.data)
        _write_once(self.thumb_path(image.digest), image.thumb)


def _check_digest(digest: str, ext: str) -> None:
    # Digests come from the database, but a path must never be built from anything else.
    if not _HASH_RE.match(digest) or ext not in _EXTENSIONS:
        raise ValueError("not an image digest")


def _write_once(path: Path, data: bytes) -> None:
    """Write `data` to `path` unless it is already there (content-addressed, so identical)."""
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique temporary name: two posts of the same screenshot may write it at the same time.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    # Atomic rename: a crash never leaves a half-written file under its final name.
    os.replace(tmp, path)
