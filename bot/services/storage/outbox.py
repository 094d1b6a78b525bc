"""Durable turns: the inbox rows that let a restart answer a message, and the outbox of replies.

An inbound message is recorded (`TurnStore.record`) before it is handled; its status moves from
`received` to `answered`, `pending` (deferred: shutdown, model down), `ignored` (a group message
not meant for the bot) or `failed` (given up after too many attempts). A reply is written to the
outbox (`Outbox.add`) before it is sent and marked sent after the platform accepted it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.models import IncomingMessage
from bot.services.storage.db import Database

OPEN_STATUSES = ("received", "pending")


@dataclass(frozen=True, slots=True)
class OpenTurn:
    """An inbound message that was never answered (the process stopped, or the model was down)."""

    platform: str
    key: str
    chat_id: str
    chat_kind: str
    user_id: str
    user_name: str
    locale_hint: str | None
    text: str
    attempts: int
    received_at: float


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A reply waiting to be delivered."""

    id: int
    platform: str
    chat_id: str
    inbox_key: str | None
    text: str
    final: bool
    attempts: int


class TurnStore:
    """The `inbox` table seen as turns: record, finish, and list the unanswered ones."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, msg: IncomingMessage, *, status: str, keep_text: bool) -> bool:
        """Record an inbound message before handling it; False when the key was seen before.

        `keep_text` is False for messages the bot will not answer, so their text is never stored.
        """
        now = time.time()
        async with self.db.write() as conn:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO inbox (platform, key, received_at, status, chat_id,"
                " chat_kind, user_id, user_name, locale_hint, text, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    msg.chat.platform,
                    msg.key,
                    now,
                    status,
                    msg.chat.id,
                    msg.chat.kind,
                    msg.user.id,
                    msg.user.name,
                    msg.locale_hint,
                    msg.text if keep_text else None,
                    now,
                ),
            )
            return cur.rowcount > 0

    async def finish(self, platform: str, key: str, status: str) -> None:
        """Set a turn's outcome; an answered or abandoned turn forgets its text."""
        clear = status in ("answered", "ignored", "failed")
        async with self.db.write() as conn:
            await conn.execute(
                "UPDATE inbox SET status = ?, updated_at = ?,"
                " text = CASE WHEN ? THEN NULL ELSE text END WHERE platform = ? AND key = ?",
                (status, time.time(), clear, platform, key),
            )

    async def settle(
        self,
        platform: str,
        key: str,
        status: str,
        *,
        sent: Sequence[int] = (),
        dropped: Sequence[int] = (),
    ) -> None:
        """End a live turn in one transaction: its outcome plus its outbox rows' fate."""
        now = time.time()
        async with self.db.write() as conn:
            for ids, row_status in ((sent, "sent"), (dropped, "dropped")):
                if ids:
                    await conn.executemany(
                        "UPDATE outbox SET status = ?, text = '', sent_at = ? WHERE id = ?",
                        [(row_status, now if row_status == "sent" else None, i) for i in ids],
                    )
            await conn.execute(
                "UPDATE inbox SET status = ?, updated_at = ?,"
                " text = CASE WHEN ? THEN NULL ELSE text END WHERE platform = ? AND key = ?",
                (status, now, status in ("answered", "ignored", "failed"), platform, key),
            )

    async def bump_attempt(self, platform: str, key: str) -> None:
        """Count one more try at answering this turn."""
        await self.db.execute(
            "UPDATE inbox SET attempts = attempts + 1, updated_at = ? WHERE platform = ? AND key = ?",
            (time.time(), platform, key),
        )

    async def open_turns(self, platforms: Iterable[str], before: float) -> list[OpenTurn]:
        """Unanswered turns on these platforms received before `before`, oldest first."""
        names = list(platforms)
        if not names:
            return []
        marks = ",".join("?" * len(names))
        rows = await self.db.fetchall(
            "SELECT platform, key, chat_id, chat_kind, user_id, user_name, locale_hint,"
            " COALESCE(text, ''), attempts, received_at FROM inbox"
            f" WHERE status IN ('received', 'pending') AND platform IN ({marks})"
            # Rows without a chat are adapter-level dedupe marks (e.g. Telegram update ids).
            " AND chat_id != '' AND received_at < ? ORDER BY received_at, key",
            (*names, before),
        )
        return [
            OpenTurn(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], int(r[8]), float(r[9]))
            for r in rows
        ]

    async def status(self, platform: str, key: str) -> str | None:
        """A turn's status, or None when the key was never recorded."""
        row = await self.db.fetchone(
            "SELECT status FROM inbox WHERE platform = ? AND key = ?", (platform, key)
        )
        return str(row[0]) if row else None

    async def status_counts(self) -> dict[str, int]:
        """How many turns are in each status (for checks and benchmarks)."""
        rows = await self.db.fetchall("SELECT status, COUNT(*) FROM inbox GROUP BY status")
        return {str(r[0]): int(r[1]) for r in rows}

    async def answer_with(self, turn: OpenTurn, texts: Sequence[str]) -> list[int]:
        """In one transaction: queue `texts` as final outbox rows and mark the turn answered.

        From then on the outbox owns delivery, so a crash before sending cannot cause a second
        answer to be generated.
        """
        now = time.time()
        ids: list[int] = []
        async with self.db.write() as conn:
            for text in texts:
                cur = await conn.execute(
                    "INSERT INTO outbox (platform, chat_id, inbox_key, text, final, created_at)"
                    " VALUES (?, ?, ?, ?, 1, ?)",
                    (turn.platform, turn.chat_id, turn.key, text, now),
                )
                ids.append(int(cur.lastrowid or 0))
            await conn.execute(
                "UPDATE inbox SET status = 'answered', text = NULL, updated_at = ?"
                " WHERE platform = ? AND key = ?",
                (now, turn.platform, turn.key),
            )
        return ids


