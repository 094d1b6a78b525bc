"""Memories, memory letters and imported conversations; every query is scoped by person id.

Search has two paths (platform-notes §10): an FTS5 `trigram` MATCH ranked by BM25 for terms of
three or more characters, and `LIKE` on the base table for one- and two-character terms (MATCH
cannot see them, and LIKE against the trigram table silently misses short non-ASCII patterns on
SQLite 3.40).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import aiosqlite

from bot.services.search_terms import index_terms
from bot.services.storage.db import Database

KINDS: Final = ("letter", "memory", "history", "book", "style")
#: Kinds that retrieval returns; style examples only shape the persona's voice.
SEARCHABLE: Final = ("letter", "memory", "history", "book")
_COLUMNS: Final = (
    "m.id, m.person_id, m.persona_id, m.kind, m.body, m.keywords, m.letter_id, m.span_start,"
    " m.span_end, m.conversation_id, m.pinned, m.created_at"
)
_SCOPE: Final = "m.person_id = ? AND (m.persona_id IS NULL OR m.persona_id IS ?)"


@dataclass(frozen=True, slots=True)
class Memory:
    """One stored memory row."""

    id: int
    person_id: int
    persona_id: int | None
    kind: str
    body: str
    keywords: tuple[str, ...] = ()
    letter_id: int | None = None
    span_start: int | None = None
    span_end: int | None = None
    conversation_id: int | None = None
    pinned: bool = False
    created_at: float = 0.0

    @property
    def group(self) -> tuple[str, int] | None:
        """The letter or conversation this memory is a piece of (neighbours share it)."""
        if self.letter_id is not None:
            return ("letter", self.letter_id)
        if self.conversation_id is not None:
            return ("conversation", self.conversation_id)
        return None


@dataclass(frozen=True, slots=True)
class Candidate:
    """What ranking needs of a memory (no text): its id, group, pin and age."""

    id: int
    group: tuple[str, int] | None
    pinned: bool
    created_at: float


_LIGHT: Final = "m.id, m.letter_id, m.conversation_id, m.pinned, m.created_at"


def _candidate(row: aiosqlite.Row | tuple[Any, ...]) -> Candidate:
    if row[1] is not None:
        group: tuple[str, int] | None = ("letter", int(row[1]))
    elif row[2] is not None:
        group = ("conversation", int(row[2]))
    else:
        group = None
    return Candidate(int(row[0]), group, bool(row[3]), float(row[4]))


@dataclass(frozen=True, slots=True)
class NewMemory:
    """A memory about to be stored."""

    kind: str
    body: str
    persona_id: int | None = None
    keywords: tuple[str, ...] = ()
    letter_id: int | None = None
    span: tuple[int, int] | None = None
    conversation_id: int | None = None
    pinned: bool = False
    created_at: float | None = None


@dataclass(frozen=True, slots=True)
class Letter:
    """A memory letter exactly as uploaded."""

    id: int
    persona_id: int | None
    title: str
    body: str
    created_at: float


@dataclass(frozen=True, slots=True)
class ImportedConversation:
    """The record of one imported conversation (its turns are `history` memories)."""

    id: int
    persona_id: int | None
    source: str
    source_id: str
    title: str
    created_at: float | None
    models: str
    turns: int


def _memory(row: aiosqlite.Row | tuple[Any, ...]) -> Memory:
    return Memory(
        id=int(row[0]),
        person_id=int(row[1]),
        persona_id=row[2],
        kind=row[3],
        body=row[4],
        keywords=tuple(json.loads(row[5] or "[]")),
        letter_id=row[6],
        span_start=row[7],
        span_end=row[8],
        conversation_id=row[9],
        pinned=bool(row[10]),
        created_at=float(row[11]),
    )


def _bulk_params(person_id: int, items: Sequence[NewMemory]) -> list[tuple[Any, ...]]:
    now = time.time()
    out = []
    for item in items:
        if item.kind not in KINDS:
            raise ValueError(f"unknown memory kind {item.kind!r}")
        span = item.span or (None, None)
        out.append(
            (
                person_id,
                item.persona_id,
                item.kind,
                item.body,
                json.dumps(list(item.keywords), ensure_ascii=False),
                item.letter_id,
                span[0],
                span[1],
                item.conversation_id,
                int(item.pinned),
                item.created_at if item.created_at is not None else now,
                index_terms(item.body),
            )
        )
    return out


def _kinds_clause(kinds: Sequence[str]) -> str:
    bad = set(kinds) - set(KINDS)
    if bad:
        raise ValueError(f"unknown memory kinds: {sorted(bad)}")
    return "m.kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def escape_like(text: str) -> str:
    """`text` as a LIKE literal with `\\` as the escape character."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Memories:
    """Memory, letter and imported-conversation rows of each person."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- writing (inside a caller's transaction, so an import stores all or nothing) ---------

    @staticmethod
    async def insert(conn: aiosqlite.Connection, person_id: int, item: NewMemory) -> int:
        """Insert one memory on `conn` (a `db.write()` transaction)."""
        cur = await conn.execute(
            "INSERT INTO memories (person_id, persona_id, kind, body, keywords, letter_id,"
            " span_start, span_end, conversation_id, pinned, created_at, terms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _bulk_params(person_id, [item])[0],
        )
        return int(cur.lastrowid or 0)

    @classmethod
    async def insert_many(
        cls, conn: aiosqlite.Connection, person_id: int, items: Iterable[NewMemory]
    ) -> list[int]:
        return [await cls.insert(conn, person_id, item) for item in items]

    @staticmethod
    async def insert_bulk(
        conn: aiosqlite.Connection, person_id: int, items: Sequence[NewMemory]
    ) -> None:
        """Insert many memories in one `executemany` (imports; ids are not returned)."""
        # Tokenizing is CPU work: keep it off the event loop.
        params = await asyncio.to_thread(_bulk_params, person_id, items)
        await conn.executemany(
            "INSERT INTO memories (person_id, persona_id, kind, body, keywords, letter_id,"
            " span_start, span_end, conversation_id, pinned, created_at, terms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params,
        )

    @staticmethod
    async def insert_letter(
        conn: aiosqlite.Connection,
        person_id: int,
        persona_id: int | None,
        title: str,
        body: str,
        created_at: float | None = None,
    ) -> int:
        cur = await conn.execute(
            "INSERT INTO letters (person_id, persona_id, title, body, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (person_id, persona_id, title, body, created_at or time.time()),
        )
        return int(cur.lastrowid or 0)

    @staticmethod
    async def insert_conversation(
        conn: aiosqlite.Connection,
        person_id: int,
        persona_id: int | None,
        source: str,
        source_id: str,
        title: str,
        created_at: float | None,
        models: str,
        turns: int,
    ) -> int | None:
        """Record an imported conversation; None when this one was imported before."""
        cur = await conn.execute(
            "INSERT OR IGNORE INTO imported_conversations (person_id, persona_id, source,"
            " source_id, title, created_at, models, turns, imported_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                person_id,
                persona_id,
                source,
                source_id,
                title,
                created_at,
                models,
                turns,
                time.time(),
            ),
        )
        return int(cur.lastrowid) if cur.rowcount and cur.lastrowid else None

    async def add(self, person_id: int, item: NewMemory) -> int:
        """Store one memory in its own transaction."""
        async with self.db.write() as conn:
            return await self.insert(conn, person_id, item)

    # --- reading ---------------------------------------------------------------------------

    async def get(self, person_id: int, memory_id: int) -> Memory | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM memories m WHERE m.id = ? AND m.person_id = ?",
            (memory_id, person_id),
        )
        return _memory(row) if row else None

    async def page(
        self,
        person_id: int,
        *,
        offset: int = 0,
        limit: int = 10,
        kinds: Sequence[str] = ("memory", "letter", "book", "history"),
    ) -> list[Memory]:
        """Newest first; pinned memories lead."""
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM memories m WHERE m.person_id = ? AND {_kinds_clause(kinds)}"
            " ORDER BY m.pinned DESC, m.created_at DESC, m.id DESC LIMIT ? OFFSET ?",
            (person_id, limit, offset),
        )
        return [_memory(r) for r in rows]

    async def count(self, person_id: int, kinds: Sequence[str] = KINDS) -> int:
        row = await self.db.fetchone(
            f"SELECT COUNT(*) FROM memories m WHERE m.person_id = ? AND {_kinds_clause(kinds)}",
            (person_id,),
        )
        return int(row[0]) if row else 0

    async def pinned(self, person_id: int, persona_id: int | None, limit: int) -> list[Memory]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM memories m WHERE {_SCOPE} AND m.pinned = 1"
            " ORDER BY m.created_at DESC, m.id DESC LIMIT ?",
            (person_id, persona_id, limit),
        )
        return [_memory(r) for r in rows]

    async def of_kind(
        self, person_id: int, persona_id: int | None, kind: str, limit: int = 1000
    ) -> list[Memory]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM memories m WHERE {_SCOPE} AND {_kinds_clause([kind])}"
            " ORDER BY m.id LIMIT ?",
            (person_id, persona_id, limit),
        )
        return [_memory(r) for r in rows]

    async def search_match(
        self,
        person_id: int,
        persona_id: int | None,
        expression: str,
        limit: int,
        kinds: Sequence[str] = SEARCHABLE,
        *,
        table: str = "memories_fts",
    ) -> list[tuple[Candidate, float]]:
        """BM25-ranked matches in `table` (memories_fts: trigram, memories_terms: bigrams and
        stems) for an FTS5 `expression`; the score is higher-is-better."""
        if table not in ("memories_fts", "memories_terms"):
            raise ValueError(f"unknown index {table!r}")
        rows = await self.db.fetchall(
            f"SELECT {_LIGHT}, bm25({table}) AS score FROM {table}"
            f" JOIN memories m ON m.id = {table}.rowid"
            f" WHERE {table} MATCH ? AND {_SCOPE} AND {_kinds_clause(kinds)}"
            " ORDER BY score LIMIT ?",
            (expression, person_id, persona_id, limit),
        )
        return [(_candidate(r), -float(r[5])) for r in rows]

    async def search_like(
        self,
        person_id: int,
        persona_id: int | None,
        needles: Sequence[str],
        limit: int,
        kinds: Sequence[str] = SEARCHABLE,
    ) -> list[tuple[Candidate, float]]:
        """Rows containing any needle (base-table LIKE), scored by how many needles they hold."""
        if not needles:
            return []
        hits = " + ".join("(m.body LIKE ? ESCAPE '\\')" for _ in needles)
        patterns = [f"%{escape_like(n)}%" for n in needles]
        rows = await self.db.fetchall(
            f"SELECT {_LIGHT}, ({hits}) AS score FROM memories m"
            f" WHERE {_SCOPE} AND {_kinds_clause(kinds)} AND score > 0"
            " ORDER BY score DESC, m.pinned DESC, m.created_at DESC, m.id DESC LIMIT ?",
            (*patterns, person_id, persona_id, limit),
        )
        return [(_candidate(r), float(r[5])) for r in rows]

    # `+m.person_id` keeps SQLite on the primary key for id lists (the person index would scan
    # every memory of that person).
    async def by_ids(self, person_id: int, ids: Iterable[int]) -> list[Memory]:
        wanted = sorted(set(ids))
        if not wanted:
            return []
        marks = ", ".join("?" * len(wanted))
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM memories m WHERE +m.person_id = ? AND m.id IN ({marks})",
            (person_id, *wanted),
        )
        return [_memory(r) for r in rows]

    async def count_matches(self, table: str, expression: str) -> int:
        """How many memories (of everyone) match `expression` — cheap: nothing is scored."""
        if table not in ("memories_fts", "memories_terms"):
            raise ValueError(f"unknown index {table!r}")
        row = await self.db.fetchone(
            f"SELECT COUNT(*) FROM {table} WHERE {table} MATCH ?", (expression,)
        )
        return int(row[0]) if row else 0

    async def search_recent(
        self,
        person_id: int,
        persona_id: int | None,
        expression: str,
        limit: int,
        kinds: Sequence[str] = SEARCHABLE,
        *,
        table: str = "memories_terms",
    ) -> list[tuple[Candidate, float]]:
        """The newest matches (walking the index backwards, stopping at `limit`), scored by rank.

        For queries so broad that scoring every match would be slow.
        """
        if table not in ("memories_fts", "memories_terms"):
            raise ValueError(f"unknown index {table!r}")
        rows = await self.db.fetchall(
            f"SELECT {_LIGHT} FROM {table} JOIN memories m ON m.id = {table}.rowid"
            f" WHERE {table} MATCH ? AND {_SCOPE} AND {_kinds_clause(kinds)}"
            f" ORDER BY {table}.rowid DESC LIMIT ?",
            (expression, person_id, persona_id, limit),
        )
        return [(_candidate(r), 1.0 / (rank + 1)) for rank, r in enumerate(rows)]

    async def document_frequencies(self, table: str, terms: Sequence[str]) -> dict[str, int]:
        """How many memories (of everyone) hold each term in `table`'s index, and the id span.

        Returned under the key "" is an upper bound of the number of memories (the highest id).
        """
        vocab = {"memories_fts": "memories_fts_vocab", "memories_terms": "memories_terms_vocab"}
        if table not in vocab:
            raise ValueError(f"unknown index {table!r}")
        out: dict[str, int] = dict.fromkeys(terms, 0)
        marks = ", ".join("?" * len(terms)) or "NULL"
        # One round trip: the frequencies, then the id span as the row with an empty term.
        for term, docs in await self.db.fetchall(
            f"SELECT term, doc FROM {vocab[table]} WHERE term IN ({marks})"
            " UNION ALL SELECT '', COALESCE(MAX(id), 0) FROM memories",
            tuple(terms),
        ):
            out[str(term)] = int(docs)
        out.setdefault("", 0)
        return out

    async def candidates(self, person_id: int, ids: Iterable[int]) -> list[Candidate]:
        """Ranking facts for some ids of this person (neighbours of matches)."""
        wanted = sorted(set(ids))
        if not wanted:
            return []
        marks = ", ".join("?" * len(wanted))
        rows = await self.db.fetchall(
            f"SELECT {_LIGHT} FROM memories m WHERE +m.person_id = ? AND m.id IN ({marks})",
            (person_id, *wanted),
        )
        return [_candidate(r) for r in rows]

    async def letters(self, person_id: int) -> list[Letter]:
        rows = await self.db.fetchall(
            "SELECT id, persona_id, title, body, created_at FROM letters WHERE person_id = ?"
            " ORDER BY id",
            (person_id,),
        )
        return [Letter(int(r[0]), r[1], r[2], r[3], float(r[4])) for r in rows]

    async def conversations(self, person_id: int) -> list[ImportedConversation]:
        rows = await self.db.fetchall(
            "SELECT id, persona_id, source, source_id, title, created_at, models, turns"
            " FROM imported_conversations WHERE person_id = ? ORDER BY id",
            (person_id,),
        )
        return [
            ImportedConversation(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], int(r[7]))
            for r in rows
        ]

    async def iter_all(self, person_id: int, batch: int = 2000) -> AsyncIterator[Memory]:
        """Every memory of the person, oldest id first, in batches (exports)."""
        last = 0
        while True:
            rows = await self.db.fetchall(
                f"SELECT {_COLUMNS} FROM memories m WHERE m.person_id = ? AND m.id > ?"
                " ORDER BY m.id LIMIT ?",
                (person_id, last, batch),
            )
            if not rows:
                return
            for row in rows:
                yield _memory(row)
            last = int(rows[-1][0])

    # --- embeddings (optional) ------------------------------------------------------------------

    async def vectors(
        self, person_id: int, model: str, persona_id: int | None
    ) -> list[tuple[int, bytes]]:
        """(memory id, packed vector) of `model` for the person's searchable memories in scope."""
        rows = await self.db.fetchall(
            "SELECT v.memory_id, v.vector FROM memory_vectors v JOIN memories m ON m.id ="
            " v.memory_id WHERE v.person_id = ? AND v.model = ? AND (m.persona_id IS NULL"
            " OR m.persona_id IS ?) AND m.kind != 'style'",
            (person_id, model, persona_id),
        )
        return [(int(r[0]), bytes(r[1])) for r in rows]

    async def unembedded(self, person_id: int, model: str, limit: int) -> list[tuple[int, str]]:
        """(memory id, body) of up to `limit` memories with no `model` vector yet, oldest first."""
        rows = await self.db.fetchall(
            "SELECT m.id, m.body FROM memories m LEFT JOIN memory_vectors v ON v.memory_id ="
            " m.id AND v.model = ? WHERE m.person_id = ? AND v.memory_id IS NULL"
            " AND m.kind != 'style' ORDER BY m.id LIMIT ?",
            (model, person_id, limit),
        )
        return [(int(r[0]), str(r[1])) for r in rows]

    async def store_vectors(
        self, person_id: int, model: str, vectors: Sequence[tuple[int, bytes]]
    ) -> None:
        """Save (memory id, packed vector) pairs of `model`, replacing older ones."""
        async with self.db.write() as conn:
            await conn.executemany(
                "INSERT OR REPLACE INTO memory_vectors (memory_id, person_id, model, vector)"
                " VALUES (?, ?, ?, ?)",
                [(memory_id, person_id, model, blob) for memory_id, blob in vectors],
            )

    # --- changing ------------------------------------------------------------------------------

    async def delete(self, person_id: int, memory_id: int) -> bool:
        async with self.db.write() as conn:
            cur = await conn.execute(
                "DELETE FROM memories WHERE id = ? AND person_id = ?", (memory_id, person_id)
            )
            return cur.rowcount > 0

    async def set_pinned(self, person_id: int, memory_id: int, pinned: bool) -> bool:
        async with self.db.write() as conn:
            cur = await conn.execute(
                "UPDATE memories SET pinned = ? WHERE id = ? AND person_id = ?",
                (int(pinned), memory_id, person_id),
            )
            return cur.rowcount > 0

    @staticmethod
    async def delete_person(conn: aiosqlite.Connection, person_id: int) -> int:
        """Delete every memory-feature row of a person on `conn`; returns rows removed."""
        total = 0
        tables = (
            "memory_vectors",
            "memories",
            "letters",
            "imported_conversations",
            "personas",
            "link_codes",
        )
        for table in tables:
            cur = await conn.execute(f"DELETE FROM {table} WHERE person_id = ?", (person_id,))
            total += max(cur.rowcount, 0)
        if total:
            # FTS5 only marks deleted rows in its index segments; the person's words stay in the
            # shadow tables until the segments merge. 'optimize' rewrites them now.
            for index in ("memories_fts", "memories_terms"):
                await conn.execute(f"INSERT INTO {index}({index}) VALUES ('optimize')")
        return total

    @staticmethod
    async def move_person(conn: aiosqlite.Connection, source: int, target: int) -> None:
        """Give everything of person `source` to person `target` (account linking)."""
        await conn.execute(
            "UPDATE personas SET active = 0 WHERE person_id = ? AND EXISTS"
            " (SELECT 1 FROM personas WHERE person_id = ? AND active = 1)",
            (source, target),
        )
        for table in ("personas", "letters", "memories", "memory_vectors", "link_codes"):
            await conn.execute(
                f"UPDATE {table} SET person_id = ? WHERE person_id = ?", (target, source)
            )
        # A conversation imported on both accounts is kept once.
        await conn.execute(
            "DELETE FROM imported_conversations WHERE person_id = ? AND EXISTS (SELECT 1 FROM"
            " imported_conversations t WHERE t.person_id = ? AND t.source ="
            " imported_conversations.source AND t.source_id = imported_conversations.source_id)",
            (source, target),
        )
        await conn.execute(
            "UPDATE imported_conversations SET person_id = ? WHERE person_id = ?", (target, source)
        )
