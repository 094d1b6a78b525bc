"""The companion path: private chats stream through drafts, groups through throttled edits."""

from __future__ import annotations

from bot.adapters.telegram import TelegramAdapter
from bot.adapters.telegram.replier import GROUP_EDIT_INTERVAL
from tests.adapters.telegram.conftest import STREAM
from tests.fakes.telegram_server import BOT_USERNAME, GROUP, USER, FakeTelegram, text_message

FULL = "".join(STREAM)


async def test_private_message_streams_as_drafts_then_one_message(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    server.push({"message": text_message("do you remember me?", message_id=5)})
    (final,) = await server.wait_for("sendMessage")
    drafts = server.calls_of("sendMessageDraft")
    assert len(drafts) >= 2
    # One draft id, growing text: the animation Telegram shows while the answer is written.
    assert len({d.params["draft_id"] for d in drafts}) == 1
    texts = [d.params["text"] for d in drafts]
    assert texts == sorted(texts, key=len) and FULL.startswith(texts[0])
    assert all(d.at <= final.at for d in drafts)
    assert final.params["text"] == FULL
    await server.idle()
    assert len(server.calls_of("sendMessage")) == 1
    assert server.calls_of("editMessageText") == []


async def test_group_reply_to_the_bot_streams_with_edits(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    bot_message = {
        "message_id": 70,
        "date": 0,
        "chat": GROUP,
        "from": {"id": server.bot["id"], "is_bot": True, "first_name": "Afterglow"},
        "text": "I'm here.",
    }
    server.push(
        {
            "message": text_message(
                "tell me more", message_id=71, chat=GROUP, reply_to_message=bot_message
            )
        }
    )
    await server.wait_for("editMessageText")
    await server.idle()
    (first,) = server.calls_of("sendMessage")
    edits = server.calls_of("editMessageText")
    assert int(first.params["chat_id"]) == GROUP["id"]
    assert first.params["reply_parameters"]["message_id"] == 71  # threads in a busy group
    assert edits[-1].params["text"] == FULL
    assert server.calls_of("sendMessageDraft") == []  # drafts exist only in private chats
    assert GROUP_EDIT_INTERVAL >= 3.0


async def test_group_ignores_chatter_and_answers_commands(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    other = {"id": 7, "is_bot": False, "first_name": "Someone"}
    other_message = {"message_id": 80, "date": 0, "chat": GROUP, "from": other, "text": "hi all"}
    server.push(
        {
            "message": text_message(
                "so sad", message_id=81, chat=GROUP, reply_to_message=other_message
            )
        }
    )
    server.push({"message": text_message("/echo@other_bot not for us", message_id=82, chat=GROUP)})
    server.push(
        {"message": text_message(f"/echo@{BOT_USERNAME} we miss them", message_id=83, chat=GROUP)}
    )
    (call,) = await server.wait_for("sendMessage")
    assert call.params["text"] == "echo: we miss them"
    assert int(call.params["chat_id"]) == GROUP["id"]
    await server.idle()
    assert len(server.calls_of("sendMessage")) == 1


async def test_dm_only_command_in_a_group_is_refused_privately(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    server.push({"message": text_message("/mine", message_id=90, chat=GROUP)})
    sent = await server.wait_for("sendMessage", 2)
    by_chat = {int(c.params["chat_id"]): c.params["text"] for c in sent}
    # A personal answer never lands in the group: it goes to the person's private chat.
    assert by_chat[USER["id"]] == "your private notes"
    assert "private message" in by_chat[GROUP["id"]]
