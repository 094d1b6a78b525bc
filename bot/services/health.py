"""Storage health: keep the SQLite write-ahead log from growing without bound.

Under constant reads the WAL's automatic checkpoints can be starved and the `-wal` file grows
(safety-research F9). `WalWatch` checks its size every few minutes and, past the limit, runs a
`TRUNCATE` checkpoint; a checkpoint that stays blocked is logged loudly for the operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from bot.services.storage import Database

log = logging.getLogger(__name__)

WAL_LIMIT_BYTES = 64 * 1024 * 1024
CHECK_EVERY_SECONDS = 300.0


class WalWatch:
    """Checkpoints the WAL when it passes `limit_bytes`; `job` is an App background job."""

    def __init__(
        self,
        db: Database,
        *,
        limit_bytes: int = WAL_LIMIT_BYTES,
        every: float = CHECK_EVERY_SECONDS,
    ) -> None:
        self.db = db
        self.limit_bytes = limit_bytes
        self.every = every

    @property
    def wal_path(self) -> Path:
        return self.db.path.with_name(self.db.path.name + "-wal")

    def wal_size(self) -> int:
        """Bytes in the `-wal` file now (0 when there is none)."""
        try:
            return self.wal_path.stat().st_size
        except FileNotFoundError:
            return 0

    async def check(self) -> bool:
        """Checkpoint when the WAL is too large; True when a checkpoint ran and completed."""
        size = self.wal_size()
        if size <= self.limit_bytes:
            return False
        busy, _, _ = await self.db.checkpoint("TRUNCATE")
        if busy:
            log.error("WAL is %d bytes and its checkpoint is blocked by a long reader", size)
            return False
        log.info("WAL checkpointed (was %d bytes)", size)
        return True

    async def job(self, stop: asyncio.Event) -> None:
        """Check every `every` seconds until `stop`."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every)
            if stop.is_set():
                return
            try:
                await self.check()
            except Exception as exc:
                log.warning("WAL check failed: %s", type(exc).__name__)
