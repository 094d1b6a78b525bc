"""Shared pieces for the reliability suite: a real App on a temp data dir against the fake model."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.core.models import ChatRef, IncomingMessage, UserRef
from bot.services.i18n import I18n
from bot.settings import Settings
from tests.fakes.openai_server import FakeOpenAI

MODEL = "fake-model"
_keys = itertools.count(1)


def make_settings(
    data_dir: Path,
    server: FakeOpenAI | None,
    sections: Mapping[str, Any] | None = None,
    **llm: Any,
) -> Settings:
    """Settings for a test App: the fake model (fast timeouts) plus extra config sections."""
    merged: dict[str, Any] = {k: dict(v) for k, v in (sections or {}).items()}
    merged.setdefault("llm", {}).update(
        {"attempt_timeout": 5, "turn_timeout": 10, "max_attempts": 2, **llm}
    )
    return Settings(
        data_dir=data_dir,
        llm_base_url=server.base_url if server else None,
        llm_model=MODEL if server else None,
        sections=merged if server else {k: v for k, v in merged.items() if k != "llm"},
    )


def dm(user: str, text: str, key: str | None = None, platform: str = "console") -> IncomingMessage:
    """A direct message from `user` with a unique (or the given) platform key."""
    return IncomingMessage(
        user=UserRef(platform, user, user),
        chat=ChatRef(platform, f"dm:{user}", "dm", user),
        text=text,
        key=key or f"k{next(_keys)}",
    )


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(reply="I remember you. 我记得你。", chunk_chars=6) as server:
        yield server


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


async def open_app(settings: Settings, i18n: I18n) -> App:
    app = App(settings, i18n=i18n)
    await app.open()
    return app
