"""Memory retrieval and memory intake for one person (and their active persona).

Retrieval (`MemoryService.search`):

1. The query is cut into *long terms* (English word stems of three or more letters, and every
   three-character window of each CJK run) and *short terms* (CJK runs of one or two characters;
   other one- or two-character words only when nothing longer is present).
2. Long terms are OR-ed into one FTS5 `trigram` MATCH ranked by BM25; short terms go through
   `LIKE` on the base table (platform-notes §10). When both paths answer, their rankings are
   fused by reciprocal rank (RRF).
3. Pieces of the same letter or imported conversation lend each other a share of their score
   (a question matches the turn that asked, the answer is the next turn).
4. Optional embeddings through the provider's `/v1/embeddings` add a third ranking to the RRF;
   they are off by default.
5. Ties break on pins, then recency.

Intake: a letter is stored verbatim and as chunks; a ChatGPT export becomes `history` memories
(one per exchange) plus `style` examples of the companion's replies; `/remember` adds one memory.
Everything of one upload is written in one transaction: it is all stored, or nothing is.
"""

from __future__ import annotations

import asyncio
import logging
import math
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, Protocol

import httpx

from bot.core.errors import UserError
from bot.core.models import UserRef
from bot.services.companion_seams import MemoryHit
from bot.services.files import Limits
from bot.services.imports.card import BookEntry, entry_matches
from bot.services.imports.chatgpt import Conversation, ConversationFilter, iter_conversations
from bot.services.imports.letter import chunk_letter, read_letter
from bot.services.search_terms import query_terms
from bot.services.storage.db import Database
from bot.services.storage.memories import Candidate, Memories, Memory, NewMemory
from bot.services.storage.personas import Personas
from bot.services.storage.users import Users

log = logging.getLogger(__name__)

MAX_MEMORY_CHARS: Final = 4000
#: Prefix of memories taken from ChatGPT's own memory tool (`bio`) in an export: data, not fact.
CHATGPT_MEMORY_LABEL: Final = "[saved by ChatGPT]"


@dataclass(frozen=True, slots=True)
class RetrievalSettings:
    """Tunables of `MemoryService.search` (defaults measured on the LoCoMo dev set)."""

    pool: int = 100
    neighbour_weight: float = 0.3
    rrf_k: int = 60
    trigram_words: bool = False
    #: Terms held by more than this share of all memories (and `common_floor` of them) are dropped
    #: from a query that has rarer terms: they barely move BM25 and cost the most to rank.
    common_share: float = 0.1
    common_floor: int = 500
    #: Past this many matching memories (of everyone), a query ranks the newest matches instead
    #: of scoring them all with BM25 (which costs about 1.5 µs a match).
    rank_budget: int = 3000
    use_embeddings: bool = False


# --- embeddings (optional) ------------------------------------------------------------------


class Embedder(Protocol):
    """Turns texts into vectors (an OpenAI-compatible `/v1/embeddings`)."""

    model: str

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class HttpEmbedder:
    """`POST {base_url}/embeddings` on an OpenAI-compatible provider."""

    def __init__(
        self, client: httpx.AsyncClient, base_url: str, model: str, api_key: str | None = None
    ) -> None:
        self.client = client
        self.url = base_url.rstrip("/") + "/embeddings"
        self.model = model
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        response = await self.client.post(
            self.url, json={"model": self.model, "input": list(texts)}, headers=self.headers
        )
        response.raise_for_status()
        data = sorted(response.json()["data"], key=lambda item: int(item["index"]))
        return [[float(x) for x in item["embedding"]] for item in data]


def _pack(vector: Sequence[float]) -> bytes:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return array("f", (x / norm for x in vector)).tobytes()


def _unpack(blob: bytes) -> array[float]:
    out = array("f")
    out.frombytes(blob)
    return out


# --- results of intake ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LetterImport:
    """What a letter upload stored."""

    letter_id: int
    chunks: int
    characters: int


@dataclass(frozen=True, slots=True)
class HistoryImport:
    """What a ChatGPT import stored (`skipped`: conversations imported before)."""

    conversations: int
    turns: int
    style_examples: int
    skipped: int
    saved_memories: int = 0


