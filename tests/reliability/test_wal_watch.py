"""A long reader starves automatic checkpoints; the WAL watch truncates the log afterwards."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.services.health import WalWatch
from bot.services.storage import Database
from bot.services.storage.outbox import Outbox


async def test_large_wal_is_checkpointed(tmp_path: Path) -> None:
    db = Database(tmp_path / "w.sqlite3")
    await db.open()
    try:
        watch = WalWatch(db, limit_bytes=256 * 1024)
        reader = sqlite3.connect(db.path)
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM inbox").fetchone()  # holds a snapshot open
        box = Outbox(db)
        for i in range(40):
            await box.add("console", "c", "x" * 10_000 + str(i))
        grown = watch.wal_size()
        assert grown > 256 * 1024
        assert await watch.check() is False  # blocked by the reader: logged, not hidden
        reader.rollback()
        reader.close()
        assert await watch.check() is True
        assert watch.wal_size() == 0
        assert await watch.check() is False  # small again: nothing to do
        assert await db.pragma("integrity_check") == "ok"
    finally:
        await db.close()
