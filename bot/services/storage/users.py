"""People, their platform accounts, chats, and language preferences."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import aiosqlite

from bot.services.storage.db import Database

#: How many accounts `Users.resolve` remembers (a few MB at most).
RESOLVE_CACHE_SIZE: Final = 50_000


@dataclass(frozen=True, slots=True)
class Account:
    """A platform account and the person it belongs to."""

    platform: str
    platform_user_id: str
    person_id: int
    display_name: str


class Users:
    """Maps `(platform, platform_user_id)` to a person id, creating the person on first sight.

    `resolve` runs several times per turn, so this process remembers the answers (bounded,
    oldest entry evicted first). Whoever moves accounts to another person or deletes a person
    calls `forget_cache(person_id)` after the transaction committed; the cache assumes this
    process is the only one that links or forgets people.
    """

    def __init__(self, db: Database, *, cache_size: int = RESOLVE_CACHE_SIZE) -> None:
        self.db = db
        self._cache: dict[tuple[str, str], int] = {}
        self._cache_size = cache_size
        # Bumped by every invalidation: a lookup that started before it must not cache what it
        # read, since the row may have changed while it waited for the database.
        self._generation = 0

    def _remember(self, key: tuple[str, str], person_id: int, generation: int) -> None:
        if generation != self._generation or self._cache_size <= 0:
            return
        if key not in self._cache and len(self._cache) >= self._cache_size:
            del self._cache[next(iter(self._cache))]
        self._cache[key] = person_id

    def forget_cache(self, person_id: int) -> None:
        """Drop cached accounts of `person_id` (call after its accounts moved or were deleted)."""
        self._generation += 1
        for key in [k for k, v in self._cache.items() if v == person_id]:
            del self._cache[key]

    async def resolve(self, platform: str, platform_user_id: str, display_name: str = "") -> int:
        """The person id for this account; created on first contact."""
        key = (platform, platform_user_id)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        generation = self._generation
        row = await self.db.fetchone(
            "SELECT person_id FROM users WHERE platform = ? AND platform_user_id = ?", key
        )
        if row:
            person_id = int(row[0])
            self._remember(key, person_id, generation)
            return person_id
        async with self.db.write() as conn:
            # Re-check inside the lock: two first messages can race.
            cur = await conn.execute(
                "SELECT person_id FROM users WHERE platform = ? AND platform_user_id = ?", key
            )
            found = await cur.fetchone()
            if found:
                person_id = int(found[0])
            else:
                now = time.time()
                cur = await conn.execute("INSERT INTO persons (created_at) VALUES (?)", (now,))
                person_id = int(cur.lastrowid or 0)
                await conn.execute(
                    "INSERT INTO users"
                    " (platform, platform_user_id, person_id, display_name, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (platform, platform_user_id, person_id, display_name, now),
                )
        # Only after COMMIT: a rolled-back insert must not be remembered.
        self._remember(key, person_id, generation)
        return person_id

    async def find(self, platform: str, platform_user_id: str) -> int | None:
        """The person id for an account, without creating one."""
        key = (platform, platform_user_id)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        generation = self._generation
        row = await self.db.fetchone(
            "SELECT person_id FROM users WHERE platform = ? AND platform_user_id = ?", key
        )
        if row is None:
            return None
        self._remember(key, int(row[0]), generation)
        return int(row[0])

    # --- linking and deleting (inside the caller's transaction; then `forget_cache`) ---------

    async def create_link_code(
        self, person_id: int, code: str, expires_at: float, now: float
    ) -> None:
        """Store a one-time link code for the person, replacing theirs and dropping expired ones."""
        async with self.db.write() as conn:
            await conn.execute("DELETE FROM link_codes WHERE person_id = ?", (person_id,))
            await conn.execute("DELETE FROM link_codes WHERE expires_at < ?", (now,))
            await conn.execute(
                "INSERT INTO link_codes (code, person_id, expires_at) VALUES (?, ?, ?)",
                (code, person_id, expires_at),
            )

    @staticmethod
    async def redeem_link_code(conn: aiosqlite.Connection, code: str, now: float) -> int | None:
        """The person id of a valid `code`, which is used up; None when unknown or expired."""
        cur = await conn.execute(
            "SELECT person_id, expires_at FROM link_codes WHERE code = ?", (code,)
        )
        row = await cur.fetchone()
        if row is None or float(row[1]) < now:
            return None
        await conn.execute("DELETE FROM link_codes WHERE code = ?", (code,))
        return int(row[0])

    @staticmethod
    async def has_account_on(conn: aiosqlite.Connection, person_id: int, platform: str) -> bool:
        """Whether the person already has an account on `platform`."""
        cur = await conn.execute(
            "SELECT 1 FROM users WHERE person_id = ? AND platform = ?", (person_id, platform)
        )
        return await cur.fetchone() is not None

    @staticmethod
    async def move_accounts(conn: aiosqlite.Connection, source: int, target: int) -> None:
        """Give every account of person `source` to person `target` (account linking)."""
        await conn.execute("UPDATE users SET person_id = ? WHERE person_id = ?", (target, source))

    @staticmethod
    async def delete_person(conn: aiosqlite.Connection, person_id: int) -> int:
        """Remove the person's accounts and settings; returns how many accounts went.

        The `persons` row stays as an empty tombstone: its id has no AUTOINCREMENT, so deleting
        the newest person would hand the same id to the next newcomer (and any late write for
        the forgotten person to them). Their accounts resolve to a new person afterwards.
        """
        cur = await conn.execute("DELETE FROM users WHERE person_id = ?", (person_id,))
        await conn.execute("UPDATE persons SET locale = NULL WHERE id = ?", (person_id,))
        return max(cur.rowcount, 0)

    @staticmethod
    async def default_locale(conn: aiosqlite.Connection, person_id: int, locale: str) -> None:
        """Set the person's language unless they already chose one (restoring an export)."""
        await conn.execute(
            "UPDATE persons SET locale = COALESCE(locale, ?) WHERE id = ?", (locale, person_id)
        )

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

    async def record_fetched(self, platform: str, updates: Sequence[tuple[str, str, str]]) -> int:
        """Record fetched updates as `(key, user_id, raw_json)` in one transaction.

        Rows start as `received` with the raw update kept for a replay; a key seen before is left
        alone. Returns how many were new. The chat id stays empty: these are adapter-level marks,
        not turns (`TurnStore.open_turns` skips them).
        """
        now = time.time()
        async with self.db.write() as conn:
            cur = await conn.executemany(
                "INSERT OR IGNORE INTO inbox (platform, key, received_at, status, user_id, raw,"
                " updated_at) VALUES (?, ?, ?, 'received', ?, ?, ?)",
                [(platform, key, now, user_id, raw, now) for key, user_id, raw in updates],
            )
            return max(cur.rowcount, 0)

    async def claim_inbound(self, platform: str, key: str) -> bool:
        """Start handling an inbound event exactly once; False when it was claimed before.

        A fetched (`received`) row flips to `handled` and drops its raw copy; an event that was
        never fetched through the recording request is inserted as `handled`.
        """
        now = time.time()
        async with self.db.write() as conn:
            cur = await conn.execute(
                "UPDATE inbox SET status = 'handled', raw = NULL, updated_at = ?"
                " WHERE platform = ? AND key = ? AND status = 'received'",
                (now, platform, key),
            )
            if cur.rowcount > 0:
                return True
            cur = await conn.execute(
                "INSERT OR IGNORE INTO inbox (platform, key, received_at, status, updated_at)"
                " VALUES (?, ?, ?, 'handled', ?)",
                (platform, key, now, now),
            )
            return cur.rowcount > 0

    async def unclaimed_inbound(self, platform: str) -> list[tuple[str, str]]:
        """`(key, raw_json)` of fetched events no handler claimed (a crash came first), oldest first."""
        rows = await self.db.fetchall(
            "SELECT key, raw FROM inbox WHERE platform = ? AND status = 'received'"
            " AND raw IS NOT NULL ORDER BY received_at, key",
            (platform,),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    async def mark_inbound(self, platform: str, key: str, status: str) -> None:
        await self.db.execute(
            "UPDATE inbox SET status = ? WHERE platform = ? AND key = ?", (status, platform, key)
        )
