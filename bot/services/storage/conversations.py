"""Companion conversations, their messages and rolling summaries, and per-person model choice.

The write order is what keeps people's words safe: the user message is stored (as `pending`)
before any model is called; a reply is stored as `streaming` while text arrives (so even a
killed process leaves the text so far on disk), then settled as `complete` or `partial`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
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


_STATUSES = ("pending", "complete", "partial", "streaming")


class ConversationPersonalData:
    """Companion chats' part of /export, restore, /forget all and account linking.

    Implements `bot.services.exports.ExportSection` (section `companion`) and
    `bot.services.privacy.PersonalData`. Exported: every conversation with its messages and
    rolling summary, and the model picked with /model. Message ids and platform keys are not
    exported (they mean nothing in another installation).
    """

    name = "companion"

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._clock = clock

    async def dump(self, person_id: int) -> dict[str, Any]:
        """The person's conversations, oldest first, each with its messages in order."""
        prefs = await self.db.fetchone(
            "SELECT model FROM companion_prefs WHERE person_id = ?", (person_id,)
        )
        convs = await self.db.fetchall(
            "SELECT c.id, c.persona_id, p.name, c.started_at, c.ended_at, c.summary,"
            " c.summary_upto FROM conversations c LEFT JOIN personas p ON p.id = c.persona_id"
            " AND p.person_id = c.person_id WHERE c.person_id = ? ORDER BY c.id",
            (person_id,),
        )
        out: list[dict[str, Any]] = []
        for conv in convs:
            rows = await self.db.fetchall(
                "SELECT id, role, text, status, model, fallback, tokens, created_at FROM messages"
                " WHERE conversation_id = ? ORDER BY id",
                (conv[0],),
            )
            out.append(
                {
                    "persona_ref": int(conv[1]) or None,
                    "persona_name": conv[2],
                    "started_at": conv[3],
                    "ended_at": conv[4],
                    "summary": conv[5],
                    # How many leading messages the summary covers (ids change on restore).
                    "summary_covers": sum(1 for r in rows if int(r[0]) <= int(conv[6])),
                    "messages": [
                        {
                            "role": r[1],
                            "text": r[2],
                            "status": r[3],
                            "model": r[4],
                            "fallback": bool(r[5]),
                            "tokens": int(r[6]),
                            "created_at": r[7],
                        }
                        for r in rows
                    ],
                }
            )
        return {"model": prefs[0] if prefs else None, "conversations": out}

    async def restore(self, conn: Any, person_id: int, data: Any) -> int:
        """Recreate the conversations on `conn`; returns how many messages were restored.

        A conversation that was open is restored open unless the person already has an open
        one with that persona (then it is restored closed, so nothing current is displaced).
        """
        if not isinstance(data, dict):
            return 0
        model = data.get("model")
        if isinstance(model, str) and model:
            await conn.execute(
                "INSERT INTO companion_prefs (person_id, model) VALUES (?, ?)"
                " ON CONFLICT (person_id) DO NOTHING",
                (person_id, model[:200]),
            )
        restored = 0
        for item in data.get("conversations") or ():
            if isinstance(item, dict):
                restored += await self._restore_one(conn, person_id, item)
        return restored

    async def _restore_one(self, conn: Any, person_id: int, item: dict[str, Any]) -> int:
        persona_id = 0
        name = item.get("persona_name")
        if isinstance(name, str) and name:
            # Persona ids change on restore; the personas section was restored just before.
            cur = await conn.execute(
                "SELECT id FROM personas WHERE person_id = ? AND name = ? ORDER BY id DESC LIMIT 1",
                (person_id, name),
            )
            found = await cur.fetchone()
            persona_id = int(found[0]) if found else 0
        messages = [m for m in item.get("messages") or () if _valid_message(m)]
        started = _number(item.get("started_at")) or self._clock()
        ended = _number(item.get("ended_at"))
        if ended is None:
            cur = await conn.execute(
                "SELECT 1 FROM conversations WHERE person_id = ? AND persona_id = ?"
                " AND ended_at IS NULL",
                (person_id, persona_id),
            )
            if await cur.fetchone() is not None:
                ended = _number(messages[-1].get("created_at")) if messages else None
                ended = ended or started
        summary = item.get("summary")
        cur = await conn.execute(
            "INSERT INTO conversations (person_id, persona_id, started_at, ended_at, summary)"
            " VALUES (?, ?, ?, ?, ?)",
            (person_id, persona_id, started, ended, summary if isinstance(summary, str) else ""),
        )
        conv_id = int(cur.lastrowid or 0)
        covers = item.get("summary_covers")
        covers = covers if isinstance(covers, int) and not isinstance(covers, bool) else 0
        upto = 0
        for index, msg in enumerate(messages, start=1):
            status = msg.get("status")
            # A reply cut off mid-stream in the old installation is a partial reply here.
            status = "partial" if status == "streaming" else status
            model = msg.get("model")
            tokens = msg.get("tokens")
            cur = await conn.execute(
                "INSERT INTO messages (conversation_id, role, text, status, model, fallback,"
                " tokens, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conv_id,
                    msg["role"],
                    msg["text"],
                    status if status in _STATUSES else "complete",
                    model if isinstance(model, str) else None,
                    int(bool(msg.get("fallback"))),
                    tokens if isinstance(tokens, int) and tokens >= 0 else len(msg["text"]),
                    _number(msg.get("created_at")) or started,
                ),
            )
            if index == covers:
                upto = int(cur.lastrowid or 0)
        if upto and isinstance(summary, str) and summary:
            await conn.execute(
                "UPDATE conversations SET summary_upto = ? WHERE id = ?", (upto, conv_id)
            )
        else:
            # A summary whose messages are not all here would be misplaced; drop it.
            await conn.execute("UPDATE conversations SET summary = '' WHERE id = ?", (conv_id,))
        return len(messages)

    async def delete_person(self, conn: Any, person_id: int) -> int:
        """Delete the person's conversations, messages and model choice on `conn`."""
        cur = await conn.execute(
            "DELETE FROM messages WHERE conversation_id IN"
            " (SELECT id FROM conversations WHERE person_id = ?)",
            (person_id,),
        )
        removed = max(int(cur.rowcount or 0), 0)
        for table in ("conversations", "companion_prefs"):
            cur = await conn.execute(f"DELETE FROM {table} WHERE person_id = ?", (person_id,))
            removed += max(int(cur.rowcount or 0), 0)
        return removed

    async def move_person(self, conn: Any, source: int, target: int) -> None:
        """Give `source`'s conversations to `target`; open ones that would clash are closed."""
        await conn.execute(
            "UPDATE conversations SET ended_at = ? WHERE person_id = ? AND ended_at IS NULL"
            " AND EXISTS (SELECT 1 FROM conversations t WHERE t.person_id = ?"
            " AND t.persona_id = conversations.persona_id AND t.ended_at IS NULL)",
            (self._clock(), source, target),
        )
        await conn.execute(
            "UPDATE conversations SET person_id = ? WHERE person_id = ?", (target, source)
        )
        # The joined person's own model choice wins; the source's is kept only if they had none.
        await conn.execute(
            "UPDATE companion_prefs SET person_id = ? WHERE person_id = ? AND NOT EXISTS"
            " (SELECT 1 FROM companion_prefs WHERE person_id = ?)",
            (target, source, target),
        )
        await conn.execute("DELETE FROM companion_prefs WHERE person_id = ?", (source,))

    async def markdown(self, person_id: int) -> AsyncIterator[str]:
        """The conversations as readable Markdown, for the export's `.md` copy."""
        data = await self.dump(person_id)
        yield "\n## Companion conversations\n\n"
        for conv in data["conversations"]:
            started = _stamp(conv["started_at"])
            who = conv["persona_name"] or "default companion"
            yield f"### {who}, {started}\n\n"
            for msg in conv["messages"]:
                speaker = "You" if msg["role"] == "user" else who
                yield f"**{speaker}** ({_stamp(msg['created_at'])}): {msg['text']}\n\n"


def _valid_message(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and item.get("role") in ("user", "assistant")
        and isinstance(item.get("text"), str)
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _stamp(value: Any) -> str:
    number = _number(value)
    if number is None:
        return ""
    return datetime.fromtimestamp(number, UTC).strftime("%Y-%m-%d %H:%M")
