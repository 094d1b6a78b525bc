"""One SQLite file opened with aiosqlite: pragmas, migrations, and the single write lock."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

DB_FILENAME = "afterglow.sqlite3"
MIGRATION_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
BUSY_TIMEOUT_MS = 5000

Params = Sequence[Any] | dict[str, Any]


def migrations() -> list[tuple[int, str, str]]:
    """The packaged migrations as (number, name, sql), in order."""
    found = []
    for entry in resources.files("bot.services.storage.migrations").iterdir():
        m = MIGRATION_RE.match(entry.name)
        if m:
            found.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if len(set(numbers)) != len(numbers):
        raise RuntimeError(f"two migrations share a number: {numbers}")
    return found


class Database:
    """The data directory's SQLite file.

    Writes go through `write()`, which holds the one write lock and an IMMEDIATE transaction;
    reads use a second connection so they only ever see committed data.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def in_dir(cls, data_dir: Path) -> Database:
        return cls(data_dir / DB_FILENAME)

    async def open(self) -> None:
        """Open both connections, set pragmas, apply pending migrations."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._connect()
        await self.migrate()
        self._reader = await self._connect()

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=FULL")
        await conn.execute("PRAGMA foreign_keys=ON")
        # Deleted rows are zeroed on disk, so /forget all leaves no readable text in free pages.
        await conn.execute("PRAGMA secure_delete=ON")
        return conn

    async def close(self) -> None:
        """Checkpoint the WAL and close both connections (idempotent)."""
        for name in ("_reader", "_writer"):
            conn = getattr(self, name)
            if conn is None:
                continue
            if name == "_writer":
                async with self._lock:
                    try:
                        await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    except sqlite3.Error:
                        log.warning("WAL checkpoint at close failed")
                    await conn.close()
            else:
                await conn.close()
            setattr(self, name, None)

    async def __aenter__(self) -> Database:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def writer(self) -> aiosqlite.Connection:
        if self._writer is None:
            raise RuntimeError("database is not open")
        return self._writer

    @property
    def reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise RuntimeError("database is not open")
        return self._reader

    async def schema_version(self) -> int:
        row = await (await self.writer.execute("PRAGMA user_version")).fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> list[int]:
        """Apply every packaged migration newer than `PRAGMA user_version`; returns those applied."""
        current = await self.schema_version()
        applied = []
        for number, name, sql in migrations():
            if number <= current:
                continue
            async with self._lock:
                # One transaction per migration: a failure leaves the previous version intact.
                try:
                    await self.writer.executescript(
                        f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version={number};\nCOMMIT;"
                    )
                except sqlite3.Error:
                    if self.writer.in_transaction:
                        await self.writer.execute("ROLLBACK")
                    log.error("migration %s failed", name)
                    raise
            log.info("applied migration %s", name)
            applied.append(number)
        return applied

    @asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """The write lock plus a `BEGIN IMMEDIATE` transaction, committed on success."""
        async with self._lock:
            conn = self.writer
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            else:
                await conn.execute("COMMIT")

    async def fetchall(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        """Rows from the read connection (committed data only)."""
        # One hop to the connection's thread instead of three (execute, fetch, close): each hop
        # costs event-loop time, which decides how many people can chat at once.
        return list(await self.reader.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        rows = await self.reader.execute_fetchall(sql, params)
        for row in rows:
            return row
        return None

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One write statement in its own transaction; returns lastrowid (or rowcount for no insert)."""
        async with self.write() as conn:
            cur = await conn.execute(sql, params)
            return int(cur.lastrowid or cur.rowcount or 0)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.write() as conn:
            await conn.executemany(sql, rows)

    async def pragma(self, name: str) -> Any:
        row = await (await self.writer.execute(f"PRAGMA {name}")).fetchone()
        return row[0] if row else None

    async def checkpoint(self, mode: str = "TRUNCATE") -> tuple[int, int, int]:
        """`PRAGMA wal_checkpoint(mode)` under the write lock: (busy, wal pages, checkpointed)."""
        if mode not in ("PASSIVE", "FULL", "RESTART", "TRUNCATE"):
            raise ValueError(f"unknown checkpoint mode {mode}")
        async with self._lock:
            # A long reader would make the checkpoint wait the full busy timeout while holding
            # the write lock; give up quickly instead (the caller reports `busy`).
            await self.writer.execute("PRAGMA busy_timeout=200")
            try:
                cur = await self.writer.execute(f"PRAGMA wal_checkpoint({mode})")
                row = await cur.fetchone()
            finally:
                await self.writer.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)
