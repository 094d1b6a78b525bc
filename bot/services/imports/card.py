"""Character cards (SillyTavern / Tavern V1, V2, V3): read from PNG, JSON or CHARX; write V2 PNG.

A PNG card carries base64 JSON in a `tEXt` chunk: `ccv3` (V3) wins over `chara` (V2 or V1) when
both are present (platform-notes §6). A CHARX file is a zip with `card.json` at its root. Every
version is normalized to `Card`; the character book's entries become keyword-triggered memories.
All card text is untrusted prompt content; `creator_notes` is kept but must never reach a prompt.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from PIL import Image, PngImagePlugin

from bot.core.errors import UserError
from bot.services.files import Limits, SafeZip, ensure_not_empty, ensure_size, is_zip

PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
_MAX_TEXT_CHUNK: Final = 16 * 1024 * 1024
_DECORATOR = re.compile(r"\A(?:[ \t]*@@[^\n]*\n)+")


@dataclass(frozen=True, slots=True)
class BookEntry:
    """One character-book (lorebook) entry: `content` applies when a key appears in the chat."""

    keys: tuple[str, ...]
    content: str
    name: str = ""
    enabled: bool = True
    constant: bool = False
    selective: bool = False
    secondary_keys: tuple[str, ...] = ()
    case_sensitive: bool = False
    insertion_order: int = 0
    priority: int | None = None


@dataclass(frozen=True, slots=True)
class Card:
    """A character card of any version, normalized; `spec` records where it came from."""

    name: str
    description: str = ""
    personality: str = ""
    scenario: str = ""
    first_mes: str = ""
    mes_example: str = ""
    system_prompt: str = ""
    post_history_instructions: str = ""
    creator_notes: str = ""
    alternate_greetings: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    creator: str = ""
    character_version: str = ""
    nickname: str = ""
    book: tuple[BookEntry, ...] = ()
    extensions: dict[str, Any] = field(default_factory=dict)
    spec: str = "chara_card_v2"


# --- reading -----------------------------------------------------------------------------------


def read_card(data: bytes, limits: Limits | None = None) -> Card:
    """A card from PNG, JSON or CHARX bytes (detected by content); `UserError` otherwise."""
    limits = limits or Limits()
    ensure_size(len(data), limits.max_file_bytes)
    ensure_not_empty(data)
    if data.startswith(PNG_MAGIC):
        return card_from_json(_png_payload(data))
    if is_zip(data):
        with SafeZip(data, limits) as archive:
            if "card.json" not in archive.entries:
                raise UserError("imports.card.no_card")
            return card_from_json(archive.read("card.json"))
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{":
        return card_from_json(data)
    raise UserError("imports.card.no_card")


def iter_text_chunks(png: bytes) -> Iterator[tuple[str, bytes]]:
    """(keyword, value) of each tEXt, zTXt and iTXt chunk, stopping at IEND or at damage."""
    pos = len(PNG_MAGIC)
    while pos + 8 <= len(png):
        length = int.from_bytes(png[pos : pos + 4], "big")
        kind = png[pos + 4 : pos + 8]
        body = png[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if len(body) < length:
            return
        if kind == b"IEND":
            return
        if kind not in (b"tEXt", b"zTXt", b"iTXt"):
            continue
        keyword, _, rest = body.partition(b"\0")
        key = keyword.decode("latin-1")
        if kind == b"tEXt":
            yield key, rest
        elif kind == b"zTXt" and rest:
            value = _inflate(rest[1:])
            if value is not None:
                yield key, value
        elif kind == b"iTXt" and len(rest) >= 2:
            compressed, text = rest[0], rest[2:]
            _, _, text = text.partition(b"\0")  # language tag
            _, _, text = text.partition(b"\0")  # translated keyword
            value = _inflate(text) if compressed else text
            if value is not None:
                yield key, value


def _inflate(data: bytes) -> bytes | None:
    """Decompress a text chunk, refusing to produce more than `_MAX_TEXT_CHUNK` bytes."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, _MAX_TEXT_CHUNK)
    except zlib.error:
        return None
    return None if inflater.unconsumed_tail else out


