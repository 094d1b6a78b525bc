"""A person's rights over their data: delete everything, and join accounts across platforms.

`forget_all` removes every row of the memory feature (personas, letters, memories, imported
conversations, vectors, link codes) and asks each registered `PersonalData` holder (other
features) to do the same, all in one transaction.

`/link`: one account asks for a one-time code (valid ten minutes); entering it on another
account moves that account — and everything its person had — onto the code's person, so
personas, memories and conversations follow the person between Discord, Telegram and console.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from typing import Final, Protocol

import aiosqlite

from bot.core.errors import UserError
from bot.core.models import UserRef
from bot.services.storage.db import Database
from bot.services.storage.memories import Memories
from bot.services.storage.users import Users

LINK_TTL: Final = 600.0
_ALPHABET: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CODE_LENGTH: Final = 8


class PersonalData(Protocol):
    """Another feature's per-person rows, so deletion and linking cover them too."""

    async def delete_person(self, conn: aiosqlite.Connection, person_id: int) -> int: ...

    async def move_person(self, conn: aiosqlite.Connection, source: int, target: int) -> None: ...


class PrivacyService:
    """Delete-everything and account linking, scoped by the caller's identity."""

    def __init__(
        self,
        db: Database,
        users: Users,
        holders: Sequence[PersonalData] = (),
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.users = users
        self.holders = list(holders)
        self.clock = clock

    async def forget_all(self, user: UserRef) -> int:
        """Delete everything the person has; returns how many rows went.

        The account itself is detached too, so it starts over as a new person next time.
        """
        person = await self.users.resolve(user.platform, user.id, user.name)
        try:
            async with self.db.write() as conn:
                removed = await Memories.delete_person(conn, person)
                for holder in self.holders:
                    removed += await holder.delete_person(conn, person)
                await self.users.delete_person(conn, person)
        finally:
            # After COMMIT (or ROLLBACK): a lookup racing the transaction must not keep the
            # old answer.
            self.users.forget_cache(person)
        return removed

    async def link_code(self, user: UserRef) -> str:
        """A fresh one-time code for this account's person (older codes stop working)."""
        person = await self.users.resolve(user.platform, user.id, user.name)
        code = "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))
        now = self.clock()
        await self.users.create_link_code(person, code, now + LINK_TTL, now)
        return code

    async def link(self, user: UserRef, code: str) -> int:
        """Join this account to the person who made `code`; returns that person id."""
        cleaned = code.strip().upper().replace(" ", "").replace("-", "")
        source = await self.users.resolve(user.platform, user.id, user.name)
        try:
            async with self.db.write() as conn:
                target = await self.users.redeem_link_code(conn, cleaned, self.clock())
                if target is None:
                    raise UserError("privacy.link_bad_code")
                if target == source:
                    raise UserError("privacy.link_same")
                if await self.users.has_account_on(conn, target, user.platform):
                    # One account per platform per person keeps "which account is me"
                    # unambiguous.
                    raise UserError("privacy.link_same_platform")
                await Memories.move_person(conn, source, target)
                for holder in self.holders:
                    await holder.move_person(conn, source, target)
                await self.users.move_accounts(conn, source, target)
        finally:
            self.users.forget_cache(source)
        return target
