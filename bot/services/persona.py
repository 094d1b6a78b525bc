"""Personas: create, show, edit, switch, delete; character-card import and V2 card export.

A card maps onto a persona so that card → persona → card keeps every field:
`description` ↔ personality, `mes_example` ↔ example dialogue, `first_mes` ↔ greeting; our own
fields (speaking style, relationship, important dates, sampling) travel in
`extensions.afterglow`; everything else (scenario, system prompt, creator notes, tags, other
extensions…) is kept verbatim in `card_extra`. Character-book entries become `book` memories
with their keys (constant entries are pinned).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Final

from bot.core.errors import NotFound, UserError
from bot.core.models import UserRef
from bot.services.companion_seams import PersonaView
from bot.services.files import Limits
from bot.services.imports.card import BookEntry, Card, read_card, write_card_png
from bot.services.storage.db import Database
from bot.services.storage.memories import Memories, NewMemory
from bot.services.storage.personas import TEXT_FIELDS, Persona, Personas
from bot.services.storage.users import Users

MAX_NAME: Final = 64
MAX_FIELD: Final = 8000
MAX_PERSONAS: Final = 20
#: Names people type in `/persona edit FIELD VALUE`, mapped to columns.
EDIT_FIELDS: Final = {
    "name": "name",
    "personality": "personality",
    "style": "speaking_style",
    "relationship": "relationship",
    "dates": "important_dates",
    "examples": "example_dialogue",
    "greeting": "greeting",
    "temperature": "temperature",
    "top_p": "top_p",
    "max_tokens": "max_tokens",
}
_RANGES: Final = {"temperature": (0.0, 2.0), "top_p": (0.0, 1.0), "max_tokens": (1, 32000)}
_OWN_EXTENSION: Final = "afterglow"
_CARD_KEPT: Final = (
    "scenario",
    "system_prompt",
    "post_history_instructions",
    "creator_notes",
    "tags",
    "alternate_greetings",
    "creator",
    "character_version",
    "nickname",
    "card_personality",
    "extensions",
    "spec",
)


@dataclass(frozen=True, slots=True)
class CardImport:
    """What a card import stored."""

    persona: Persona
    book_entries: int


def validate(column: str, value: Any) -> Any:
    """A checked value for a persona column, or `UserError("persona.bad_value")`."""
    if column in _RANGES:
        low, high = _RANGES[column]
        try:
            number: float = int(value) if column == "max_tokens" else float(value)
        except (TypeError, ValueError) as exc:
            raise UserError("persona.bad_value", field=column) from exc
        if not low <= number <= high:
            raise UserError("persona.bad_value", field=column)
        return number
    text = str(value).strip()
    if column == "name":
        if not text or len(text) > MAX_NAME:
            raise UserError("persona.bad_name", limit=MAX_NAME)
    elif len(text) > MAX_FIELD:
        raise UserError("persona.too_long", limit=MAX_FIELD)
    return text


class PersonaService:
    """Personas of people; implements the companion's `PersonaSource`."""

    def __init__(self, db: Database, users: Users, personas: Personas, memories: Memories) -> None:
        self.db = db
        self.users = users
        self.personas = personas
        self.memories = memories

    async def person(self, user: UserRef) -> int:
        return await self.users.resolve(user.platform, user.id, user.name)

    # --- PersonaSource ---------------------------------------------------------------------

    async def active(self, user: UserRef) -> PersonaView | None:
        person = await self.person(user)
        persona = await self.personas.active(person)
        if persona is None:
            return None
        examples = persona.example_dialogue
        if not examples:
            styles = await self.memories.of_kind(person, persona.id, "style", limit=5)
            examples = "\n".join(f"{{{{char}}}}: {m.body}" for m in styles)
        extra = json.loads(persona.card_extra or "{}")
        return PersonaView(
            id=persona.id,
            name=persona.name,
            personality=persona.personality,
            speaking_style=persona.speaking_style,
            relationship=persona.relationship,
            important_dates=persona.important_dates,
            example_dialogue=examples,
            greeting=persona.greeting,
            temperature=persona.temperature,
            top_p=persona.top_p,
            max_tokens=persona.max_tokens,
            extra={"scenario": str(extra.get("scenario") or "")} if extra.get("scenario") else {},
        )

    # --- commands ----------------------------------------------------------------------------

    async def create(self, user: UserRef, name: str, **fields: Any) -> Persona:
        person = await self.person(user)
        if len(await self.personas.list(person)) >= MAX_PERSONAS:
            raise UserError("persona.too_many", limit=MAX_PERSONAS)
        values = {"name": validate("name", name)}
        for key, value in fields.items():
            column = EDIT_FIELDS.get(key, key)
            if value is not None and value != "":
                values[column] = validate(column, value)
        persona_id = await self.personas.create(person, values)
        return await self._get(person, str(persona_id))

    async def get(self, user: UserRef, name_or_id: str | None = None) -> Persona:
        """A named persona, or the active one."""
        person = await self.person(user)
        if name_or_id:
            return await self._get(person, name_or_id)
        active = await self.personas.active(person)
        if active is None:
            raise NotFound("persona.none")
        return active

    async def _get(self, person: int, name_or_id: str) -> Persona:
        found = await self.personas.find(person, name_or_id)
        if found is None:
            raise NotFound("persona.not_found", name=name_or_id[:MAX_NAME])
        return found

    async def list(self, user: UserRef) -> list[Persona]:
        return await self.personas.list(await self.person(user))

    async def edit(
        self, user: UserRef, field: str, value: str, name_or_id: str | None = None
    ) -> Persona:
        column = EDIT_FIELDS.get(field)
        if column is None:
            raise UserError("persona.bad_field", fields=", ".join(EDIT_FIELDS))
        persona = await self.get(user, name_or_id)
        cleared = column not in TEXT_FIELDS and str(value).strip() in ("", "-", "default")
        checked = None if cleared else validate(column, value)
        await self.personas.update(persona.person_id, persona.id, {column: checked})
        return await self._get(persona.person_id, str(persona.id))

    async def switch(self, user: UserRef, name_or_id: str) -> Persona:
        person = await self.person(user)
        persona = await self._get(person, name_or_id)
        await self.personas.activate(person, persona.id)
        return await self._get(person, str(persona.id))

    async def delete(self, user: UserRef, name_or_id: str) -> Persona:
        person = await self.person(user)
        persona = await self._get(person, name_or_id)
        await self.personas.delete(person, persona.id)
        return persona

    # --- cards ----------------------------------------------------------------------------------

    async def import_card(
        self, user: UserRef, data: bytes, *, limits: Limits | None = None
    ) -> CardImport:
        """A new active persona from a card file, with its book as keyword memories."""
        card = await asyncio.to_thread(read_card, data, limits)
        person = await self.person(user)
        if len(await self.personas.list(person)) >= MAX_PERSONAS:
            raise UserError("persona.too_many", limit=MAX_PERSONAS)
        values = persona_values(card)
        entries = [e for e in card.book if e.enabled]
        async with self.db.write() as conn:
            persona_id = await self.personas.create(person, values, conn=conn)
            for entry in entries:
                await self.memories.insert(
                    conn,
                    person,
                    NewMemory(
                        "book",
                        entry.content,
                        persona_id=persona_id,
                        keywords=entry.keys,
                        pinned=entry.constant,
                    ),
                )
        return CardImport(await self._get(person, str(persona_id)), len(entries))

    async def card(self, person_id: int, persona: Persona) -> Card:
        """The persona (with its book memories) as a card."""
        book = await self.memories.of_kind(person_id, persona.id, "book")
        return persona_card(
            persona,
            [
                BookEntry(keys=m.keywords, content=m.body, constant=m.pinned, insertion_order=i)
                for i, m in enumerate(book)
                if m.persona_id == persona.id
            ],
        )

    async def card_png(self, user: UserRef, name_or_id: str | None = None) -> bytes:
        persona = await self.get(user, name_or_id)
        return write_card_png(await self.card(persona.person_id, persona))


