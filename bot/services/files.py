"""Safe intake of uploaded files, shared by every importer.

Everything a person uploads is untrusted: its declared size, its bytes, its encoding, its name and,
for archives, every member name and size. This module turns those into plain Python values or a
`UserError` with a `files.*` catalog key, and never touches the file system with a name it was given:

- `ensure_size` rejects a declared or actual size past a cap (before any download when declared).
- `SafeZip` inspects a zip archive's central directory *before* decompressing anything (total
  uncompressed size, entry count, per-entry ratio, symlinks, absolute or `..` paths) and then reads
  members into capped streams. It never extracts and never uses a member name as a path.
- `decode_text` detects the encoding of a text file (UTF-8 with or without BOM, UTF-16, GB18030/GBK,
  Big5) with a preference for Chinese encodings that fit the text.
- `display_name` makes an original file name safe to show: escaped and at most 100 characters.
"""

from __future__ import annotations

import io
import re
import stat
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from lzma import LZMAError
from pathlib import Path
from typing import IO, Final, Protocol

from charset_normalizer import from_bytes

from bot.core.errors import UserError

MB: Final = 1024 * 1024

#: Tiny entries cannot be bombs, and tiny runs of spaces compress very well; ratios count above this.
RATIO_FLOOR_BYTES: Final = 64 * 1024

_DISPLAY_MAX: Final = 100
_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]()<])")
_MENTION = re.compile(r"@(?=\S)")


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps applied to one upload; the defaults follow safety-research §7 E5 and E7."""

    max_file_bytes: int = 20 * MB
    max_total_uncompressed: int = 200 * MB
    max_entries: int = 10_000
    max_ratio: float = 100.0
    max_member_bytes: int = 200 * MB


@dataclass(frozen=True, slots=True)
class ZipEntry:
    """One member of an inspected archive, as declared by its central directory."""

    name: str
    size: int
    compressed_size: int


def ensure_size(size: int, limit: int) -> None:
    """Reject a declared or measured size above `limit` (call it before downloading)."""
    if size > limit:
        raise UserError("files.too_large", size_mb=_mb(size), limit_mb=_mb(limit))


def ensure_not_empty(data: bytes) -> None:
    """Reject an upload that has no content at all."""
    if not data.strip():
        raise UserError("files.empty")


def _mb(size: int) -> str:
    return f"{size / MB:.1f}"


def _is_unsafe_name(name: str) -> bool:
    """True for absolute paths, drive letters, `..` components and control characters."""
    if not name or "\x00" in name:
        return True
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized):
        return True
    return any(part == ".." for part in normalized.split("/"))


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    # Unix-made archives keep st_mode in the high 16 bits of external_attr.
    mode = info.external_attr >> 16
    return info.create_system == 3 and stat.S_ISLNK(mode)


def inspect_zip(archive: zipfile.ZipFile, limits: Limits) -> list[ZipEntry]:
    """Check every central-directory entry against `limits` without decompressing anything."""
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise UserError("files.zip_bomb")
    total = 0
    entries: list[ZipEntry] = []
    for info in infos:
        if _is_unsafe_name(info.filename) or _is_symlink(info):
            raise UserError("files.unsafe_archive")
        if info.flag_bits & 0x1:
            raise UserError("files.bad_archive")  # encrypted members cannot be read anyway
        total += info.file_size
        if total > limits.max_total_uncompressed or info.file_size > limits.max_member_bytes:
            raise UserError("files.zip_bomb")
        if info.file_size > RATIO_FLOOR_BYTES:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_ratio:
                raise UserError("files.zip_bomb")
        if not info.is_dir():
            entries.append(ZipEntry(info.filename, info.file_size, info.compress_size))
    return entries


class Readable(Protocol):
    """Anything with a binary `read` and a `close` (files, zip members, streams)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class CappedReader(io.RawIOBase):
    """A read-only stream that fails with `key` once more than `cap` bytes came out.

    Wraps a zip member (whose declared size may lie) or any other binary stream.
    """

    def __init__(self, raw: Readable, cap: int, key: str = "files.zip_bomb") -> None:
        super().__init__()
        self._raw = raw
        self._cap = cap
        self._key = key
        self._seen = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._cap - self._seen + 1)
        data = self._raw.read(want)
        self._seen += len(data)
        if self._seen > self._cap:
            raise UserError(self._key)
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


