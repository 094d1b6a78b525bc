"""Flood control, re-delivered updates and restarts, through the real PTB stack."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bot.adapters.telegram import TelegramAdapter
from tests.adapters.telegram.conftest import FAST, MiniApp
from tests.fakes.telegram_server import GROUP, FakeTelegram, text_message


async def test_flood_control_is_waited_out_never_retried_early(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    server.fail_next("sendMessage", retry_after=1, times=2)
    server.push({"message": text_message("/echo slowly", message_id=1)})
    (ok,) = await server.wait_for("sendMessage", timeout=8)
    attempts = [c for c in server.calls if c.method == "sendMessage"]
    assert [c.status for c in attempts] == [429, 429, 200]
    # Each retry came at least retry_after seconds after the 429 that asked for it.
    assert attempts[1].at - attempts[0].at >= 1.0
    assert attempts[2].at - attempts[1].at >= 1.0
    assert ok.params["text"] == "echo: slowly"


async def test_duplicate_update_is_answered_once(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    update = server.push({"message": text_message("/echo once", message_id=1)})
    server.push(update)  # Telegram re-delivers after a crash: same update_id
    chat = server.push({"message": text_message("are you there?", message_id=2)})
    server.push(chat)
    await server.wait_for("sendMessage", 2)
    await server.idle(quiet=0.5)
    texts = server.sent_texts()
    assert texts.count("echo: once") == 1
    assert len(texts) == 2


async def test_update_seen_before_a_restart_is_not_answered_again(
    server: FakeTelegram, mini: MiniApp
) -> None:
    first = TelegramAdapter(mini, options=FAST)
    await first.start()
    update = server.push({"message": text_message("/echo before", message_id=1)})
    await server.wait_for("sendMessage")
    await first.stop()
    second = TelegramAdapter(mini, options=FAST)
    await second.start()
    try:
        server.push(update)
        server.push({"message": text_message("/echo after", message_id=2)})
        await server.wait_for("sendMessage", 2)
        await server.idle(quiet=0.3)
        assert server.sent_texts() == ["echo: before", "echo: after"]
    finally:
        await second.stop()


async def test_menu_is_published_only_when_it_changed(
    server: FakeTelegram, mini: MiniApp, tmp_path: Path
) -> None:
    from bot.core import Cog, Invocation, command

    async def run_once() -> int:
        before = len(server.calls_of("setMyCommands"))
        tg = TelegramAdapter(mini, options=FAST)
        await tg.start()
        await tg.stop()
        return len(server.calls_of("setMyCommands")) - before

    assert await run_once() == 9  # 3 scopes × (default, en, zh)
    zh_private = server.commands["all_private_chats:zh"]
    en_private = server.commands["all_private_chats:en"]
    assert [c["command"] for c in zh_private] == [c["command"] for c in en_private]
    help_zh = next(c for c in zh_private if c["command"] == "help")["description"]
    help_en = next(c for c in en_private if c["command"] == "help")["description"]
    assert help_zh != help_en
    assert "support" not in [c["command"] for c in server.commands["all_group_chats:en"]]
    assert "不是真人" in server.profile["short:zh"] and "Not a person" in server.profile["short:"]
    assert len(server.profile["description:en"]) <= 512
    assert await run_once() == 0  # unchanged: nothing sent

    class Extra(Cog):
        @command("extra")
        async def extra(self, inv: Invocation) -> None: ...

    mini.registry.add_cog(Extra())
    assert await run_once() == 9
    assert "extra" in [c["command"] for c in server.commands["default:"]]


async def test_group_sends_are_rate_limited(server: FakeTelegram, mini: MiniApp) -> None:
    # Telegram's 20 messages a minute per group, scaled down: 2 per second here.
    options = dataclasses.replace(FAST, group_per_minute=2, group_period=1.0)
    tg = TelegramAdapter(mini, options=options)
    await tg.start()
    try:
        for i in range(6):
            server.push({"message": text_message(f"/echo {i}", message_id=10 + i, chat=GROUP)})
        sent = await server.wait_for("sendMessage", 6, timeout=10)
    finally:
        await tg.stop()
    times = [c.at for c in sent]
    # After the first burst of 2, each further pair waits for the bucket to refill.
    assert times[-1] - times[0] >= 1.5
    assert sorted(c.params["text"] for c in sent) == [f"echo: {i}" for i in range(6)]


async def test_unreachable_at_start_keeps_connecting(server: FakeTelegram, mini: MiniApp) -> None:
    server.break_next("getMe", status=502, times=2)
    tg = TelegramAdapter(mini, options=dataclasses.replace(FAST, reconnect_delay=0.2))
    await tg.start()  # returns: the rest of the bot must not wait for Telegram
    try:
        assert tg.application is None
        server.push({"message": text_message("/echo finally", message_id=1)})
        (reply,) = await server.wait_for("sendMessage", timeout=10)
        assert reply.params["text"] == "echo: finally"
        assert [c.status for c in server.calls if c.method == "getMe"] == [502, 502, 200]
    finally:
        await tg.stop()
    assert tg.application is None
