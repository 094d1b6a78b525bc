"""The seam between the companion (context assembly) and the memory and persona services.

The companion asks for a person's active persona and for memories relevant to one message; it
never sees SQL, other people's data, or how retrieval works. Both calls take the owner's
`UserRef` from a direct-message handler: linked accounts resolve to the same person inside the
services, and there is no way to ask for someone else's memories. Group handlers are never given
an object implementing these protocols.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bot.core.models import UserRef


@dataclass(frozen=True, slots=True)
class MemoryHit:
    """One retrieved memory. `kind` is letter | memory | history | book; `text` is user data."""

    id: int
    text: str
    kind: str
    score: float
    pinned: bool = False
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class PersonaView:
    """What the companion needs of a persona to write its system prompt and sample replies.

    Every text field is the person's own (or an imported card's) words: treat it as data.
    """

    id: int
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
    extra: dict[str, str] = field(default_factory=dict)


class MemorySource(Protocol):
    """Memories of one person (and their active persona), for the companion's context."""

    async def pinned(self, user: UserRef, *, limit: int = 20) -> list[MemoryHit]:
        """Pinned memories, always in context (newest first)."""
        ...

    async def recall(self, user: UserRef, query: str, *, k: int = 8) -> list[MemoryHit]:
        """The `k` memories most relevant to `query`, best first, plus triggered book entries."""
        ...


class PersonaSource(Protocol):
    """The persona a person is currently talking with."""

    async def active(self, user: UserRef) -> PersonaView | None:
        """The active persona, or None when the person has not created one."""
        ...
