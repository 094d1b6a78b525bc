"""Photos and documents reach commands: captions, replies, albums, and the 20 MB cap."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.adapters.telegram import TelegramAdapter
from bot.adapters.telegram.files import CLOUD_DOWNLOAD_CAP
from bot.core.errors import UserError
from tests.fakes.telegram_server import GROUP, USER, FakeTelegram, text_message


def photo_message(message_id: int, file_id: str, size: int, **extra: Any) -> dict[str, Any]:
    caption = extra.pop("caption", None)
    msg: dict[str, Any] = {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": extra.pop("chat", {"id": USER["id"], "type": "private", "first_name": "Lin"}),
        "from": USER,
        "photo": [
            {
                "file_id": file_id + "-small",
                "file_unique_id": file_id + "s",
                "width": 90,
                "height": 90,
                "file_size": 100,
            },
            {
                "file_id": file_id,
                "file_unique_id": file_id + "u",
                "width": 1280,
                "height": 960,
                "file_size": size,
            },
        ],
        **extra,
    }
    if caption:
        msg["caption"] = caption
        msg["caption_entities"] = [
            {"type": "bot_command", "offset": 0, "length": len(caption.split()[0])}
        ]
    return msg


def document_message(message_id: int, file_id: str, size: int, caption: str) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": {"id": USER["id"], "type": "private", "first_name": "Lin"},
        "from": USER,
        "document": {
            "file_id": file_id,
            "file_unique_id": file_id + "u",
            "file_name": "conversations.zip",
            "mime_type": "application/zip",
            "file_size": size,
        },
        "caption": caption,
        "caption_entities": [
            {"type": "bot_command", "offset": 0, "length": len(caption.split()[0])}
        ],
    }


async def test_photo_with_caption_command_reaches_the_command(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    server.add_file("big-photo", b"\xff\xd8" + b"x" * 998)
    server.push({"message": photo_message(1, "big-photo", 1000, caption="/upload")})
    (reply,) = await server.wait_for("sendMessage")
    assert reply.params["text"] == "got 1000 bytes in 1 file(s)"
    # The largest size was fetched, through getFile and the file URL.
    assert [c.params["file_id"] for c in server.calls_of("getFile")] == ["big-photo"]
    assert server.downloads == ["documents/big-photo.bin"]


async def test_command_replying_to_a_photo_in_a_group_gets_the_photo(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    server.add_file("shot", b"p" * 321)
    screenshot = photo_message(10, "shot", 321, chat=GROUP)
    server.push(
        {"message": text_message("/upload", message_id=11, chat=GROUP, reply_to_message=screenshot)}
    )
    (reply,) = await server.wait_for("sendMessage")
    assert reply.params["text"] == "got 321 bytes in 1 file(s)"
    assert int(reply.params["chat_id"]) == GROUP["id"]


async def test_album_with_caption_command_brings_every_photo(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    for i in range(3):
        server.add_file(f"a{i}", b"z" * (10 + i))
    server.push(
        {"message": photo_message(20, "a0", 10, caption="/upload", media_group_id="album1")}
    )
    server.push({"message": photo_message(21, "a1", 11, media_group_id="album1")})
    server.push({"message": photo_message(22, "a2", 12, media_group_id="album1")})
    (reply,) = await server.wait_for("sendMessage")
    assert reply.params["text"] == "got 10 bytes in 3 file(s)"
    await server.idle()
    assert len(server.calls_of("sendMessage")) == 1  # the album's other photos are not answered


async def test_album_captioned_photo_leads_even_when_it_arrives_last(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    for i in range(2):
        server.add_file(f"b{i}", b"y" * (20 + i))
    server.push({"message": photo_message(40, "b0", 20, media_group_id="album2")})
    server.push(
        {"message": photo_message(41, "b1", 21, caption="/upload", media_group_id="album2")}
    )
    (reply,) = await server.wait_for("sendMessage")
    assert reply.params["text"] == "got 20 bytes in 2 file(s)"
    await server.idle()
    assert len(server.calls_of("sendMessage")) == 1


async def test_answers_stay_in_the_forum_topic(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    forum = dict(GROUP, is_forum=True)
    server.push(
        {
            "message": text_message(
                "/echo topic", message_id=50, chat=forum, message_thread_id=7, is_topic_message=True
            )
        }
    )
    (reply,) = await server.wait_for("sendMessage")
    assert reply.params["message_thread_id"] == 7


async def test_oversized_document_is_refused_before_get_file(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    server.push({"message": document_message(30, "huge", 25_000_000, "/upload")})
    (reply,) = await server.wait_for("sendMessage")
    assert "25.0 MB" in reply.params["text"] and "20 MB" in reply.params["text"]
    assert "conversations.json" in reply.params["text"]
    assert server.calls_of("getFile") == []
    assert server.downloads == []


async def test_oversized_document_in_chinese(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    msg = document_message(31, "huge", 25_000_000, "/upload")
    msg["from"] = dict(USER, language_code="zh-hans")
    server.push({"message": msg})
    (reply,) = await server.wait_for("sendMessage")
    assert "只允许机器人下载不超过 20 MB" in reply.params["text"]


async def test_download_stops_at_the_cap_even_if_sizes_lie(
    server: FakeTelegram, adapter: TelegramAdapter
) -> None:
    # Neither the update nor getFile tells the truth: the streamed download itself stops.
    server.add_file("liar", b"0" * 5000)
    server.reported_sizes["liar"] = None
    downloader = adapter._downloader
    assert downloader is not None and downloader.platform_cap == CLOUD_DOWNLOAD_CAP
    assert await downloader.fetch("liar", 1, 10_000) == b"0" * 5000
    with pytest.raises(UserError) as caught:
        await downloader.fetch("liar", 1, 1000)
    assert caught.value.key == "errors.file_too_large"
    # A size getFile reports is checked before anything is downloaded.
    server.reported_sizes["liar"] = 21_000_000
    before = len(server.downloads)
    with pytest.raises(UserError) as caught:
        await downloader.fetch("liar", 1, 30_000_000)
    assert caught.value.key == "telegram.file_too_large"
    assert len(server.downloads) == before