class Outbox:
    """Replies recorded before sending; `pending` rows are delivered after a restart."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        platform: str,
        chat_id: str,
        text: str,
        *,
        inbox_key: str | None = None,
        final: bool = True,
    ) -> int:
        """Record a reply as pending (before the send is attempted); returns its id."""
        return await self.db.execute(
            "INSERT INTO outbox (platform, chat_id, inbox_key, text, final, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (platform, chat_id, inbox_key, text, int(final), time.time()),
        )

    async def mark_sent(self, row_id: int) -> None:
        """The platform accepted the message; its text is no longer needed here."""
        await self.db.execute(
            "UPDATE outbox SET status = 'sent', text = '', sent_at = ? WHERE id = ?",
            (time.time(), row_id),
        )

    async def mark(self, row_ids: Iterable[int], status: str) -> None:
        """Set `dropped` (superseded by a new answer) or `failed` (undeliverable) on rows."""
        ids = list(row_ids)
        if ids:
            await self.db.executemany(
                "UPDATE outbox SET status = ?, text = '' WHERE id = ?",
                [(status, i) for i in ids],
            )

    async def bump_attempt(self, row_id: int) -> int:
        """Count a failed delivery; returns the attempts so far."""
        async with self.db.write() as conn:
            await conn.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (row_id,))
            cur = await conn.execute("SELECT attempts FROM outbox WHERE id = ?", (row_id,))
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def pending(self, platforms: Iterable[str]) -> list[OutboxRow]:
        """Pending rows on these platforms, oldest first."""
        names = list(platforms)
        if not names:
            return []
        marks = ",".join("?" * len(names))
        rows = await self.db.fetchall(
            "SELECT id, platform, chat_id, inbox_key, text, final, attempts FROM outbox"
            f" WHERE status = 'pending' AND platform IN ({marks}) ORDER BY id",
            names,
        )
        return [OutboxRow(int(r[0]), r[1], r[2], r[3], r[4], bool(r[5]), int(r[6])) for r in rows]

    async def for_turn(self, platform: str, key: str) -> list[OutboxRow]:
        """Pending rows written while answering one inbound message."""
        rows = await self.db.fetchall(
            "SELECT id, platform, chat_id, inbox_key, text, final, attempts FROM outbox"
            " WHERE status = 'pending' AND platform = ? AND inbox_key = ? ORDER BY id",
            (platform, key),
        )
        return [OutboxRow(int(r[0]), r[1], r[2], r[3], r[4], bool(r[5]), int(r[6])) for r in rows]

    async def status_counts(self) -> dict[str, int]:
        """How many rows are in each status."""
        rows = await self.db.fetchall("SELECT status, COUNT(*) FROM outbox GROUP BY status")
        return {str(r[0]): int(r[1]) for r in rows}


class ReliabilityPersonalData:
    """The delivery journal's part of /forget all and account linking (`PersonalData`).

    Inbox rows are keyed by platform account, so they stay with the account on linking; on
    deletion, the person's inbox rows are stripped to bare keys, and the outbox replies to them
    (and anything queued for their direct-message chats) and their daily token counts go. Nothing here is exported:
    it is transient bookkeeping, and the conversation history is the lasting copy.
    """

    async def delete_person(self, conn: Any, person_id: int) -> int:
        accounts = "SELECT platform, platform_user_id FROM users WHERE person_id = ?"
        mine = f"(platform, user_id) IN ({accounts})"
        # Outbox rows first: they are found through the inbox rows deleted below.
        cur = await conn.execute(
            "DELETE FROM outbox WHERE (platform, inbox_key) IN"
            f" (SELECT platform, key FROM inbox WHERE {mine})"
            " OR (platform, chat_id) IN"
            f" (SELECT platform, chat_id FROM inbox WHERE chat_kind = 'dm' AND {mine})",
            (person_id, person_id),
        )
        removed = max(int(cur.rowcount or 0), 0)
        # The inbox rows stay as bare keys so a late re-delivery is still dropped as a duplicate,
        # but nothing in them points at the person any more, and nothing is left to answer.
        cur = await conn.execute(
            "UPDATE inbox SET text = NULL, raw = NULL, user_id = '', user_name = '', chat_id = '',"
            " locale_hint = NULL, status = CASE WHEN status IN ('received', 'pending')"
            f" THEN 'ignored' ELSE status END WHERE {mine}",
            (person_id,),
        )
        removed += max(int(cur.rowcount or 0), 0)
        cur = await conn.execute("DELETE FROM usage_daily WHERE person_id = ?", (person_id,))
        return removed + max(int(cur.rowcount or 0), 0)

    async def move_person(self, conn: Any, source: int, target: int) -> None:
        await conn.execute(
            "INSERT INTO usage_daily (person_id, day, tokens)"
            " SELECT ?, day, tokens FROM usage_daily WHERE person_id = ? AND true"
            " ON CONFLICT (person_id, day) DO UPDATE SET tokens = tokens + excluded.tokens",
            (target, source),
        )
        await conn.execute("DELETE FROM usage_daily WHERE person_id = ?", (source,))