def _png_payload(png: bytes) -> bytes:
    chunks: dict[str, bytes] = {}
    for key, value in iter_text_chunks(png):
        chunks.setdefault(key.lower(), value)
    raw = chunks.get("ccv3") or chunks.get("chara")
    if raw is None:
        raise UserError("imports.card.no_card")
    try:
        return base64.b64decode(raw.strip(), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise UserError("imports.card.bad_card") from exc


def card_from_json(raw: bytes | str) -> Card:
    """A `Card` from V1 (flat), V2 or V3 JSON text."""
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise UserError("files.bad_json") from exc
    if not isinstance(obj, dict):
        raise UserError("imports.card.bad_card")
    spec = obj.get("spec")
    if spec in ("chara_card_v2", "chara_card_v3"):
        data = obj.get("data")
        if not isinstance(data, dict):
            raise UserError("imports.card.bad_card")
    else:
        spec, data = "chara_card_v1", obj
    name = _text(data.get("name")).strip()
    if not name:
        raise UserError("imports.card.bad_card")
    book = data.get("character_book")
    extensions = data.get("extensions")
    return Card(
        name=name[:200],
        description=_text(data.get("description")),
        personality=_text(data.get("personality")),
        scenario=_text(data.get("scenario")),
        first_mes=_text(data.get("first_mes")),
        mes_example=_text(data.get("mes_example")),
        system_prompt=_text(data.get("system_prompt")),
        post_history_instructions=_text(data.get("post_history_instructions")),
        creator_notes=_text(data.get("creator_notes")),
        alternate_greetings=_texts(data.get("alternate_greetings")),
        tags=_texts(data.get("tags")),
        creator=_text(data.get("creator")),
        character_version=_text(data.get("character_version")),
        nickname=_text(data.get("nickname")),
        book=tuple(_entries(book.get("entries") if isinstance(book, dict) else None)),
        extensions=extensions if isinstance(extensions, dict) else {},
        spec=str(spec),
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _texts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str) and v.strip())


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _entries(raw: Any) -> Iterator[BookEntry]:
    if isinstance(raw, dict):  # some exporters key entries by id
        raw = list(raw.values())
    if not isinstance(raw, list):
        return
    for item in raw:
        if not isinstance(item, dict):
            continue
        content = strip_decorators(_text(item.get("content"))).strip()
        keys = _texts(item.get("keys"))
        if not content or not (keys or item.get("constant") is True):
            continue
        priority = item.get("priority")
        yield BookEntry(
            keys=keys,
            content=content,
            name=_text(item.get("name")) or _text(item.get("comment")),
            enabled=item.get("enabled") is not False,
            constant=item.get("constant") is True,
            selective=item.get("selective") is True,
            secondary_keys=_texts(item.get("secondary_keys")),
            case_sensitive=item.get("case_sensitive") is True,
            insertion_order=_int(item.get("insertion_order")),
            priority=priority
            if isinstance(priority, int) and not isinstance(priority, bool)
            else None,
        )


def strip_decorators(content: str) -> str:
    """Remove V3 `@@decorator` lines from the start of a lorebook entry."""
    return _DECORATOR.sub("", content)


def entry_matches(entry: BookEntry, text: str) -> bool:
    """True when `entry` should fire for `text` (keys, then secondary keys if selective)."""
    if not entry.enabled:
        return False
    if entry.constant:
        return True

    def hit(keys: tuple[str, ...]) -> bool:
        if entry.case_sensitive:
            return any(k in text for k in keys)
        folded = text.casefold()
        return any(k.casefold() in folded for k in keys)

    if not hit(entry.keys):
        return False
    return not (entry.selective and entry.secondary_keys) or hit(entry.secondary_keys)


# --- writing ------------------------------------------------------------------------------------


def to_v2_dict(card: Card) -> dict[str, Any]:
    """The card as a `chara_card_v2` envelope (unknown extensions preserved)."""
    data: dict[str, Any] = {
        "name": card.name,
        "description": card.description,
        "personality": card.personality,
        "scenario": card.scenario,
        "first_mes": card.first_mes,
        "mes_example": card.mes_example,
        "creator_notes": card.creator_notes,
        "system_prompt": card.system_prompt,
        "post_history_instructions": card.post_history_instructions,
        "alternate_greetings": list(card.alternate_greetings),
        "tags": list(card.tags),
        "creator": card.creator,
        "character_version": card.character_version,
        "extensions": dict(card.extensions),
    }
    if card.book:
        data["character_book"] = {
            "extensions": {},
            "entries": [_entry_dict(e, index) for index, e in enumerate(card.book)],
        }
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": data}


def _entry_dict(e: BookEntry, index: int) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "keys": list(e.keys),
        "content": e.content,
        "extensions": {},
        "enabled": e.enabled,
        "insertion_order": e.insertion_order,
        "case_sensitive": e.case_sensitive,
        "name": e.name,
        "id": index,
        "selective": e.selective,
        "secondary_keys": list(e.secondary_keys),
        "constant": e.constant,
    }
    if e.priority is not None:  # optional in V2; absent stays absent
        entry["priority"] = e.priority
    return entry


def write_card_png(card: Card, size: int = 256) -> bytes:
    """A V2 card PNG: a plain warm square carrying the card as base64 JSON in a `chara` chunk."""
    payload = base64.b64encode(json.dumps(to_v2_dict(card), ensure_ascii=False).encode("utf-8"))
    image = Image.new("RGB", (size, size), (246, 214, 186))
    info = PngImagePlugin.PngInfo()
    info.add_text("chara", payload.decode("ascii"))
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()
