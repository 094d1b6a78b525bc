"""Replier details: UTF-16 splitting, flood-control normalisation, blocked chats, delivery."""

from __future__ import annotations

import datetime as dtm

import pytest
from telegram.error import RetryAfter

from bot.adapters.telegram import TelegramAdapter
from bot.adapters.telegram.replier import fit, retry_seconds, split_message, utf16_len
from bot.services.delivery import DeliveryUnavailable
from tests.fakes.telegram_server import GROUP, USER, FakeTelegram, text_message


def test_split_counts_utf16_units() -> None:
    emoji = "🕯️" * 3000  # each candle is 3 UTF-16 units
    pieces = split_message(emoji)
    assert all(utf16_len(p) <= 4096 for p in pieces)
    assert "".join(pieces) == emoji
    chinese = "我们在春天相遇。" * 1000
    pieces = split_message(chinese)
    assert all(utf16_len(p) <= 4096 for p in pieces) and len(pieces) == 2
    assert pieces[0].endswith("。")  # split at a sentence end
    assert utf16_len(fit("😀" * 3000)) <= 4096


def test_retry_after_seconds_from_int_or_timedelta() -> None:
    assert retry_seconds(RetryAfter(3)) == 3.0
    assert retry_seconds(RetryAfter(dtm.timedelta(seconds=1.5))) == 1.5


async def test_long_reply_is_split_into_messages(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    words = "remember " * 700  # 6300 characters
    server.push({"message": text_message(f"/echo {words}", message_id=1)})
    sent = await server.wait_for("sendMessage", 2)
    assert all(utf16_len(c.params["text"]) <= 4096 for c in sent)
    assert " ".join(c.params["text"] for c in sent).split() == f"echo: {words}".split()


async def test_personal_answer_when_the_bot_cannot_dm(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    server.blocked_chats.add(USER["id"])
    server.push({"message": text_message("/mine", message_id=2, chat=GROUP)})
    (notice,) = await server.wait_for("sendMessage")
    # The private answer never falls back to the group; the person gets a way to open the chat.
    assert int(notice.params["chat_id"]) == GROUP["id"]
    assert "https://t.me/afterglow_test_bot?start=hi" in notice.params["text"]
    assert "your private notes" not in notice.params["text"]


async def test_deliver_for_recovery(server: FakeTelegram, adapter: TelegramAdapter) -> None:
    await adapter.deliver("telegram", str(USER["id"]), "sorry for the wait")
    (call,) = await server.wait_for("sendMessage")
    assert call.params["text"] == "sorry for the wait"
    assert server.calls_of("sendMessageDraft") == []
    server.blocked_chats.add(99)
    with pytest.raises(DeliveryUnavailable):
        await adapter.deliver("telegram", "99", "unreachable")


async def test_send_dm_reaches_a_private_chat_or_says_it_could_not(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    assert await adapter.send_dm(str(USER["id"]), "happy anniversary")
    (call,) = await server.wait_for("sendMessage")
    assert int(call.params["chat_id"]) == USER["id"]
    assert call.params["text"] == "happy anniversary"
    server.blocked_chats.add(99)
    assert not await adapter.send_dm("99", "unreachable")
    assert not await adapter.send_dm("not-a-number", "x")
