"""`/start` in a private chat, with and without a deep-link payload, through the real PTB stack."""

from __future__ import annotations

from bot.adapters.telegram import TelegramAdapter
from tests.fakes.telegram_server import USER, FakeTelegram, text_message


async def test_start_welcomes_in_the_users_language(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    zh_user = dict(USER, language_code="zh-hans")
    server.push({"message": text_message("/start", message_id=1, user=zh_user)})
    (call,) = await server.wait_for("sendMessage")
    assert int(call.params["chat_id"]) == USER["id"]
    assert "余温" in call.params["text"] and "Lin" in call.params["text"]
    assert "parse_mode" not in call.params  # plain text
    assert call.params["link_preview_options"] == {"is_disabled": True}
    # A plain reply is one message, not a draft plus a message.
    assert server.calls_of("sendMessageDraft") == []


async def test_start_payload_runs_the_linked_command(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    server.push({"message": text_message("/start support", message_id=1)})
    await server.wait_for("sendMessage", 2)
    server.push({"message": text_message("/start link_AB12cd", message_id=2)})
    texts = [c.params["text"] for c in await server.wait_for("sendMessage", 4)]
    assert texts[1] == "support resources"
    assert texts[3] == "linking AB12cd"
    assert "Afterglow" in texts[0] and "Afterglow" in texts[2]


async def test_unknown_payload_only_welcomes(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    server.push({"message": text_message("/start nothing_here_x", message_id=1)})
    server.push({"message": text_message("/echo after", message_id=2)})
    texts = [c.params["text"] for c in await server.wait_for("sendMessage", 2)]
    assert texts[1] == "echo: after"
    await server.idle()
    assert len(server.calls_of("sendMessage")) == 2
