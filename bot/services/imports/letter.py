"""The memory letter: a long text a person wrote about their companion.

`read_letter` turns an upload (.txt, .md or .docx) into text; `chunk_letter` cuts that text into
retrieval-sized pieces on paragraph and sentence boundaries, Chinese punctuation included. The
letter itself is never rewritten: chunks are character spans into the original, which is stored
verbatim beside them.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from bot.core.errors import UserError
from bot.services.files import Limits, SafeZip, decode_text, ensure_not_empty, ensure_size, is_zip

#: A chunk grows to at least this many estimated tokens before it may end at a paragraph break…
TARGET_MIN_TOKENS: Final = 300
#: …and never past this many, unless a single unbreakable run of text is longer.
TARGET_MAX_TOKENS: Final = 500

_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
#: Sentence enders, with any closing quotes or brackets that belong to the sentence.
_SENTENCE_END = re.compile(r"(?:[。！？!?；;]+|…+|\.{3,}|\.(?=\s|$))[”’」』）)\]\"'》〉]*")
_CLAUSE_END = re.compile(r"[，,、：:]+[”’」』）)\]\"']*|\s+")
_BINARY_MAGIC: Final = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"\x7fELF")


def estimate_tokens(text: str) -> int:
    """A model-independent token estimate: one per CJK character, one per 3.5 other characters.

    Calibrated in platform-notes §9 against o200k (+5 % zh, +7 % en), so it errs on the safe side.
    """
    cjk = len(_CJK.findall(text))
    other = sum(1 for ch in text if not ch.isspace()) - cjk
    return cjk + -(-other * 2 // 7)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One retrieval piece of a letter: `text == letter[start:end]`."""

    index: int
    start: int
    end: int
    text: str
    tokens: int


def read_letter(data: bytes, filename: str = "", limits: Limits | None = None) -> str:
    """The text of an uploaded letter (.txt, .md or .docx, detected by content, not by name)."""
    limits = limits or Limits()
    ensure_size(len(data), limits.max_file_bytes)
    ensure_not_empty(data)
    if is_zip(data):
        return _read_docx(data, limits)
    if filename.lower().endswith(".docx") or data.startswith(_BINARY_MAGIC):
        raise UserError("files.not_text")
    return decode_text(data)


def _read_docx(data: bytes, limits: Limits) -> str:
    # Inspect the archive before python-docx decompresses anything inside it.
    with SafeZip(data, limits) as archive:
        if "word/document.xml" not in archive.entries:
            raise UserError("files.not_text")
    import docx  # imported late: it pulls in lxml, which only .docx uploads need

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises a zoo of lxml/zip/KeyError types
        raise UserError("files.bad_archive") from exc
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append("\t".join(cell.text for cell in row.cells))
    text = "\n".join(line.rstrip() for line in lines).strip()
    if not text:
        raise UserError("files.empty")
    return text


def _spans(pattern: re.Pattern[str], text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Split `text[start:end]` after each match of `pattern`; spans are trimmed of whitespace."""
    cursor = start
    for match in pattern.finditer(text, start, end):
        if match.end() > cursor:
            yield from _trim(text, cursor, match.end())
            cursor = match.end()
    if cursor < end:
        yield from _trim(text, cursor, end)


def _trim(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        yield start, end


def _units(text: str, max_tokens: int) -> Iterator[tuple[int, int, int, bool]]:
    """(start, end, tokens, starts_paragraph) pieces, none longer than `max_tokens` if avoidable."""
    for para_start, para_end in _spans(re.compile(r"\n"), text, 0, len(text)):
        first = True
        for start, end in _split(text, para_start, para_end, max_tokens, 0):
            yield start, end, estimate_tokens(text[start:end]), first
            first = False


def _split(
    text: str, start: int, end: int, max_tokens: int, level: int
) -> Iterator[tuple[int, int]]:
    """Paragraph → sentences → clauses → fixed-size runs, descending only while too long."""
    if estimate_tokens(text[start:end]) <= max_tokens:
        yield start, end
        return
    if level < 2:
        pattern = _SENTENCE_END if level == 0 else _CLAUSE_END
        pieces = list(_spans(pattern, text, start, end))
        if len(pieces) > 1:
            yield from _pack(text, pieces, max_tokens, level + 1)
            return
        yield from _split(text, start, end, max_tokens, level + 1)
        return
    step = max_tokens  # at worst one token per character
    for offset in range(start, end, step):
        yield from _trim(text, offset, min(offset + step, end))


def _pack(
    text: str, pieces: list[tuple[int, int]], max_tokens: int, level: int
) -> Iterator[tuple[int, int]]:
    """Merge neighbouring sentences (or clauses) back up to `max_tokens`."""
    current: tuple[int, int] | None = None
    for start, end in pieces:
        if estimate_tokens(text[start:end]) > max_tokens:
            if current:
                yield current
                current = None
            yield from _split(text, start, end, max_tokens, level)
            continue
        if current and estimate_tokens(text[current[0] : end]) <= max_tokens:
            current = (current[0], end)
        else:
            if current:
                yield current
            current = (start, end)
    if current:
        yield current


def chunk_letter(
    text: str, min_tokens: int = TARGET_MIN_TOKENS, max_tokens: int = TARGET_MAX_TOKENS
) -> list[Chunk]:
    """Cut `text` into chunks of about `min_tokens`–`max_tokens`, ending at paragraph breaks when
    a chunk is big enough, else at sentence ends; every non-space character lands in one chunk."""
    chunks: list[Chunk] = []
    start = end = tokens = 0
    open_chunk = False

    def flush() -> None:
        chunks.append(
            Chunk(len(chunks), start, end, text[start:end], estimate_tokens(text[start:end]))
        )

    for u_start, u_end, u_tokens, new_paragraph in _units(text, max_tokens):
        if open_chunk and (
            tokens + u_tokens > max_tokens or (new_paragraph and tokens >= min_tokens)
        ):
            flush()
            open_chunk = False
        if not open_chunk:
            start, tokens, open_chunk = u_start, 0, True
        end = u_end
        tokens += u_tokens
    if open_chunk:
        flush()
    return chunks
