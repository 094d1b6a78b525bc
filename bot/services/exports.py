"""Everything a person has, as one zip they can keep, read, and import again.

The archive (format documented in `docs/export-format.md`):

    afterglow-export.json   versioned JSON: personas, letters, memories, imported conversations,
                            settings, and any section another feature registers
    afterglow-export.md     the same, readable
    personas/persona-N.png  each persona as a V2 character card (SillyTavern and others read it)

`Exporter.export` streams the JSON into the zip, so a large history never sits in memory twice.
`Exporter.restore` reads it back (inspected with `SafeZip`, parsed item by item with ijson) into
one person's account in a single transaction: everything is restored, or nothing is.
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final, Protocol

import aiosqlite
import ijson

from bot.core.errors import UserError
from bot.services.files import Limits, SafeZip
from bot.services.imports.card import write_card_png
from bot.services.persona import PersonaService
from bot.services.storage.db import Database
from bot.services.storage.memories import KINDS, Memories, NewMemory
from bot.services.storage.personas import Persona, Personas
from bot.services.storage.users import Users

FORMAT: Final = "afterglow-export"
VERSION: Final = 1
JSON_NAME: Final = "afterglow-export.json"
MARKDOWN_NAME: Final = "afterglow-export.md"
_PERSONA_FIELDS: Final = (
    "name",
    "personality",
    "speaking_style",
    "relationship",
    "important_dates",
    "example_dialogue",
    "greeting",
    "temperature",
    "top_p",
    "max_tokens",
    "card_extra",
)


class ExportSection(Protocol):
    """Another feature's part of the export (e.g. companion chats); keyed by `name`."""

    name: str

    async def dump(self, person_id: int) -> Any:
        """JSON-serializable data of this person."""
        ...

    async def restore(self, conn: aiosqlite.Connection, person_id: int, data: Any) -> int:
        """Write `data` back for `person_id` on `conn`; returns items restored."""
        ...


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """Counts of what an archive import restored."""

    personas: int
    letters: int
    conversations: int
    memories: int
    sections: int


def _iso(stamp: float | None) -> str:
    if stamp is None:
        return ""
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M")


