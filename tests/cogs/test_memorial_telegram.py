"""The memorial wall through the real Telegram adapter against the fake Bot API server.

A photo with `/farewell …` as its caption posts a card; a candle press edits the card's count;
`/wall search` finds the words inside the screenshot; `/wall export` sends the gallery zip;
`/wall remove` (confirmed with the inline button) deletes the post and its files.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import time
import zipfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.telegram import TelegramAdapter, TelegramOptions
from bot.app import App
from bot.services.ocr import RapidOcrEngine
from bot.settings import Settings
from tests.fakes.screenshots import zh_screenshot
from tests.fakes.telegram_server import Call, FakeTelegram, text_message

PHRASE = "我们约好在灯塔下见面"
GROUP = {"id": -1002, "type": "supergroup", "title": "灯塔"}
MEI = {"id": 7, "is_bot": False, "first_name": "Mei", "language_code": "zh-hans"}
BO = {"id": 8, "is_bot": False, "first_name": "Bo", "language_code": "zh-hans"}
FAST = TelegramOptions(poll_timeout=1, chat_gap=0.0, draft_idle_commit=0.2, album_wait=0.3)
_ids = itertools.count(100)


def photo_message(file_id: str, size: int, caption: str, user: dict[str, Any]) -> dict[str, Any]:
    return {
        "message_id": next(_ids),
        "date": int(time.time()),
        "chat": GROUP,
        "from": user,
        "photo": [
            {
                "file_id": file_id,
                "file_unique_id": file_id + "u",
                "width": 720,
                "height": 1100,
                "file_size": size,
            }
        ],
        "caption": caption,
        "caption_entities": [
            {"type": "bot_command", "offset": 0, "length": len(caption.split()[0])}
        ],
    }


def press(server: FakeTelegram, message: dict[str, Any], data: str, user: dict[str, Any]) -> None:
    server.push(
        {
            "callback_query": {
                "id": f"q{next(_ids)}",
                "from": user,
                "chat_instance": "ci",
                "data": data,
                "message": message,
            }
        }
    )


def say(server: FakeTelegram, text: str, user: dict[str, Any]) -> None:
    server.push({"message": text_message(text, message_id=next(_ids), user=user, chat=GROUP)})


async def next_message(server: FakeTelegram, seen: int, match: Callable[[Call], bool]) -> Call:
    """The first sendMessage after the first `seen` ones that `match` accepts."""
    while True:
        calls = await server.wait_for("sendMessage", seen + 1, timeout=20)
        for call in calls[seen:]:
            if match(call):
                return call
        seen = len(calls)


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def live(
    tmp_path: Path, server: FakeTelegram, shared_ocr: RapidOcrEngine
) -> AsyncIterator[App]:
    settings = Settings(
        data_dir=tmp_path / "data", telegram_token=server.token, telegram_base_url=server.url
    )
    async with App(settings) as app:
        app.memorial.ocr = shared_ocr
        adapter = TelegramAdapter(app, options=FAST)
        await adapter.start()
        try:
            yield app
        finally:
            await adapter.stop()
            await app.memorial.wait_for_ocr()


@pytest.mark.slow
async def test_wall_through_telegram(live: App, server: FakeTelegram) -> None:
    app = live
    server.admins[GROUP["id"]] = [MEI]
    shot = zh_screenshot(PHRASE)
    server.add_file("shot-1", shot)

    # Post: a photo whose caption is the command.
    server.push(
        {"message": photo_message("shot-1", len(shot), "/farewell 小满 2026-02-13 再见", MEI)}
    )
    (card,) = await server.wait_for("sendMessage", chat_id=GROUP["id"])
    assert "小满" in card.params["text"] and "#1" in card.params["text"]
    markup = card.params["reply_markup"]
    assert markup["inline_keyboard"][0][0]["callback_data"] == "candle:1"
    await server.wait_for("sendPhoto", chat_id=GROUP["id"])  # the cleaned screenshot
    await app.memorial.wait_for_ocr()

    # Candle: the card's text is edited to the new count; a second press changes nothing.
    press(server, card.result, "candle:1", BO)
    (edit,) = await server.wait_for("editMessageText")
    assert "#1 · 1" in edit.params["text"]
    press(server, card.result, "candle:1", BO)
    await server.wait_for("answerCallbackQuery", 2)
    assert len(server.calls_of("editMessageText")) == 1

    # Search by the words inside the screenshot.
    sent = len(server.calls_of("sendMessage"))
    say(server, f"/wall search {PHRASE}", BO)
    answer = await next_message(server, sent, lambda c: PHRASE in c.params["text"])
    assert "#1 · 小满" in answer.params["text"]

    # Export (personal: Telegram sends it by DM) carries the phrase in its gallery page.
    say(server, "/wall export", MEI)
    (doc,) = await server.wait_for("sendDocument", timeout=20)
    assert int(doc.params["chat_id"]) == MEI["id"]
    with zipfile.ZipFile(io.BytesIO(doc.files["document"])) as archive:
        page = next(n for n in archive.namelist() if n.endswith("index.html"))
        assert PHRASE in archive.read(page).decode()

    # Remove, confirmed through the inline yes button.
    sent = len(server.calls_of("sendMessage"))
    say(server, "/wall remove 1", MEI)
    # Other messages may come first (the "sent to you privately" note of the export above).
    ask = await next_message(server, sent, lambda c: bool(c.params.get("reply_markup")))
    yes = ask.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    press(server, ask.result, yes, MEI)
    for _ in range(200):
        if await app.memorial.repo.get(1) is None:
            break
        await asyncio.sleep(0.05)
    assert await app.memorial.repo.get(1) is None
    await server.idle()
    images = app.settings.data_dir / "images"
    assert not [p for p in images.rglob("*") if p.is_file()]


async def test_farewell_as_a_reply_to_an_album(live: App, server: FakeTelegram) -> None:
    app = live
    app.memorial.ocr = None  # this test is about the album reaching the wall
    shots = [zh_screenshot(f"第{i}张") for i in (1, 2)]
    album = []
    for i, shot in enumerate(shots, 1):
        server.add_file(f"album-{i}", shot)
        msg = photo_message(f"album-{i}", len(shot), "/x", MEI)
        del msg["caption"], msg["caption_entities"]  # album photos without a caption
        msg["media_group_id"] = "grp-1"
        album.append(msg)
        server.push({"message": msg})
    await server.idle()
    reply = text_message(
        "/farewell 阿月 2026-02-14 两张截图",
        message_id=next(_ids),
        user=MEI,
        chat=GROUP,
        reply_to_message=album[0],
    )
    server.push({"message": reply})
    (card,) = await server.wait_for("sendMessage", chat_id=GROUP["id"])
    assert "阿月" in card.params["text"]
    await server.wait_for("sendPhoto", 2, chat_id=GROUP["id"])
    post = await app.memorial.repo.get(1)
    assert post is not None and len(post.images) == 2
