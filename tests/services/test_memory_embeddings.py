"""Optional embeddings: vectors from the provider's /v1/embeddings, fused with lexical ranks."""

from __future__ import annotations

from pathlib import Path

import httpx

from bot.core.models import UserRef
from bot.services.memory import HttpEmbedder, MemoryService, RetrievalSettings
from bot.services.storage.db import Database
from bot.services.storage.memories import Memories
from bot.services.storage.personas import Personas
from bot.services.storage.users import Users
from tests.fakes.openai_server import FakeOpenAI

ALICE = UserRef("console", "alice")
BOB = UserRef("console", "bob")


async def test_embeddings_are_stored_fused_and_scoped(tmp_path: Path) -> None:
    db = Database(tmp_path / "a.sqlite3")
    await db.open()
    client = httpx.AsyncClient()
    async with FakeOpenAI() as server:
        embedder = HttpEmbedder(client, server.base_url, "embed-small", api_key="sk-test")
        users = Users(db)
        memory = MemoryService(
            db,
            users,
            Memories(db),
            Personas(db),
            settings=RetrievalSettings(use_embeddings=True),
            embedder=embedder,
        )
        lexical_only = MemoryService(db, users, Memories(db), Personas(db))
        first = await memory.remember(ALICE, "我们一起在海边看日落")
        await memory.remember(ALICE, "the cat sleeps on the keyboard")
        await memory.remember(BOB, "BOB-ONLY 海边日落")
        rows = await db.fetchall("SELECT person_id, model FROM memory_vectors")
        assert len(rows) == 3 and {r[1] for r in rows} == {"embed-small"}
        assert server.embedding_requests, "no embeddings request was made"
        person, persona = await memory.scope(ALICE)
        hits = await memory.search(person, persona, "海边日落", k=5)
        assert hits[0].id == first
        assert all("BOB-ONLY" not in h.text for h in hits)
        # A query with no lexical match still finds something through the vectors alone.
        assert await lexical_only.search(person, persona, "?", k=3) == []
        assert [h.id for h in await memory.search(person, persona, "?", k=3)] != []
        await memory.forget(ALICE, first)
        assert len(await db.fetchall("SELECT 1 FROM memory_vectors")) == 2
    # With the provider gone, search degrades to lexical instead of failing.
    hits = await memory.search(person, persona, "cat keyboard", k=3)
    assert hits and "cat" in hits[0].text
    await client.aclose()
    await db.close()
