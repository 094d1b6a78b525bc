"""Per-person limits: token bucket, daily token quota, crisis exemption, kind localized refusals."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.core.errors import ConfigError
from bot.services.i18n import I18n
from bot.services.limits import LimitsConfig
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.replier import FakeReplier, chat_replies
from tests.reliability.conftest import dm, make_settings, open_app

REPLY = "I remember you. 我记得你。"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_bucket_refuses_kindly_then_refills(
    data_dir: Path, fake_llm: FakeOpenAI, i18n: I18n
) -> None:
    limits = {"limits": {"burst": 2, "per_minute": 6}}
    app = await open_app(make_settings(data_dir, fake_llm, limits), i18n)
    clock = Clock()
    app.limits.clock = clock
    try:
        replier = FakeReplier()
        for i in range(3):
            await app.router.handle_message(dm("ann", f"message {i}", key=f"b{i}"), replier)
        refusal = i18n.t("en", "reliability.rate_limited", seconds=10)
        assert chat_replies(replier.texts) == [REPLY, REPLY, refusal]
        assert len(fake_llm.requests) == 2
        assert await app.turns.status("console", "b2") == "answered"  # refused is an answer
        # Another person has their own bucket.
        other = FakeReplier()
        await app.router.handle_message(dm("bo", "hi", key="o1"), other)
        assert chat_replies(other.texts) == [REPLY]
        clock.now += 10  # one message refilled (6 per minute)
        await app.router.handle_message(dm("ann", "again", key="b3"), replier)
        assert replier.texts[-1] == REPLY
    finally:
        await app.close()


async def test_crisis_messages_are_never_limited(
    data_dir: Path, fake_llm: FakeOpenAI, i18n: I18n
) -> None:
    app = await open_app(make_settings(data_dir, fake_llm, {"limits": {"burst": 1}}), i18n)
    app.limits.clock = Clock()
    try:
        replier = FakeReplier()
        await app.router.handle_message(dm("cy", "hello", key="c0"), replier)
        await app.router.handle_message(dm("cy", "hello again", key="c1"), replier)
        refusal = i18n.t("en", "reliability.rate_limited", seconds=10)
        assert replier.texts[-1] == refusal
        before = len(fake_llm.requests)
        await app.router.handle_message(dm("cy", "I want to kill myself", key="c2"), replier)
        assert refusal not in replier.texts[-1]
        assert len(fake_llm.requests) == before + 1
        await app.router.handle_message(dm("cy", "我不想活了", key="c3"), replier)
        assert len(fake_llm.requests) == before + 2
    finally:
        await app.close()


async def test_daily_quota_in_chinese(data_dir: Path, fake_llm: FakeOpenAI, i18n: I18n) -> None:
    app = await open_app(make_settings(data_dir, fake_llm, {"limits": {"daily_tokens": 20}}), i18n)
    try:
        replier = FakeReplier()
        first = dm("dai", "你好", key="q1")
        await app.router.handle_message(first, replier)
        assert chat_replies(replier.texts) == [REPLY]
        person = await app.users.resolve("console", "dai")
        assert await app.limits.usage.tokens(person, "x", 0, 1e12) >= 20
        second = replace(dm("dai", "还在吗", key="q2"), locale_hint="zh")
        await app.router.handle_message(second, replier)
        quota = replier.texts[-1]
        assert quota.startswith("今天我们聊了很多")
        assert len(fake_llm.requests) == 1
    finally:
        await app.close()


@pytest.mark.parametrize(
    "section",
    [{"burst": 0}, {"per_minute": -1}, {"daily_tokens": -5}, {"burst": "many"}, {"bogus": 1}],
)
def test_bad_limits_config_names_the_setting(section: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match=r"\[limits\]"):
        LimitsConfig.from_section(section)
