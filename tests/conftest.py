"""Shared fixtures: a real SQLite-backed App in a temporary data directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.services.i18n import I18n
from bot.settings import Settings


@pytest.fixture(scope="session")
def i18n() -> I18n:
    return I18n.load()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load({"AFTERGLOW_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
async def app(settings: Settings, i18n: I18n) -> AsyncIterator[App]:
    async with App(settings, i18n=i18n) as instance:
        yield instance