def persona_values(card: Card) -> dict[str, Any]:
    """Persona columns for a card (see the module docstring for the mapping)."""
    own = card.extensions.get(_OWN_EXTENSION)
    own = own if isinstance(own, dict) else {}
    extensions = {k: v for k, v in card.extensions.items() if k != _OWN_EXTENSION}
    personality = card.description or card.personality
    kept: dict[str, Any] = {
        "scenario": card.scenario,
        "system_prompt": card.system_prompt,
        "post_history_instructions": card.post_history_instructions,
        "creator_notes": card.creator_notes,
        "tags": list(card.tags),
        "alternate_greetings": list(card.alternate_greetings),
        "creator": card.creator,
        "character_version": card.character_version,
        "nickname": card.nickname,
        "card_personality": card.personality if card.description else "",
        "extensions": extensions,
        "spec": card.spec,
    }
    values: dict[str, Any] = {
        "name": validate("name", card.name[:MAX_NAME]),
        "personality": personality[:MAX_FIELD],
        "example_dialogue": card.mes_example[:MAX_FIELD],
        "greeting": card.first_mes[:MAX_FIELD],
        "card_extra": json.dumps({k: v for k, v in kept.items() if v}, ensure_ascii=False),
    }
    for column in ("speaking_style", "relationship", "important_dates"):
        if isinstance(own.get(column), str):
            values[column] = own[column][:MAX_FIELD]
    for column in ("temperature", "top_p", "max_tokens"):
        if own.get(column) is not None:
            try:
                values[column] = validate(column, own[column])
            except UserError:
                continue
    return values


def persona_card(persona: Persona, book: list[BookEntry]) -> Card:
    """A card for `persona`; the inverse of `persona_values`."""
    kept = json.loads(persona.card_extra or "{}")
    extensions = dict(kept.get("extensions") or {})
    own = {
        "speaking_style": persona.speaking_style,
        "relationship": persona.relationship,
        "important_dates": persona.important_dates,
        "temperature": persona.temperature,
        "top_p": persona.top_p,
        "max_tokens": persona.max_tokens,
    }
    extensions[_OWN_EXTENSION] = {k: v for k, v in own.items() if v not in (None, "")}
    return Card(
        name=persona.name,
        description=persona.personality,
        personality=str(kept.get("card_personality") or ""),
        scenario=str(kept.get("scenario") or ""),
        first_mes=persona.greeting,
        mes_example=persona.example_dialogue,
        system_prompt=str(kept.get("system_prompt") or ""),
        post_history_instructions=str(kept.get("post_history_instructions") or ""),
        creator_notes=str(kept.get("creator_notes") or ""),
        alternate_greetings=tuple(kept.get("alternate_greetings") or ()),
        tags=tuple(kept.get("tags") or ()),
        creator=str(kept.get("creator") or ""),
        character_version=str(kept.get("character_version") or ""),
        nickname=str(kept.get("nickname") or ""),
        book=tuple(book),
        extensions=extensions,
    )
