"""Care test world: a real SQLite file, the real catalogs and a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core.models import UserRef
from bot.services.care import Care, CareConfig
from bot.services.i18n import I18n
from bot.services.storage import Database
from bot.services.storage.care import CareStore
from bot.services.storage.users import Users

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC).timestamp()
ALICE = UserRef("console", "alice", "Alice")


class FakeClock:
    """Seconds since the epoch, moved by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class CareWorld:
    db: Database
    users: Users
    store: CareStore
    care: Care
    clock: FakeClock


def make_care(db: Database, i18n: I18n, clock: FakeClock, config: CareConfig | None = None) -> Care:
    return Care(store=CareStore(db), users=Users(db), i18n=i18n, config=config, clock=clock)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "care.sqlite3") as database:
        yield database


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def world(db: Database, i18n: I18n, clock: FakeClock) -> CareWorld:
    care = make_care(db, i18n, clock)
    return CareWorld(db, care.users, care.store, care, clock)