class Exporter:
    """Builds and restores export archives."""

    def __init__(
        self,
        db: Database,
        users: Users,
        personas: Personas,
        memories: Memories,
        persona_service: PersonaService,
        sections: Sequence[ExportSection] = (),
    ) -> None:
        self.db = db
        self.users = users
        self.personas = personas
        self.memories = memories
        self.persona_service = persona_service
        self.sections = list(sections)

    # --- export ---------------------------------------------------------------------------------

    async def export(self, person_id: int, out: IO[bytes]) -> None:
        """Write the person's archive to the binary stream `out`."""
        personas = await self.personas.list(person_id)
        cards = [write_card_png(await self.persona_service.card(person_id, p)) for p in personas]
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            with archive.open(JSON_NAME, "w", force_zip64=True) as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
                async for piece in self._json_pieces(person_id, personas):
                    text.write(piece)
                text.flush()
                text.detach()
            with archive.open(MARKDOWN_NAME, "w", force_zip64=True) as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
                async for piece in self._markdown_pieces(person_id, personas):
                    text.write(piece)
                text.flush()
                text.detach()
            for index, card in enumerate(cards, start=1):
                archive.writestr(f"personas/persona-{index}.png", card)

    async def export_bytes(self, person_id: int) -> bytes:
        buffer = io.BytesIO()
        await self.export(person_id, buffer)
        return buffer.getvalue()

    async def _json_pieces(self, person_id: int, personas: list[Persona]) -> AsyncIterator[str]:
        def dumps(value: Any) -> str:
            return json.dumps(value, ensure_ascii=False)

        head = {
            "format": FORMAT,
            "version": VERSION,
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "settings": {"locale": await self.users.person_locale(person_id)},
            "accounts": [
                {"platform": a.platform, "display_name": a.display_name}
                for a in await self.users.accounts(person_id)
            ],
        }
        yield dumps(head)[:-1]
        yield ',\n"personas": ['
        for index, persona in enumerate(personas):
            item: dict[str, Any] = {
                "ref": persona.id,
                "active": persona.active,
                "created_at": persona.created_at,
            }
            item.update({f: getattr(persona, f) for f in _PERSONA_FIELDS})
            item["card_file"] = f"personas/persona-{index + 1}.png"
            yield ("," if index else "") + "\n" + dumps(item)
        yield '],\n"letters": ['
        for index, letter in enumerate(await self.memories.letters(person_id)):
            item = {
                "ref": letter.id,
                "persona_ref": letter.persona_id,
                "title": letter.title,
                "body": letter.body,
                "created_at": letter.created_at,
            }
            yield ("," if index else "") + "\n" + dumps(item)
        yield '],\n"conversations": ['
        for index, conv in enumerate(await self.memories.conversations(person_id)):
            item = {
                "ref": conv.id,
                "persona_ref": conv.persona_id,
                "source": conv.source,
                "source_id": conv.source_id,
                "title": conv.title,
                "created_at": conv.created_at,
                "models": conv.models,
                "turns": conv.turns,
            }
            yield ("," if index else "") + "\n" + dumps(item)
        yield '],\n"memories": ['
        index = 0
        async for memory in self.memories.iter_all(person_id):
            item = {
                "ref": memory.id,
                "kind": memory.kind,
                "persona_ref": memory.persona_id,
                "body": memory.body,
                "keywords": list(memory.keywords),
                "letter_ref": memory.letter_id,
                "span": [memory.span_start, memory.span_end]
                if memory.span_start is not None
                else None,
                "conversation_ref": memory.conversation_id,
                "pinned": memory.pinned,
                "created_at": memory.created_at,
            }
            yield ("," if index else "") + "\n" + dumps(item)
            index += 1
        yield '],\n"sections": {'
        for n, section in enumerate(self.sections):
            yield ("," if n else "") + "\n" + dumps(section.name) + ": "
            yield dumps(await section.dump(person_id))
        yield "}}\n"

    async def _markdown_pieces(self, person_id: int, personas: list[Persona]) -> AsyncIterator[str]:
        yield "# Afterglow export\n\n"
        yield f"Exported {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Format: {FORMAT} v{VERSION}.\n\n"
        yield "## Personas\n\n"
        labels = (
            ("personality", "Personality"),
            ("speaking_style", "Speaking style"),
            ("relationship", "Relationship"),
            ("important_dates", "Important dates"),
            ("example_dialogue", "Example dialogue"),
            ("greeting", "Greeting"),
        )
        for persona in personas:
            yield f"### {persona.name}{' (active)' if persona.active else ''}\n\n"
            for column, label in labels:
                value = getattr(persona, column)
                if value:
                    yield f"**{label}:**\n\n{value}\n\n"
        for letter in await self.memories.letters(person_id):
            yield f"## Letter: {letter.title or _iso(letter.created_at)}\n\n{letter.body}\n\n"
        yield "## Memories\n\n"
        async for memory in self.memories.iter_all(person_id):
            if memory.kind in ("memory", "book"):
                pin = " 📌" if memory.pinned else ""
                keys = f" (keys: {', '.join(memory.keywords)})" if memory.keywords else ""
                yield f"- #{memory.id}{pin}{keys} {memory.body}\n"
        yield "\n## Imported conversations\n\n"
        titles = {c.id: c for c in await self.memories.conversations(person_id)}
        current: int | None = None
        async for memory in self.memories.iter_all(person_id):
            if memory.kind != "history" or memory.conversation_id is None:
                continue
            if memory.conversation_id != current:
                current = memory.conversation_id
                conv = titles.get(current)
                if conv is not None:
                    yield f"\n### {conv.title or conv.source_id} ({_iso(conv.created_at)}, {conv.models})\n\n"
            yield memory.body + "\n\n"
        for section in self.sections:
            # A section may offer a readable copy of itself (an async `markdown(person_id)`).
            render = getattr(section, "markdown", None)
            if render is not None:
                async for piece in render(person_id):
                    yield piece

    # --- restore --------------------------------------------------------------------------------

    async def restore(
        self, person_id: int, source: bytes | Path, limits: Limits | None = None
    ) -> RestoreResult:
        """Import an export archive into `person_id`'s account (added to what is there)."""
        limits = limits or Limits()
        archive = await asyncio.to_thread(SafeZip, source, limits)
        try:
            if JSON_NAME not in archive.entries:
                raise UserError("exports.not_export")
            head = await asyncio.to_thread(_read_head, archive)
            if head.get("format") != FORMAT:
                raise UserError("exports.not_export")
            version = head.get("version")
            if not isinstance(version, int) or version > VERSION:
                raise UserError("exports.unsupported_version", version=str(version)[:10])
            return await self._restore(person_id, archive, head)
        finally:
            archive.close()

    async def _restore(
        self, person_id: int, archive: SafeZip, head: dict[str, Any]
    ) -> RestoreResult:
        persona_ids: dict[int, int] = {}
        letter_ids: dict[int, int] = {}
        conv_ids: dict[int, int | None] = {}
        counts = dict.fromkeys(("personas", "letters", "conversations", "memories", "sections"), 0)
        async with self.db.write() as conn:
            had_active = await self.personas.has_active(conn, person_id)
            for item in await asyncio.to_thread(_items, archive, "personas"):
                values = {f: item.get(f) for f in _PERSONA_FIELDS if item.get(f) is not None}
                if not isinstance(values.get("name"), str) or not values["name"]:
                    raise UserError("exports.bad_archive")
                activate = bool(item.get("active")) and not had_active
                new_id = await self.personas.create(person_id, values, activate=activate, conn=conn)
                persona_ids[_ref(item)] = new_id
                counts["personas"] += 1
            for item in await asyncio.to_thread(_items, archive, "letters"):
                letter_ids[_ref(item)] = await self.memories.insert_letter(
                    conn,
                    person_id,
                    persona_ids.get(_ref(item, "persona_ref")),
                    str(item.get("title") or ""),
                    _text(item, "body"),
                    _float(item, "created_at"),
                )
                counts["letters"] += 1
            for item in await asyncio.to_thread(_items, archive, "conversations"):
                new_conv = await self.memories.insert_conversation(
                    conn,
                    person_id,
                    persona_ids.get(_ref(item, "persona_ref")),
                    str(item.get("source") or "import"),
                    str(item.get("source_id") or _ref(item)),
                    str(item.get("title") or ""),
                    _float(item, "created_at"),
                    str(item.get("models") or ""),
                    int(item.get("turns") or 0),
                )
                conv_ids[_ref(item)] = new_conv
                counts["conversations"] += new_conv is not None
            stream = _iter_items(archive, "memories")
            while True:
                batch = await asyncio.to_thread(_take, stream, 500)
                if not batch:
                    break
                rows: list[NewMemory] = []
                for item in batch:
                    kind = item.get("kind")
                    if kind not in KINDS:
                        raise UserError("exports.bad_archive")
                    conv_ref = item.get("conversation_ref")
                    if conv_ref is not None and conv_ids.get(int(conv_ref)) is None:
                        continue  # that conversation was already in this account
                    span = item.get("span")
                    rows.append(
                        NewMemory(
                            kind=str(kind),
                            body=_text(item, "body"),
                            persona_id=persona_ids.get(_ref(item, "persona_ref")),
                            keywords=tuple(str(k) for k in item.get("keywords") or ()),
                            letter_id=letter_ids.get(_ref(item, "letter_ref")),
                            span=(int(span[0]), int(span[1]))
                            if isinstance(span, list) and len(span) == 2 and None not in span
                            else None,
                            conversation_id=conv_ids.get(int(conv_ref))
                            if conv_ref is not None
                            else None,
                            pinned=bool(item.get("pinned")),
                            created_at=_float(item, "created_at"),
                        ),
                    )
                    counts["memories"] += 1
                await self.memories.insert_bulk(conn, person_id, rows)
            locale = (head.get("settings") or {}).get("locale")
            if isinstance(locale, str) and locale:
                await self.users.default_locale(conn, person_id, locale[:16])
            sections = await asyncio.to_thread(_sections, archive)
            for section in self.sections:
                if section.name in sections:
                    counts["sections"] += await section.restore(
                        conn, person_id, sections[section.name]
                    )
        return RestoreResult(**counts)


