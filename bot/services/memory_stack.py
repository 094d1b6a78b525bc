"""Builds the memory feature's repositories and services once (used by `App` and the CLI)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.services.exports import Exporter, ExportSection
from bot.services.memory import Embedder, MemoryService, RetrievalSettings
from bot.services.persona import PersonaService
from bot.services.privacy import PersonalData, PrivacyService
from bot.services.storage.db import Database
from bot.services.storage.memories import Memories
from bot.services.storage.personas import Personas
from bot.services.storage.users import Users


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
