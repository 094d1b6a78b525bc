"""Builds the memory feature's repositories and services once (used by `App` and the CLI)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from bot.services.exports import Exporter, ExportSection
from bot.services.memory import Embedder, HttpEmbedder, MemoryService, RetrievalSettings
from bot.services.persona import PersonaService
from bot.services.privacy import PersonalData, PrivacyService
from bot.services.storage.db import Database
from bot.services.storage.memories import Memories
from bot.services.storage.personas import Personas
from bot.services.storage.users import Users
from bot.settings import Settings


@dataclass(frozen=True, slots=True)
class MemoryStack:
    """Personas, memories, exports and privacy over one database.

    Only direct-message cogs and the companion's DM path may be handed any of these.
    """

    memories: Memories
    personas: Personas
    memory: MemoryService
    persona: PersonaService
    exporter: Exporter
    privacy: PrivacyService

    @classmethod
    def build(
        cls,
        db: Database,
        users: Users,
        *,
        settings: RetrievalSettings | None = None,
        embedder: Embedder | None = None,
        sections: Sequence[ExportSection] = (),
        holders: Sequence[PersonalData] = (),
    ) -> MemoryStack:
        memories, personas = Memories(db), Personas(db)
        persona = PersonaService(db, users, personas, memories)
        return cls(
            memories=memories,
            personas=personas,
            memory=MemoryService(
                db, users, memories, personas, settings=settings, embedder=embedder
            ),
            persona=persona,
            exporter=Exporter(db, users, personas, memories, persona, sections),
            privacy=PrivacyService(db, users, holders),
        )


@dataclass(frozen=True, slots=True)
class EmbeddingSetup:
    """Retrieval settings with embeddings switched on, and the embedder to use."""

    settings: RetrievalSettings
    embedder: Embedder


def embedder_from_settings(
    settings: Settings,
) -> tuple[EmbeddingSetup | None, httpx.AsyncClient | None]:
    """Embeddings from `[memory] embeddings = true` (+ `embedding_model`, `embedding_provider`).

    Off by default. The provider is one of `[llm]`'s (the first when not named); its key and base
    URL are reused. Returns the setup and the HTTP client to close at shutdown.
    """
    section = settings.section("memory")
    if not section.get("embeddings", False):
        return None, None
    llm = settings.llm()
    if llm is None or not llm.providers:
        return None, None
    wanted = section.get("embedding_provider")
    provider = next((p for p in llm.providers if p.name == wanted), llm.providers[0])
    client = httpx.AsyncClient(timeout=httpx.Timeout(20.0))
    embedder = HttpEmbedder(
        client,
        provider.base_url,
        str(section.get("embedding_model", "text-embedding-3-small")),
        provider.api_key,
    )
    return EmbeddingSetup(RetrievalSettings(use_embeddings=True), embedder), client
