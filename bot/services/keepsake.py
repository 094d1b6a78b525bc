"""The memory side of /keep: one farewell post stored as a memory of a chosen persona.

Implements `cogs.keepsake.KeepsakeMemory` on top of the memory and persona services (issue 4),
so the keepsake cog depends on one small method instead of both services.
"""

from __future__ import annotations

from bot.core.models import UserRef
from bot.services.memory import MemoryService
from bot.services.persona import PersonaService
from bot.services.storage.memories import NewMemory


class MemoryKeepsake:
    """Stores keepsake text through the memory service, for the active or a named persona."""

    def __init__(self, memory: MemoryService, personas: PersonaService) -> None:
        self.memory = memory
        self.personas = personas

    async def keep_text(self, user: UserRef, text: str, persona: str | None) -> int:
        """Store `text` as a memory (of `persona` when named); returns the memory id."""
        if persona is None:
            return await self.memory.remember(user, text)
        chosen = await self.personas.get(user, persona)
        person = await self.memory.person(user)
        memory_id = await self.memory.memories.add(
            person, NewMemory("memory", text.strip(), persona_id=chosen.id)
        )
        await self.memory.embed_pending(person)
        return memory_id
