"""Inline keyboards: confirmations and pages answer only their owner; persistent buttons route."""

from __future__ import annotations

import itertools
from typing import Any

from bot.adapters.telegram import TelegramAdapter
from tests.fakes.telegram_server import GROUP, USER, Call, FakeTelegram, text_message

STRANGER = {"id": 77, "is_bot": False, "first_name": "Stranger", "language_code": "en"}
_ids = itertools.count(1)


def press(server: FakeTelegram, call: Call, data: str, user: dict[str, Any]) -> str:
    query_id = f"q{next(_ids)}"
    server.push(
        {
            "callback_query": {
                "id": query_id,
                "from": user,
                "chat_instance": "ci",
                "data": data,
                "message": call.result,
            }
        }
    )
    return query_id


def keyboard(call: Call) -> list[dict[str, str]]:
    return [b for row in call.params["reply_markup"]["inline_keyboard"] for b in row]


async def answer_of(server: FakeTelegram, query_id: str) -> Call:
    for _ in range(50):
        for c in server.calls_of("answerCallbackQuery"):
            if c.params["callback_query_id"] == query_id:
                return c
        await server.wait_for(
            "answerCallbackQuery", len(server.calls_of("answerCallbackQuery")) + 1
        )
    raise AssertionError("no answer")


async def test_confirmation_only_answers_its_owner(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    server.push({"message": text_message("/ask", message_id=1, chat=GROUP)})
    (question,) = await server.wait_for("sendMessage")
    yes, no = keyboard(question)
    assert (yes["text"], no["text"]) == ("Yes", "No")
    stranger = press(server, question, yes["callback_data"], STRANGER)
    refused = await answer_of(server, stranger)
    assert refused.params["show_alert"] is True
    assert "belong to the person who asked" in refused.params["text"]
    owner = press(server, question, yes["callback_data"], USER)
    await answer_of(server, owner)
    sent = await server.wait_for("sendMessage", 2)
    assert sent[1].params["text"] == "answer True"
    # The buttons are removed once the question is answered.
    assert server.calls_of("editMessageReplyMarkup")


async def test_pages_turn_for_the_owner_only(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    server.push({"message": text_message("/pages", message_id=1)})
    (first,) = await server.wait_for("sendMessage")
    assert first.params["text"] == "page one"
    buttons = keyboard(first)
    assert [b["text"] for b in buttons] == ["1/3", "Next ▶"]
    await answer_of(server, press(server, first, buttons[1]["callback_data"], STRANGER))
    assert server.calls_of("editMessageText") == []
    await answer_of(server, press(server, first, buttons[1]["callback_data"], USER))
    (edit,) = await server.wait_for("editMessageText")
    assert edit.params["text"] == "page two"
    assert [b["text"] for b in keyboard(edit)] == ["◀ Previous", "2/3", "Next ▶"]


async def test_persistent_button_routes_to_the_cog(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    server.push({"message": text_message("/card", message_id=1, chat=GROUP)})
    (card,) = await server.wait_for("sendMessage")
    (button,) = keyboard(card)
    assert button["callback_data"] == "probe:candle"
    answered = await answer_of(server, press(server, card, "probe:candle", STRANGER))
    assert answered.params["text"] == "pressed candle"
    expired = await answer_of(server, press(server, card, "gone:1", STRANGER))
    assert expired.params["text"] == "This button has expired."


async def test_added_to_a_group_introduces_itself(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    me = {k: server.bot[k] for k in ("id", "is_bot", "first_name", "username")}
    server.push(
        {
            "my_chat_member": {
                "chat": GROUP,
                "from": USER,
                "date": 0,
                "old_chat_member": {"status": "left", "user": me},
                "new_chat_member": {"status": "member", "user": me},
            }
        }
    )
    (intro,) = await server.wait_for("sendMessage")
    assert intro.params["text"] == "introduction"
    assert int(intro.params["chat_id"]) == GROUP["id"]
