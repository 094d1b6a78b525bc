"""The DM chat path runs the care pipeline: crisis lines first (even with no model or a hanging
one), the crisis note in the model's system prompt, the guard on the reply, exit words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.core.models import ChatRef, IncomingMessage, UserRef
from bot.services.care import PROMPT_CRISIS
from bot.services.i18n import I18n
from bot.settings import Settings
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.replier import FakeReplier

MEI = UserRef("console", "mei", "Mei")
DM = ChatRef("console", "dm-mei", "dm")
UNSAFE = "I hear you. The lethal dose of that is about 10 g. I'm here."


async def say(app: App, text: str, key: str) -> FakeReplier:
    replier = FakeReplier()
    await app.router.handle_message(IncomingMessage(MEI, DM, text, key=key), replier)
    return replier


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(reply="I'm right here with you.") as fake:
        yield fake


def _settings(tmp_path: Path, server: FakeOpenAI | None) -> Settings:
    env = {"AFTERGLOW_DATA_DIR": str(tmp_path / "data")}
    if server is not None:
        env |= {"AFTERGLOW_LLM_BASE_URL": server.base_url, "AFTERGLOW_LLM_MODEL": "m"}
    return Settings.load(env)


async def test_crisis_turn_through_the_chat_path(tmp_path: Path, i18n: I18n,
                                                 server: FakeOpenAI) -> None:
    async with App(_settings(tmp_path, server), i18n=i18n) as app:
        out = await say(app, "I want to kill myself", "k1")
        texts = out.texts
        assert texts[0].startswith(i18n.t("en", "care.crisis.ack")) and "988" in texts[0]
        assert "I'm right here with you." in texts
        system = server.requests[-1]["messages"][0]["content"]
        assert PROMPT_CRISIS in system
        server.always(None)
        server.script()
        server.reply = UNSAFE
        out = await say(app, "tell me more", "k2")
        shown = "\n".join(out.texts)
        assert "lethal" not in shown and i18n.t("en", "care.guard.replaced") in shown
        bye = await say(app, "bye", "k3")
        assert len(bye.texts) == 1 and "988" in bye.texts[0]


async def test_crisis_lines_go_out_without_any_model(tmp_path: Path, i18n: I18n) -> None:
    async with App(_settings(tmp_path, None), i18n=i18n) as app:
        out = await say(app, "我不想活了", "k1")
        assert "12356" in out.texts[0]
