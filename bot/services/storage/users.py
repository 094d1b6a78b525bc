"""People, their platform accounts, chats, and language preferences."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.services.storage.db import Database


@dataclass(frozen=True, slots=True)
class Account:
    """A platform account and the person it belongs to."""

    platform: str
    platform_user_id: str
    person_id: int
    display_name: str


class Users:
    """Maps `(platform, platform_user_id)` to a person id, creating the person on first sight."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def resolve(self, platform: str, platform_user_id: str, display_name: str = "") -> int:
        """The person id for this account; created on first contact."""
        row = await self.db.fetchone(
            "SELECT person_id FROM users WHERE platform = ? AND platform_user_id = ?",
            (platform, platform_user_id),
        )
        if row:
            return int(row[0])
        async with self.db.write() as conn:
            # Re-check inside the lock: two first messages can race.
            cur = await conn.execute(
                "SELECT person_id FROM users WHERE platform = ? AND platform_user_id = ?",
                (platform, platform_user_id),
            )
            found = await cur.fetchone()
            if found:
                return int(found[0])
            now = time.time()
            cur = await conn.execute("INSERT INTO persons (created_at) VALUES (?)", (now,))
            person_id = int(cur.lastrowid or 0)
            await conn.execute(
                "INSERT INTO users (platform, platform_user_id, person_id, display_name, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (platform, platform_user_id, person_id, display_name, now),
            )
            return person_id

    async def find(self, platform: str, platform_user_id: str) -> int | None:
        """The person id for an account, without creating one."""
        row = await self.db.fetchone(
            "SELECT person_id FROM users WHERE platform = ? AND platform_user_id = ?",
            (platform, platform_user_id),
        )
        return int(row[0]) if row else None

    async def accounts(self, person_id: int) -> list[Account]:
        rows = await self.db.fetchall(
            "SELECT platform, platform_user_id, person_id, display_name FROM users"
            " WHERE person_id = ? ORDER BY id",
            (person_id,),
        )
        return [Account(r[0], r[1], int(r[2]), r[3]) for r in rows]

    async def person_locale(self, person_id: int) -> str | None:
        row = await self.db.fetchone("SELECT locale FROM persons WHERE id = ?", (person_id,))
        return row[0] if row else None

    async def set_person_locale(self, person_id: int, locale: str | None) -> None:
        await self.db.execute("UPDATE persons SET locale = ? WHERE id = ?", (locale, person_id))

    async def user_locale(self, platform: str, platform_user_id: str) -> str | None:
        """The stored language choice for an account's person, if any."""
        row = await self.db.fetchone(
            "SELECT p.locale FROM users u JOIN persons p ON p.id = u.person_id"
            " WHERE u.platform = ? AND u.platform_user_id = ?",
            (platform, platform_user_id),
        )
        return row[0] if row else None

    async def ensure_chat(self, platform: str, chat_id: str, kind: str) -> bool:
        """Record a chat; True when it was new (the bot just met this group)."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO chats (platform, platform_chat_id, kind, created_at)"
                " VALUES (?, ?, ?, ?)",
                (platform, chat_id, kind, time.time()),
            )
            return cur.rowcount > 0

    async def chat_locale(self, platform: str, chat_id: str) -> str | None:
        row = await self.db.fetchone(
            "SELECT locale FROM chats WHERE platform = ? AND platform_chat_id = ?",
            (platform, chat_id),
        )
        return row[0] if row else None

    async def set_chat_locale(self, platform: str, chat_id: str, kind: str, locale: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                "INSERT INTO chats (platform, platform_chat_id, kind, locale, created_at)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (platform, platform_chat_id) DO UPDATE SET locale = excluded.locale",
                (platform, chat_id, kind, locale, time.time()),
            )

    async def record_inbound(self, platform: str, key: str) -> bool:
        """Record an inbound event before handling it; False when it was seen before."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO inbox (platform, key, received_at) VALUES (?, ?, ?)",
                (platform, key, time.time()),
            )
            return cur.rowcount > 0

    async def mark_inbound(self, platform: str, key: str, status: str) -> None:
        await self.db.execute(
            "UPDATE inbox SET status = ? WHERE platform = ? AND key = ?", (status, platform, key)
        )
