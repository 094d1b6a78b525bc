"""Companion conversations, their messages and rolling summaries, and per-person model choice.

The write order is what keeps people's words safe: the user message is stored (as `pending`)
before any model is called; a reply is stored as `streaming` while text arrives (so even a
killed process leaves the text so far on disk), then settled as `complete` or `partial`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from bot.services.storage.db import Database

Status = Literal["pending", "complete", "partial", "streaming"]
_MSG_COLUMNS = "id, conversation_id, role, text, status, model, fallback, tokens, created_at"


@dataclass(frozen=True, slots=True)
class Conversation:
    """One conversation of a person with one persona; `summary` covers ids ≤ `summary_upto`."""

    id: int
    person_id: int
    persona_id: int
    started_at: float
    summary: str
    summary_upto: int
    summary_tokens: int
    # A reply is marked `streaming`: mid-turn, or left behind by a process that died mid-reply.
    has_streaming: bool = False


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A stored turn. `tokens` is our estimate of `text` (framing not included)."""

    id: int
    conversation_id: int
    role: str
    text: str
    status: str
    model: str | None
    fallback: bool
    tokens: int
    created_at: float


def _message(row: Any) -> StoredMessage:
    return StoredMessage(
        id=int(row[0]),
        conversation_id=int(row[1]),
        role=str(row[2]),
        text=str(row[3]),
        status=str(row[4]),
        model=row[5],
        fallback=bool(row[6]),
        tokens=int(row[7]),
        created_at=float(row[8]),
    )


def _conversation(row: Any) -> Conversation:
    return Conversation(
        id=int(row[0]),
        person_id=int(row[1]),
        persona_id=int(row[2]),
        started_at=float(row[3]),
        summary=str(row[4]),
        summary_upto=int(row[5]),
        summary_tokens=int(row[6]),
        has_streaming=bool(row[7]),
    )


_CONV_COLUMNS = (
    "id, person_id, persona_id, started_at, summary, summary_upto, summary_tokens,"
    " EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id"
    " AND m.status = 'streaming')"
)


