"""Personas: the companions a person keeps (name, character, style, sampling), one active at a time."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

import aiosqlite

from bot.services.storage.db import Database

#: Text fields a person may edit, in display order.
TEXT_FIELDS: Final = (
    "name",
    "personality",
    "speaking_style",
    "relationship",
    "important_dates",
    "example_dialogue",
    "greeting",
)
SAMPLING_FIELDS: Final = ("temperature", "top_p", "max_tokens")
_COLUMNS: Final = (
    "id, person_id, name, personality, speaking_style, relationship, important_dates,"
    " example_dialogue, greeting, temperature, top_p, max_tokens, card_extra, active,"
    " created_at, updated_at"
)


@dataclass(frozen=True, slots=True)
class Persona:
    """One stored persona; `card_extra` holds card fields we keep but do not model (JSON text)."""

    id: int
    person_id: int
    name: str
    personality: str = ""
    speaking_style: str = ""
    relationship: str = ""
    important_dates: str = ""
    example_dialogue: str = ""
    greeting: str = ""
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    card_extra: str = "{}"
    active: bool = False
    created_at: float = 0.0
    updated_at: float = 0.0


def _row(row: aiosqlite.Row) -> Persona:
    return Persona(
        id=int(row["id"]),
        person_id=int(row["person_id"]),
        name=row["name"],
        personality=row["personality"],
        speaking_style=row["speaking_style"],
        relationship=row["relationship"],
        important_dates=row["important_dates"],
        example_dialogue=row["example_dialogue"],
        greeting=row["greeting"],
        temperature=row["temperature"],
        top_p=row["top_p"],
        max_tokens=row["max_tokens"],
        card_extra=row["card_extra"],
        active=bool(row["active"]),
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
    )


_ALLOWED: Final = frozenset((*TEXT_FIELDS, *SAMPLING_FIELDS, "card_extra"))


class Personas:
    """Persona rows, always scoped by the owning person id."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        person_id: int,
        values: dict[str, Any],
        *,
        activate: bool = True,
        conn: aiosqlite.Connection | None = None,
    ) -> int:
        """Insert a persona; with `activate` it becomes the active one. Returns its id."""
        unknown = set(values) - _ALLOWED
        if unknown:
            raise ValueError(f"unknown persona fields: {sorted(unknown)}")
        if conn is not None:
            return await self._create(conn, person_id, values, activate)
        async with self.db.write() as own:
            return await self._create(own, person_id, values, activate)

    async def _create(
        self, conn: aiosqlite.Connection, person_id: int, values: dict[str, Any], activate: bool
    ) -> int:
        now = time.time()
        names = list(values)
        cur = await conn.execute("SELECT COUNT(*) FROM personas WHERE person_id = ?", (person_id,))
        first = (await cur.fetchone() or (0,))[0] == 0
        if activate or first:
            await conn.execute("UPDATE personas SET active = 0 WHERE person_id = ?", (person_id,))
        cols = ", ".join(["person_id", *names, "active", "created_at", "updated_at"])
        marks = ", ".join("?" * (len(names) + 4))
        cur = await conn.execute(
            f"INSERT INTO personas ({cols}) VALUES ({marks})",
            (person_id, *[values[n] for n in names], int(activate or first), now, now),
        )
        return int(cur.lastrowid or 0)

    async def get(self, person_id: int, persona_id: int) -> Persona | None:
        """One persona, only if it belongs to `person_id`."""
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM personas WHERE id = ? AND person_id = ?",
            (persona_id, person_id),
        )
        return _row(row) if row else None

    async def active(self, person_id: int) -> Persona | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM personas WHERE person_id = ? AND active = 1", (person_id,)
        )
        return _row(row) if row else None

    @staticmethod
    async def has_active(conn: aiosqlite.Connection, person_id: int) -> bool:
        """Whether the person has an active persona, read inside the caller's transaction."""
        cur = await conn.execute(
            "SELECT 1 FROM personas WHERE person_id = ? AND active = 1", (person_id,)
        )
        return await cur.fetchone() is not None

    async def list(self, person_id: int) -> list[Persona]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM personas WHERE person_id = ? ORDER BY id", (person_id,)
        )
        return [_row(r) for r in rows]

    async def find(self, person_id: int, name_or_id: str) -> Persona | None:
        """A persona by id, or by exact (case-insensitive) name."""
        if name_or_id.strip().isdigit():
            found = await self.get(person_id, int(name_or_id))
            if found:
                return found
        folded = name_or_id.strip().casefold()
        for persona in await self.list(person_id):
            if persona.name.casefold() == folded:
                return persona
        return None

    async def update(self, person_id: int, persona_id: int, values: dict[str, Any]) -> bool:
        """Change some fields; False when the persona is not this person's."""
        unknown = set(values) - _ALLOWED
        if unknown:
            raise ValueError(f"unknown persona fields: {sorted(unknown)}")
        if not values:
            return await self.get(person_id, persona_id) is not None
        sets = ", ".join(f"{name} = ?" for name in values)
        async with self.db.write() as conn:
            cur = await conn.execute(
                f"UPDATE personas SET {sets}, updated_at = ? WHERE id = ? AND person_id = ?",
                (*values.values(), time.time(), persona_id, person_id),
            )
            return cur.rowcount > 0

    async def activate(self, person_id: int, persona_id: int) -> bool:
        async with self.db.write() as conn:
            cur = await conn.execute(
                "SELECT 1 FROM personas WHERE id = ? AND person_id = ?", (persona_id, person_id)
            )
            if await cur.fetchone() is None:
                return False
            await conn.execute("UPDATE personas SET active = 0 WHERE person_id = ?", (person_id,))
            await conn.execute("UPDATE personas SET active = 1 WHERE id = ?", (persona_id,))
            return True

    async def delete(self, person_id: int, persona_id: int) -> bool:
        """Delete a persona and (by cascade) its own memories; another becomes active."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "DELETE FROM personas WHERE id = ? AND person_id = ?", (persona_id, person_id)
            )
            if cur.rowcount == 0:
                return False
            cur = await conn.execute(
                "SELECT 1 FROM personas WHERE person_id = ? AND active = 1", (person_id,)
            )
            if await cur.fetchone() is None:
                await conn.execute(
                    "UPDATE personas SET active = 1 WHERE id ="
                    " (SELECT MIN(id) FROM personas WHERE person_id = ?)",
                    (person_id,),
                )
            return True