class SafeZip:
    """A zip archive inspected on open; members are read only through capped streams.

    `source` is the archive's bytes or a path the caller chose (never a path from the archive).
    """

    def __init__(self, source: bytes | Path, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        if isinstance(source, bytes):
            ensure_size(len(source), self.limits.max_file_bytes)
            fileobj: IO[bytes] = io.BytesIO(source)
        else:
            ensure_size(source.stat().st_size, self.limits.max_file_bytes)
            fileobj = source.open("rb")
        try:
            self._zip = zipfile.ZipFile(fileobj)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            fileobj.close()
            raise UserError("files.bad_archive") from exc
        try:
            self.entries = {e.name: e for e in inspect_zip(self._zip, self.limits)}
        except BaseException:
            self._zip.close()
            fileobj.close()
            raise
        self._fileobj = fileobj

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the archive (and the file it was read from)."""
        self._zip.close()
        self._fileobj.close()

    def names(self) -> list[str]:
        """Member names in archive order (for matching only; never used as paths)."""
        return list(self.entries)

    def open(self, name: str) -> CappedReader:
        """A capped binary stream of one member; corrupt data raises `files.bad_archive`."""
        entry = self.entries.get(name)
        if entry is None:
            raise UserError("files.missing_member")
        cap = min(entry.size, self.limits.max_member_bytes)
        try:
            raw = self._zip.open(name)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError) as exc:
            raise UserError("files.bad_archive") from exc
        return CappedReader(_GuardedMember(raw), cap)

    def read(self, name: str) -> bytes:
        """One whole member, capped at its declared size."""
        with self.open(name) as stream:
            return stream.read()


class _GuardedMember(io.RawIOBase):
    """Maps decompression failures inside a member to `files.bad_archive`."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            return self._raw.read(-1 if size is None else size)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error, LZMAError) as exc:
            raise UserError("files.bad_archive") from exc

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def is_zip(data: bytes) -> bool:
    """True when the bytes start like a zip archive (magic bytes, not the file name)."""
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


# --- text decoding -----------------------------------------------------------------------

_BOMS: Final = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
#: Chinese first, then a Western fallback; GB18030 is a superset of GB2312 and GBK.
_CANDIDATES: Final = ("gb18030", "big5", "cp1252")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_PRIVATE_USE = re.compile(r"[\ue000-\uf8ff]")


def _utf16_without_bom(data: bytes) -> str | None:
    """Detect BOM-less UTF-16 by where the zero bytes fall (ASCII-heavy text)."""
    if len(data) < 4 or len(data) % 2:
        return None
    even_zero = data[0::2].count(0)
    odd_zero = data[1::2].count(0)
    half = len(data) // 2
    for codec, zeros, other in (
        ("utf-16-le", odd_zero, even_zero),
        ("utf-16-be", even_zero, odd_zero),
    ):
        if zeros > half * 0.3 and other < half * 0.05:
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                return None
    return None


def _common_han_share(text: str, codec: str) -> float:
    """Share of Han characters that sit in the codec's frequent-character block.

    GB2312 level 1 (lead bytes B0–D7) holds the 3,755 most used simplified characters; Big5 level 1
    (lead bytes A4–C6) the 5,401 most used traditional ones. Text decoded with the wrong codec lands
    mostly outside these blocks, so the share separates GB18030 from Big5 where both decode.
    """
    han = _CJK.findall(text)
    # Private-use code points come only from byte pairs the codec leaves unassigned: a wrong guess.
    private = len(_PRIVATE_USE.findall(text))
    if not han:
        return 0.0
    hits = 0
    for ch in han:
        try:
            raw = ch.encode(codec)
        except UnicodeEncodeError:
            continue
        if codec == "gb18030":
            hits += len(raw) == 2 and 0xB0 <= raw[0] <= 0xD7 and raw[1] >= 0xA1
        else:
            hits += 0xA4 <= raw[0] <= 0xC6
    return hits / (len(han) + private)


def _has_binary_controls(text: str) -> bool:
    bad = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f\v\x1b")
    return bad > max(2, len(text) // 1000)


def decode_text(data: bytes) -> str:
    """Decode an uploaded text file, or raise `files.empty`, `files.not_text`, `files.bad_encoding`."""
    if not data.strip():
        raise UserError("files.empty")
    text: str | None = None
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError as exc:
                raise UserError("files.bad_encoding") from exc
            break
    if text is None:
        text = _utf16_without_bom(data)
    if text is None:
        if b"\x00" in data:
            raise UserError("files.not_text")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = _decode_legacy(data)
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise UserError("files.empty")
    if _has_binary_controls(text):
        raise UserError("files.not_text")
    return text


def _decode_legacy(data: bytes) -> str:
    """Pick among Chinese legacy codecs (then cp1252) for bytes that are not UTF-8."""
    decoded: dict[str, str] = {}
    for codec in _CANDIDATES:
        try:
            decoded[codec] = data.decode(codec)
        except UnicodeDecodeError:
            continue
    chinese = {c: t for c, t in decoded.items() if c in ("gb18030", "big5") and _CJK.search(t)}
    if len(chinese) == 1:
        return next(iter(chinese.values()))
    if len(chinese) == 2:
        gb = _common_han_share(chinese["gb18030"], "gb18030")
        b5 = _common_han_share(chinese["big5"], "big5")
        # A tie (very short text) goes to GB18030: most people here write Simplified Chinese.
        return chinese["big5"] if b5 > gb + 0.05 else chinese["gb18030"]
    if decoded:
        best = from_bytes(data, cp_isolation=list(decoded)).best()
        if best is not None:
            return str(best)
    raise UserError("files.bad_encoding")


# --- names ---------------------------------------------------------------------------------


def display_name(original: str) -> str:
    """The uploader's file name made safe to echo: no path, no controls, escaped, ≤ 100 chars."""
    name = original.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = unicodedata.normalize("NFC", name).strip() or "file"
    pieces = list(_escape_pieces(name))
    if sum(len(p) for p in pieces) <= _DISPLAY_MAX:
        return "".join(pieces)
    out: list[str] = []
    length = 0
    for piece in pieces:
        if length + len(piece) > _DISPLAY_MAX - 1:
            out.append("…")
            break
        out.append(piece)
        length += len(piece)
    return "".join(out)


def _escape_pieces(name: str) -> Iterator[str]:
    """Each character of `name` escaped for Markdown, with `@` mentions defused."""
    for index, ch in enumerate(name):
        if _MARKDOWN.fullmatch(ch):
            yield "\\" + ch
        elif ch == "@" and _MENTION.match(name, index):
            yield "@\u200b"
        else:
            yield ch
