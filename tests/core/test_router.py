"""The router: where and who checks, and errors turned into localized replies in one place."""

from __future__ import annotations

import logging

import pytest

from bot.core import (
    ChatRef,
    Cog,
    IncomingMessage,
    Invocation,
    MessageContext,
    Option,
    Registry,
    UserError,
    UserRef,
    Where,
    command,
    on_message,
)
from bot.core.router import Router
from bot.services.i18n import I18n
from tests.fakes.replier import FakeReplier

DM = ChatRef("console", "dm:ann", "dm")
GROUP = ChatRef("console", "g1", "group")
ANN = UserRef("console", "ann", "Ann")


class Locales:
    def __init__(self) -> None:
        self.user: dict[str, str] = {}
        self.chat: dict[str, str] = {}
        self.seen: set[str] = set()

    async def user_locale(self, platform: str, platform_user_id: str) -> str | None:
        return self.user.get(platform_user_id)

    async def chat_locale(self, platform: str, chat_id: str) -> str | None:
        return self.chat.get(chat_id)

    async def record_inbound(self, platform: str, key: str) -> bool:
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


class Demo(Cog):
    def __init__(self) -> None:
        self.calls: list[str] = []

    @command("private", where=Where.DM)
    async def private(self, inv: Invocation) -> None:
        self.calls.append("private")

    @command("setup", where=Where.GROUP, admin=True)
    async def setup(self, inv: Invocation) -> None:
        self.calls.append("setup")

    @command("boom", options=[Option("kind")])
    async def boom(self, inv: Invocation, kind: str = "user") -> None:
        if kind == "user":
            raise UserError("errors.not_found")
        raise RuntimeError("secret message text must not be logged")

    @on_message(Where.DM)
    async def chat(self, ctx: MessageContext) -> None:
        self.calls.append(f"chat:{ctx.locale}")


@pytest.fixture
def parts(i18n: I18n) -> tuple[Router, Demo, Locales]:
    reg = Registry()
    demo = Demo()
    reg.add_cog(demo)
    locales = Locales()
    return Router(reg, i18n, locales, locales), demo, locales


async def test_dm_only_command_in_group_gets_localized_refusal(parts, i18n: I18n) -> None:
    router, demo, locales = parts
    locales.chat["g1"] = "zh_Hans"
    replier = FakeReplier()
    assert await router.run_text(ANN, GROUP, "/private", replier)
    assert demo.calls == []
    assert replier.texts == [i18n.t("zh_Hans", "errors.dm_only")]
    assert not replier.sent[0].ephemeral  # not a personal command: answered in place


async def test_admin_only_command_refuses_members_and_runs_for_admins(parts, i18n: I18n) -> None:
    router, demo, _ = parts
    replier = FakeReplier()
    await router.run_text(ANN, GROUP, "/setup", replier)
    assert replier.texts == [i18n.t("en", "errors.admin_only")]
    await router.run_text(ANN, GROUP, "/setup", replier, is_admin=True)
    assert demo.calls == ["setup"]


async def test_user_error_becomes_reply_and_bug_becomes_apology(parts, i18n: I18n, caplog) -> None:
    router, _, _ = parts
    replier = FakeReplier()
    await router.run_text(ANN, DM, "/boom user", replier)
    with caplog.at_level(logging.ERROR):
        await router.run_text(ANN, DM, "/boom bug", replier)
    assert replier.texts == [i18n.t("en", "errors.not_found"), i18n.t("en", "errors.internal")]
    assert "RuntimeError" in caplog.text
    assert "secret message text" not in caplog.text


async def test_locale_order_user_then_hint_then_chat_then_english(parts) -> None:
    router, _, locales = parts
    locales.chat["g1"] = "zh_Hans"
    assert await router.locale_for(ANN, GROUP, None) == "zh_Hans"
    assert await router.locale_for(ANN, GROUP, "en-US") == "en"
    locales.user["ann"] = "zh"
    assert await router.locale_for(ANN, GROUP, "en-US") == "zh_Hans"
    assert await router.locale_for(UserRef("console", "bob"), DM, None) == "en"


async def test_messages_are_deduplicated_and_groups_need_addressing(parts, i18n: I18n) -> None:
    router, demo, _ = parts
    replier = FakeReplier()
    msg = IncomingMessage(ANN, DM, "hi", key="k1", locale_hint="zh-CN")
    await router.handle_message(msg, replier)
    await router.handle_message(msg, replier)
    assert demo.calls == ["chat:zh_Hans"]
    await router.handle_message(IncomingMessage(ANN, GROUP, "x", key="k2", addressed=False), replier)
    assert replier.texts == []
    await router.handle_message(IncomingMessage(ANN, GROUP, "x", key="k3", addressed=True), replier)
    assert replier.texts == [i18n.t("en", "core.dm_pointer", bot="")]


async def test_bad_option_value_is_explained(parts, i18n: I18n) -> None:
    reg = Registry()

    class Typed(Cog):
        @command("count", options=[Option("n", type=__import__("bot.core").core.OptionType.INTEGER)])
        async def count(self, inv: Invocation, n: int = 0) -> None: ...

    reg.add_cog(Typed())
    router = Router(reg, i18n, Locales())
    replier = FakeReplier()
    await router.run_text(ANN, DM, "/count many", replier)
    assert replier.texts == [i18n.t("en", "errors.not_a_number", option="n")]