class MemoryService:
    """Memories of people; implements the companion's `MemorySource`."""

    def __init__(
        self,
        db: Database,
        users: Users,
        memories: Memories,
        personas: Personas,
        *,
        settings: RetrievalSettings | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.db = db
        self.users = users
        self.memories = memories
        self.personas = personas
        self.settings = settings or RetrievalSettings()
        self.embedder = embedder if (settings and settings.use_embeddings) else None

    async def person(self, user: UserRef) -> int:
        """The internal person id of `user` (linked accounts share it)."""
        return await self.users.resolve(user.platform, user.id, user.name)

    async def scope(self, user: UserRef) -> tuple[int, int | None]:
        """(person id, active persona id or None)."""
        person = await self.person(user)
        active = await self.personas.active(person)
        return person, active.id if active else None

    # --- MemorySource --------------------------------------------------------------------

    async def pinned(self, user: UserRef, *, limit: int = 20) -> list[MemoryHit]:
        person, persona = await self.scope(user)
        return [_hit(m, 0.0) for m in await self.memories.pinned(person, persona, limit)]

    async def recall(self, user: UserRef, query: str, *, k: int = 8) -> list[MemoryHit]:
        """Best `k` memories for `query`, then any character-book entries its words trigger."""
        person, persona = await self.scope(user)
        hits = await self.search(person, persona, query, k=k)
        seen = {h.id for h in hits}
        for memory in await self.memories.of_kind(person, persona, "book"):
            if memory.id not in seen and entry_matches(_book_entry(memory), query):
                hits.append(_hit(memory, 0.0))
        return hits

    # --- search ------------------------------------------------------------------------------

    async def search(
        self, person_id: int, persona_id: int | None, query: str, *, k: int = 8
    ) -> list[MemoryHit]:
        """The `k` best memories of one person for `query`, best first."""
        terms = query_terms(query, trigram_words=self.settings.trigram_words)
        pool = max(self.settings.pool, k)
        rankings: list[dict[int, float]] = []
        found: dict[int, Candidate] = {}
        long, _ = await self._prune("memories_fts", terms.long)
        grams, grams_bound = await self._prune("memories_terms", terms.grams)
        terms = replace(terms, long=long, grams=grams)
        # Bigrams and stems are single index tokens, so their document frequencies bound the
        # number of matches; trigram phrases and one-character prefixes must be counted.
        known = {"memories_terms": grams_bound if not terms.chars else None}
        for table, expression in (
            ("memories_fts", terms.match_expression()),
            ("memories_terms", terms.terms_expression()),
        ):
            if expression:
                matches = known.get(table)
                if matches is None:
                    matches = await self.memories.count_matches(table, expression)
                if matches > self.settings.rank_budget:
                    rows = await self.memories.search_recent(
                        person_id, persona_id, expression, pool, table=table
                    )
                else:
                    rows = await self.memories.search_match(
                        person_id, persona_id, expression, pool, table=table
                    )
                rankings.append(_collect(rows, found))
        if terms.short:
            rows = await self.memories.search_like(person_id, persona_id, terms.short, pool)
            rankings.append(_collect(rows, found))
        if self.embedder is not None and query.strip():
            vector_scores = await self._vector_scores(person_id, persona_id, query, pool)
            if vector_scores:
                rankings.append(vector_scores)
                missing = set(vector_scores) - set(found)
                for candidate in await self.memories.candidates(person_id, missing):
                    found[candidate.id] = candidate
        if not rankings:
            return []
        scores = await self._smooth(person_id, rankings, found)
        ordered = sorted(
            (i for i in scores if i in found),
            key=lambda i: (-scores[i], -found[i].pinned, -found[i].created_at, -i),
        )[:k]
        # Only the winners' text is read.
        rows_by_id = {m.id: m for m in await self.memories.by_ids(person_id, ordered)}
        return [_hit(rows_by_id[i], scores[i]) for i in ordered if i in rows_by_id]

    async def _prune(
        self, table: str, terms: tuple[str, ...]
    ) -> tuple[tuple[str, ...], int | None]:
        """Drop near-universal terms when rarer ones remain (at least the two rarest stay).

        Returns the kept terms and the sum of their document frequencies (None if not looked up).
        """
        if len(terms) <= 2:
            return terms, None
        frequencies = await self.memories.document_frequencies(table, terms)
        total = frequencies.pop("")
        limit = max(self.settings.common_floor, total * self.settings.common_share)
        kept = [t for t in terms if frequencies[t] <= limit]
        if len(kept) < 2:
            kept = sorted(terms, key=lambda t: frequencies[t])[:2]
        # Rarest first, keep adding while the rows to score stay within budget.
        chosen: list[str] = []
        budget = 0
        for term in sorted(kept, key=lambda t: frequencies[t]):
            if chosen and budget + frequencies[term] > self.settings.rank_budget:
                break
            chosen.append(term)
            budget += frequencies[term]
        return tuple(t for t in terms if t in chosen), budget

    async def _smooth(
        self, person_id: int, rankings: list[dict[int, float]], found: dict[int, Candidate]
    ) -> dict[int, float]:
        """Neighbour smoothing per ranking, then RRF across rankings (a single one passes)."""
        weight = self.settings.neighbour_weight
        grouped = [i for ranking in rankings for i in ranking if found[i].group is not None]
        wanted = {n for i in grouped for n in (i - 1, i + 1)} - set(found)
        for extra in await self.memories.candidates(person_id, wanted):
            found[extra.id] = extra
        smoothed: list[dict[int, float]] = []
        for ranking in rankings:
            out: dict[int, float] = {}
            candidates = set(ranking) | {
                n for i in ranking if found[i].group is not None for n in (i - 1, i + 1)
            }
            for i in candidates:
                current = found.get(i)
                if current is None:
                    continue
                score = ranking.get(i, 0.0)
                if current.group is not None:
                    for n in (i - 1, i + 1):
                        other = found.get(n)
                        if other is not None and other.group == current.group:
                            score += weight * ranking.get(n, 0.0)
                if score > 0:
                    out[i] = score
            smoothed.append(out)
        if len(smoothed) == 1:
            return smoothed[0]
        fused: dict[int, float] = {}
        for ranking in smoothed:
            for rank, i in enumerate(sorted(ranking, key=lambda j: -ranking[j])):
                fused[i] = fused.get(i, 0.0) + 1.0 / (self.settings.rrf_k + rank + 1)
        return fused

    async def _vector_scores(
        self, person_id: int, persona_id: int | None, query: str, pool: int
    ) -> dict[int, float]:
        assert self.embedder is not None
        try:
            (vector,) = await self.embedder.embed([query])
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            log.warning("query embedding failed: %s", type(exc).__name__)
            return {}
        query_vec = _unpack(_pack(vector))
        rows = await self.memories.vectors(person_id, self.embedder.model, persona_id)
        scored = []
        for memory_id, blob in rows:
            vec = _unpack(blob)
            if len(vec) == len(query_vec):
                scored.append((sum(a * b for a, b in zip(vec, query_vec, strict=True)), memory_id))
        scored.sort(reverse=True)
        return {memory_id: max(score, 1e-9) for score, memory_id in scored[:pool]}

    async def embed_pending(self, person_id: int, batch: int = 64) -> int:
        """Embed this person's memories that have no vector yet; a failure leaves them for later."""
        if self.embedder is None:
            return 0
        done = 0
        while True:
            rows = await self.memories.unembedded(person_id, self.embedder.model, batch)
            if not rows:
                return done
            try:
                vectors = await self.embedder.embed([body for _, body in rows])
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                log.warning("embedding failed: %s", type(exc).__name__)
                return done
            await self.memories.store_vectors(
                person_id,
                self.embedder.model,
                [(memory_id, _pack(v)) for (memory_id, _), v in zip(rows, vectors, strict=True)],
            )
            done += len(rows)

    # --- single memories --------------------------------------------------------------------

    async def remember(self, user: UserRef, text: str) -> int:
        """Store one memory the person wrote (for the active persona, if any)."""
        body = text.strip()
        if not body:
            raise UserError("memory.empty")
        if len(body) > MAX_MEMORY_CHARS:
            raise UserError("memory.too_long", limit=MAX_MEMORY_CHARS)
        person, persona = await self.scope(user)
        memory_id = await self.memories.add(person, NewMemory("memory", body, persona_id=persona))
        await self.embed_pending(person)
        return memory_id

    async def forget(self, user: UserRef, memory_id: int) -> None:
        if not await self.memories.delete(await self.person(user), memory_id):
            raise UserError("memory.not_found", id=memory_id)

    async def pin(self, user: UserRef, memory_id: int, pinned: bool = True) -> None:
        if not await self.memories.set_pinned(await self.person(user), memory_id, pinned):
            raise UserError("memory.not_found", id=memory_id)

    async def page(self, user: UserRef, page: int, size: int = 10) -> tuple[list[Memory], int]:
        """One page of the person's memories (pinned first, newest first) and the total."""
        person = await self.person(user)
        kinds = ("memory", "letter", "book", "history")
        total = await self.memories.count(person, kinds)
        rows = await self.memories.page(person, offset=page * size, limit=size, kinds=kinds)
        return rows, total

    # --- letters ------------------------------------------------------------------------------

    async def import_letter(
        self,
        user: UserRef,
        data: bytes,
        filename: str = "",
        *,
        limits: Limits | None = None,
        title: str = "",
    ) -> LetterImport:
        """Decode, keep verbatim and chunk a letter file (.txt, .md, .docx)."""
        text = await asyncio.to_thread(read_letter, data, filename, limits)
        return await self.import_letter_text(user, text, title=title)

    async def import_letter_text(
        self, user: UserRef, text: str, *, title: str = ""
    ) -> LetterImport:
        """Store pasted letter text verbatim plus its retrieval chunks, in one transaction."""
        if not text.strip():
            raise UserError("files.empty")
        person, persona = await self.scope(user)
        chunks = chunk_letter(text)
        async with self.db.write() as conn:
            letter_id = await self.memories.insert_letter(conn, person, persona, title[:200], text)
            await self.memories.insert_many(
                conn,
                person,
                (
                    NewMemory(
                        "letter",
                        c.text,
                        persona_id=persona,
                        letter_id=letter_id,
                        span=(c.start, c.end),
                    )
                    for c in chunks
                ),
            )
        log.info("letter %s stored: %d chunks, %d chars", letter_id, len(chunks), len(text))
        await self.embed_pending(person)
        return LetterImport(letter_id, len(chunks), len(text))

    # --- ChatGPT history -------------------------------------------------------------------------

    async def import_chatgpt(
        self,
        user: UserRef,
        source: bytes | Path,
        *,
        chosen: ConversationFilter | None = None,
        limits: Limits | None = None,
        on_progress: Callable[[int], None] | None = None,
        style_examples: int = 20,
    ) -> HistoryImport:
        """Store the chosen conversations' exchanges as searchable history, all or nothing."""
        person, persona = await self.scope(user)
        stream = iter_conversations(source, limits, chosen=chosen, on_progress=on_progress)
        conversations = turns = skipped = 0
        styles: list[str] = []
        saved: set[str] = set()
        async with self.db.write() as conn:
            while True:
                batch = await asyncio.to_thread(_take, stream, 64)
                if not batch:
                    break
                rows: list[NewMemory] = []
                for conv in batch:
                    exchanges = list(_exchanges(conv))
                    conv_id = await self.memories.insert_conversation(
                        conn,
                        person,
                        persona,
                        "chatgpt",
                        conv.id or f"untitled-{conversations}",
                        conv.title,
                        conv.create_time,
                        ",".join(conv.models),
                        len(conv.messages),
                    )
                    if conv_id is None:
                        skipped += 1
                        continue
                    conversations += 1
                    rows.extend(
                        NewMemory(
                            "history",
                            body,
                            persona_id=persona,
                            conversation_id=conv_id,
                            created_at=stamp,
                        )
                        for body, stamp in exchanges
                    )
                    turns += len(exchanges)
                    _collect_style(conv, styles, style_examples)
                    # What ChatGPT saved to its own memory tool: kept, and labelled as such.
                    for text in conv.memory_candidates:
                        if text not in saved:
                            saved.add(text)
                            rows.append(
                                NewMemory(
                                    "memory",
                                    f"{CHATGPT_MEMORY_LABEL} {text}"[:MAX_MEMORY_CHARS],
                                    persona_id=persona,
                                    created_at=conv.create_time,
                                )
                            )
                await self.memories.insert_bulk(conn, person, rows)
            for text in styles:
                await self.memories.insert(
                    conn, person, NewMemory("style", text, persona_id=persona)
                )
        log.info("chatgpt import: %d conversations, %d exchanges", conversations, turns)
        if conversations == 0 and skipped == 0:
            raise UserError("imports.chatgpt.none_chosen")
        await self.embed_pending(person)
        return HistoryImport(conversations, turns, len(styles), skipped, len(saved))


def _collect(rows: list[tuple[Candidate, float]], found: dict[int, Candidate]) -> dict[int, float]:
    out: dict[int, float] = {}
    for candidate, score in rows:
        found[candidate.id] = candidate
        out[candidate.id] = score
    return out


def _take(stream: Iterator[Conversation], n: int) -> list[Conversation]:
    out: list[Conversation] = []
    for conv in stream:
        out.append(conv)
        if len(out) >= n:
            break
    return out


def _exchanges(conv: Conversation) -> Iterator[tuple[str, float | None]]:
    """One searchable text per user message and the reply that followed it."""
    pending: list[str] = []
    stamp: float | None = None
    for message in conv.messages:
        label = "User" if message.role == "user" else "Companion"
        if message.role == "user" and pending and not pending[-1].startswith("User:"):
            yield "\n".join(pending)[:MAX_MEMORY_CHARS], stamp
            pending = []
        if not pending:
            stamp = message.create_time or conv.create_time
        pending.append(f"{label}: {message.text}")
    if pending:
        yield "\n".join(pending)[:MAX_MEMORY_CHARS], stamp


def _collect_style(conv: Conversation, styles: list[str], limit: int) -> None:
    """Keep a few of the companion's own replies (moderate length) as style examples."""
    for message in conv.messages:
        if len(styles) >= limit:
            return
        if message.role == "assistant" and 20 <= len(message.text) <= 600:
            styles.append(message.text)


def _hit(memory: Memory, score: float) -> MemoryHit:
    return MemoryHit(
        id=memory.id,
        text=memory.body,
        kind=memory.kind,
        score=round(score, 6),
        pinned=memory.pinned,
        created_at=memory.created_at,
    )


def _book_entry(memory: Memory) -> BookEntry:
    return BookEntry(keys=memory.keywords, content=memory.body)
