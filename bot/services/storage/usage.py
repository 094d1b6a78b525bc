"""Model tokens spent per person per UTC day (the optional daily quota reads this).

Companion replies already record the provider's token counts on their `messages` rows, so those
are read from there (the conversation history is the single source of truth); `usage_daily`
holds any other model use a feature reports with `add` (summaries, image descriptions).
"""

from __future__ import annotations

from bot.services.storage.db import Database


class UsageStore:
    """The `usage_daily` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, person_id: int, day: str, tokens: int) -> int:
        """Add `tokens` to a person's day; returns the day's new total."""
        async with self.db.write() as conn:
            await conn.execute(
                "INSERT INTO usage_daily (person_id, day, tokens) VALUES (?, ?, ?)"
                " ON CONFLICT (person_id, day) DO UPDATE SET tokens = tokens + excluded.tokens",
                (person_id, day, max(0, tokens)),
            )
            cur = await conn.execute(
                "SELECT tokens FROM usage_daily WHERE person_id = ? AND day = ?", (person_id, day)
            )
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def tokens(self, person_id: int, day: str, since: float, until: float) -> int:
        """Tokens a person spent on `day` (YYYY-MM-DD, UTC; `since`..`until` as epoch seconds)."""
        row = await self.db.fetchone(
            "SELECT COALESCE((SELECT tokens FROM usage_daily WHERE person_id = ? AND day = ?), 0)"
            " + COALESCE((SELECT SUM(COALESCE(m.prompt_tokens, 0)"
            " + COALESCE(m.completion_tokens, m.tokens)) FROM messages m"
            " JOIN conversations c ON c.id = m.conversation_id"
            " WHERE c.person_id = ? AND m.role = 'assistant'"
            " AND m.created_at >= ? AND m.created_at < ?), 0)",
            (person_id, day, person_id, since, until),
        )
        return int(row[0]) if row else 0