def _ref(item: dict[str, Any], key: str = "ref") -> int:
    value = item.get(key)
    if value is None:
        return -1
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise UserError("exports.bad_archive") from exc


def _text(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise UserError("exports.bad_archive")
    return value


def _float(item: dict[str, Any], key: str) -> float | None:
    value = item.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _read_head(archive: SafeZip) -> dict[str, Any]:
    """The top-level scalar fields (format, version, settings) without reading the lists."""
    head: dict[str, Any] = {}
    with archive.open(JSON_NAME) as stream:
        try:
            for key, value in ijson.kvitems(stream, "", use_float=True):
                if key in ("format", "version", "settings", "exported_at"):
                    head[key] = value
                if key == "personas":
                    break
        except ijson.JSONError as exc:
            raise UserError("files.bad_json") from exc
    return head


def _iter_items(archive: SafeZip, key: str) -> Iterator[dict[str, Any]]:
    with archive.open(JSON_NAME) as stream:
        try:
            for item in ijson.items(stream, f"{key}.item", use_float=True):
                if not isinstance(item, dict):
                    raise UserError("exports.bad_archive")
                yield item
        except ijson.JSONError as exc:
            raise UserError("files.bad_json") from exc


def _items(archive: SafeZip, key: str) -> list[dict[str, Any]]:
    return list(_iter_items(archive, key))


def _take(stream: Iterator[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in stream:
        out.append(item)
        if len(out) >= n:
            break
    return out


def _sections(archive: SafeZip) -> dict[str, Any]:
    with archive.open(JSON_NAME) as stream:
        try:
            for value in ijson.items(stream, "sections", use_float=True):
                return value if isinstance(value, dict) else {}
        except ijson.JSONError as exc:
            raise UserError("files.bad_json") from exc
    return {}
