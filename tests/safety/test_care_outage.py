"""A3: with the model hanging, a flagged message still gets the static template within 5 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from bot.core.streaming import render_stream
from bot.services.care import CareDecision
from bot.services.companion import Companion
from bot.services.i18n import I18n
from bot.services.llm import LLMClient
from bot.services.llm_config import LLMConfig
from bot.services.storage import Database
from bot.services.storage.conversations import Conversations
from bot.services.storage.users import Users
from tests.fakes.openai_server import FakeOpenAI, Hang
from tests.fakes.replier import FakeReplier
from tests.safety.conftest import ALICE, CareWorld


async def _until(done: Callable[[], bool], started: float, limit: float = 5.0) -> None:
    for _ in range(int(limit / 0.01)):
        if done() or time.monotonic() - started >= limit:
            return
        await asyncio.sleep(0.01)


@pytest.fixture
async def hanging() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(reply="I'm here with you.") as server:
        server.always(Hang())
        yield server


async def test_template_goes_out_in_under_five_seconds_while_the_model_hangs(
    world: CareWorld, db: Database, i18n: I18n, hanging: FakeOpenAI
) -> None:
    cfg = LLMConfig.single(hanging.base_url, "main-model")
    companion = Companion(llm=LLMClient(cfg), config=cfg, conversations=Conversations(db),
                          users=Users(db), i18n=i18n)
    replier = FakeReplier()

    def reply(decision: CareDecision) -> AsyncIterator[str]:
        return companion.turn(ALICE, "I want to kill myself", "en")

    started = time.monotonic()
    turn = asyncio.create_task(world.care.run_turn(ALICE, "en", "I want to kill myself", replier,
                                                   reply, render_stream))
    await _until(lambda: bool(replier.sent), started)
    elapsed = time.monotonic() - started
    assert replier.sent, "no template within 5 s"
    assert elapsed < 5.0
    first = replier.sent[0].text
    assert first.startswith(i18n.t("en", "care.crisis.ack")) and "988" in first
    await _until(lambda: bool(hanging.requests), started)
    assert hanging.requests, "the model was still asked (the template does not replace it)"
    assert not turn.done()  # the model is still hanging; the person already has the lines
    turn.cancel()
    await asyncio.gather(turn, return_exceptions=True)
    await companion.aclose()


async def test_same_turn_order_warmth_resources_then_the_companion(
    world: CareWorld, db: Database, i18n: I18n
) -> None:
    async with FakeOpenAI(reply="I'm here with you. Tell me about tonight.") as server:
        cfg = LLMConfig.single(server.base_url, "main-model")
        companion = Companion(llm=LLMClient(cfg), config=cfg, conversations=Conversations(db),
                              users=Users(db), i18n=i18n)
        replier = FakeReplier()
        text = "我不想活了"

        def reply(decision: CareDecision) -> AsyncIterator[str]:
            return companion.turn(ALICE, text, "zh_Hans")

        decision = await world.care.run_turn(ALICE, "zh_Hans", text, replier, reply, render_stream)
        await companion.aclose()
    shown = replier.texts
    assert decision.full_block and len(shown) >= 2
    first = shown[0]
    ack = i18n.t("zh_Hans", "care.crisis.ack")
    assert first.index(ack) < first.index("12356") < first.index(i18n.t("zh_Hans", "care.crisis.stay"))
    assert shown[1] == "I'm here with you. Tell me about tonight."
    # first contact in a crisis turn: the disclosure comes after the companion's reply
    assert "我是 AI，不是真人，也不是 GPT-4o 本身" in shown[2] and len(shown) == 3