class Conversations:
    """Typed access to the companion tables."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._clock = clock

    # ------------------------------------------------------------------ conversations

    async def active(self, person_id: int, persona_id: int) -> Conversation:
        """The person's open conversation with this persona, started on first use."""
        found = await self.find_active(person_id, persona_id)
        if found is not None:
            return found
        async with self.db.write() as conn:
            # Looked up again under the write lock: two first messages can race.
            cur = await conn.execute(
                f"SELECT {_CONV_COLUMNS} FROM conversations"
                " WHERE person_id = ? AND persona_id = ? AND ended_at IS NULL",
                (person_id, persona_id),
            )
            row = await cur.fetchone()
            if row is not None:
                return _conversation(row)
            started = self._clock()
            cur = await conn.execute(
                "INSERT INTO conversations (person_id, persona_id, started_at) VALUES (?, ?, ?)",
                (person_id, persona_id, started),
            )
            return Conversation(int(cur.lastrowid or 0), person_id, persona_id, started, "", 0, 0)

    async def find_active(self, person_id: int, persona_id: int) -> Conversation | None:
        """The open conversation, or None (never creates one)."""
        row = await self.db.fetchone(
            f"SELECT {_CONV_COLUMNS} FROM conversations"
            " WHERE person_id = ? AND persona_id = ? AND ended_at IS NULL",
            (person_id, persona_id),
        )
        return _conversation(row) if row else None

    async def get(self, conversation_id: int) -> Conversation | None:
        """A conversation by id, open or closed."""
        row = await self.db.fetchone(
            f"SELECT {_CONV_COLUMNS} FROM conversations WHERE id = ?", (conversation_id,)
        )
        return _conversation(row) if row else None

    async def reset(self, person_id: int, persona_id: int) -> bool:
        """Close the open conversation (nothing is deleted); True when there was one."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "UPDATE conversations SET ended_at = ?"
                " WHERE person_id = ? AND persona_id = ? AND ended_at IS NULL",
                (self._clock(), person_id, persona_id),
            )
            return cur.rowcount > 0

    async def set_summary(
        self, conversation_id: int, summary: str, upto: int, tokens: int, *, expected_upto: int
    ) -> bool:
        """Store a new rolling summary unless another one landed first (compare-and-set)."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "UPDATE conversations SET summary = ?, summary_upto = ?, summary_tokens = ?"
                " WHERE id = ? AND summary_upto = ?",
                (summary, upto, tokens, conversation_id, expected_upto),
            )
            return cur.rowcount > 0

    # ------------------------------------------------------------------ messages

    async def add_user(
        self, conversation_id: int, text: str, tokens: int, key: str | None = None
    ) -> int:
        """Store the person's message as `pending` (before any model is called); its id.

        A message with a `key` already stored (a re-delivery after a crash) is not stored twice.
        """
        async with self.db.write() as conn:
            cur = await conn.execute(
                "INSERT INTO messages (conversation_id, role, text, status, tokens, msg_key,"
                " created_at) VALUES (?, 'user', ?, 'pending', ?, ?, ?)"
                " ON CONFLICT (conversation_id, msg_key) WHERE msg_key IS NOT NULL DO NOTHING",
                (conversation_id, text, tokens, key, self._clock()),
            )
            if cur.rowcount > 0:
                return int(cur.lastrowid or 0)
            cur = await conn.execute(
                "SELECT id FROM messages WHERE conversation_id = ? AND msg_key = ?",
                (conversation_id, key),
            )
            found = await cur.fetchone()
            assert found is not None
            return int(found[0])

    async def save_progress(
        self,
        conversation_id: int,
        reply_id: int | None,
        text: str,
        tokens: int,
        model: str,
        fallback: bool,
    ) -> int:
        """Store the reply text so far as `streaming`; returns the reply's id."""
        async with self.db.write() as conn:
            if reply_id is None:
                cur = await conn.execute(
                    "INSERT INTO messages (conversation_id, role, text, status, model, fallback,"
                    " tokens, created_at) VALUES (?, 'assistant', ?, 'streaming', ?, ?, ?, ?)",
                    (conversation_id, text, model, int(fallback), tokens, self._clock()),
                )
                return int(cur.lastrowid or 0)
            await conn.execute(
                "UPDATE messages SET text = ?, tokens = ? WHERE id = ?", (text, tokens, reply_id)
            )
            return reply_id

    async def finish_reply(
        self,
        conversation_id: int,
        reply_id: int | None,
        *,
        text: str,
        tokens: int,
        status: Status,
        model: str,
        fallback: bool,
        answered_upto: int,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
    ) -> int:
        """Settle the reply and mark the user messages it answers `complete`, in one transaction."""
        async with self.db.write() as conn:
            if reply_id is None:
                cur = await conn.execute(
                    "INSERT INTO messages (conversation_id, role, text, status, model, fallback,"
                    " tokens, prompt_tokens, completion_tokens, created_at)"
                    " VALUES (?, 'assistant', ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        conversation_id,
                        text,
                        status,
                        model,
                        int(fallback),
                        tokens,
                        prompt_tokens,
                        completion_tokens,
                        self._clock(),
                    ),
                )
                reply_id = int(cur.lastrowid or 0)
            else:
                await conn.execute(
                    "UPDATE messages SET text = ?, tokens = ?, status = ?, model = ?, fallback = ?,"
                    " prompt_tokens = ?, completion_tokens = ? WHERE id = ?",
                    (
                        text,
                        tokens,
                        status,
                        model,
                        int(fallback),
                        prompt_tokens,
                        completion_tokens,
                        reply_id,
                    ),
                )
            await conn.execute(
                "UPDATE messages SET status = 'complete' WHERE conversation_id = ? AND role = 'user'"
                " AND status = 'pending' AND id <= ?",
                (conversation_id, answered_upto),
            )
            return reply_id

    async def settle_stale(self, conversation_id: int) -> int:
        """Mark replies left `streaming` by a dead process as `partial`; how many were."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "UPDATE messages SET status = 'partial'"
                " WHERE conversation_id = ? AND status = 'streaming'",
                (conversation_id,),
            )
            return int(cur.rowcount)

    async def newest(
        self,
        conversation_id: int,
        *,
        after_id: int = 0,
        before_id: int | None = None,
        limit: int = 200,
    ) -> list[StoredMessage]:
        """Up to `limit` messages with `after_id < id < before_id`, newest first."""
        rows = await self.db.fetchall(
            f"SELECT {_MSG_COLUMNS} FROM messages WHERE conversation_id = ? AND id > ? AND id < ?"
            " ORDER BY id DESC LIMIT ?",
            (conversation_id, after_id, before_id if before_id is not None else 2**62, limit),
        )
        return [_message(r) for r in rows]

    async def oldest(
        self, conversation_id: int, *, after_id: int, upto_id: int, limit: int = 200
    ) -> list[StoredMessage]:
        """Up to `limit` messages with `after_id < id ≤ upto_id`, oldest first."""
        rows = await self.db.fetchall(
            f"SELECT {_MSG_COLUMNS} FROM messages WHERE conversation_id = ? AND id > ? AND id <= ?"
            " ORDER BY id LIMIT ?",
            (conversation_id, after_id, upto_id, limit),
        )
        return [_message(r) for r in rows]

    async def message(self, message_id: int) -> StoredMessage | None:
        """One stored message by id."""
        row = await self.db.fetchone(
            f"SELECT {_MSG_COLUMNS} FROM messages WHERE id = ?", (message_id,)
        )
        return _message(row) if row else None

    async def last_user_message(self, conversation_id: int) -> StoredMessage | None:
        """The person's newest message in the conversation."""
        row = await self.db.fetchone(
            f"SELECT {_MSG_COLUMNS} FROM messages WHERE conversation_id = ? AND role = 'user'"
            " ORDER BY id DESC LIMIT 1",
            (conversation_id,),
        )
        return _message(row) if row else None

    async def drop_replies_after(self, conversation_id: int, message_id: int) -> int:
        """Delete the replies after a user message (for /regenerate) and mark it pending again."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "DELETE FROM messages WHERE conversation_id = ? AND role = 'assistant' AND id > ?",
                (conversation_id, message_id),
            )
            await conn.execute("UPDATE messages SET status = 'pending' WHERE id = ?", (message_id,))
            return int(cur.rowcount)

    # ------------------------------------------------------------------ preferences

    async def chosen_model(self, person_id: int) -> str | None:
        """The model the person picked with /model, if any."""
        row = await self.db.fetchone(
            "SELECT model FROM companion_prefs WHERE person_id = ?", (person_id,)
        )
        return str(row[0]) if row and row[0] else None

    async def choose_model(self, person_id: int, model: str | None) -> None:
        """Store (or clear, with None) the person's model choice."""
        async with self.db.write() as conn:
            await conn.execute(
                "INSERT INTO companion_prefs (person_id, model) VALUES (?, ?)"
                " ON CONFLICT (person_id) DO UPDATE SET model = excluded.model",
                (person_id, model),
            )
