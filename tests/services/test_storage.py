"""Storage: migrations from an empty file, pragmas, users and chats."""

from __future__ import annotations

from pathlib import Path

from bot.services.storage import Database
from bot.services.storage.db import migrations
from bot.services.storage.users import Users


async def test_migrations_apply_from_an_empty_file(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.sqlite3")
    await db.open()
    try:
        numbers = [n for n, _, _ in migrations()]
        assert await db.schema_version() == max(numbers)
        assert await db.pragma("journal_mode") == "wal"
        assert await db.pragma("synchronous") == 2  # FULL
        assert await db.pragma("foreign_keys") == 1
        assert await db.pragma("busy_timeout") == 5000
        assert await db.pragma("secure_delete") == 1
        assert await db.migrate() == []  # idempotent
        tables = {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master")}
        assert {"persons", "users", "chats", "inbox"} <= tables
    finally:
        await db.close()


async def test_failed_write_rolls_back(tmp_path: Path) -> None:
    async with Database(tmp_path / "x.sqlite3") as db:
        users = Users(db)
        try:
            async with db.write() as conn:
                await conn.execute("INSERT INTO persons (created_at) VALUES (1)")
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        assert (await db.fetchone("SELECT count(*) FROM persons"))[0] == 0  # type: ignore[index]
        assert await users.resolve("console", "ann") == await users.resolve("console", "ann")


async def test_accounts_locales_and_inbound(tmp_path: Path) -> None:
    async with Database(tmp_path / "x.sqlite3") as db:
        users = Users(db)
        ann = await users.resolve("telegram", "42", "Ann")
        bob = await users.resolve("discord", "42", "Bob")
        assert ann != bob
        await users.set_person_locale(ann, "zh_Hans")
        assert await users.user_locale("telegram", "42") == "zh_Hans"
        assert await users.user_locale("discord", "42") is None
        assert await users.ensure_chat("telegram", "-100", "group") is True
        assert await users.ensure_chat("telegram", "-100", "group") is False
        await users.set_chat_locale("telegram", "-100", "group", "en")
        assert await users.chat_locale("telegram", "-100") == "en"
        assert await users.record_inbound("telegram", "u1") is True
        assert await users.record_inbound("telegram", "u1") is False
    # Data survives reopening the file.
    async with Database(tmp_path / "x.sqlite3") as db:
        assert await Users(db).find("telegram", "42") == ann
