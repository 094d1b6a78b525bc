"""Updates are on disk before the Telegram offset moves, and each is answered exactly once."""

from __future__ import annotations

import asyncio
import json

from telegram import Update
from telegram.ext import ContextTypes, TypeHandler

from bot.adapters.telegram import TelegramAdapter
from bot.adapters.telegram.inbox import fetched_updates
from bot.services.storage.outbox import ReliabilityPersonalData
from tests.adapters.telegram.conftest import FAST, MiniApp
from tests.fakes.telegram_server import USER, FakeTelegram, text_message


async def _row(mini: MiniApp, update_id: int) -> tuple[str, str | None] | None:
    row = await mini.db.fetchone(
        "SELECT status, raw FROM inbox WHERE platform = 'telegram' AND key = ?",
        (f"u{update_id}",),
    )
    return (str(row[0]), row[1]) if row else None


def _batch(*updates: dict[str, object]) -> bytes:
    return json.dumps({"ok": True, "result": list(updates)}).encode()


async def test_batch_is_recorded_before_any_handler_and_before_the_offset_moves(
    server: FakeTelegram, mini: MiniApp, adapter: TelegramAdapter
) -> None:
    seen: dict[int, tuple[str, str | None] | None] = {}
    release = asyncio.Event()

    async def first_in_line(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen[update.update_id] = await _row(mini, update.update_id)
        await release.wait()

    assert adapter.application is not None
    adapter.application.add_handler(TypeHandler(Update, first_in_line), group=-2)
    one = server.push({"message": text_message("/echo one", message_id=1)})
    two = server.push({"message": text_message("/echo two", message_id=2)})
    try:
        await _while_blocked(server, seen, one, two)
    finally:
        release.set()  # a failed check must not leave handlers blocking shutdown
    await server.wait_for("sendMessage", 2)
    assert sorted(server.sent_texts()) == ["echo: one", "echo: two"]
    # Handled: the raw copy (the message text) is gone, the key stays for dedupe.
    assert await _row(mini, one["update_id"]) == ("handled", None)
    assert await _row(mini, two["update_id"]) == ("handled", None)


async def _while_blocked(
    server: FakeTelegram,
    seen: dict[int, tuple[str, str | None] | None],
    one: dict[str, object],
    two: dict[str, object],
) -> None:
    ids = {one["update_id"], two["update_id"]}
    await server.wait_until(lambda: len(seen) == 2)
    # Both handlers are blocked, yet PTB already confirmed the batch: its next getUpdates carried
    # an offset past these ids, so the fake server (like Telegram) forgot them.
    await server.wait_until(
        lambda: all(u["update_id"] not in ids for u, _ in server._queue), timeout=5
    )
    for update in (one, two):
        status, raw = seen[update["update_id"]] or ("", None)
        assert status == "received"
        assert raw is not None and json.loads(raw)["message"]["text"] == update["message"]["text"]
    assert server.sent_texts() == []


async def test_updates_fetched_before_a_crash_are_replayed_once(
    server: FakeTelegram, mini: MiniApp
) -> None:
    lost = {"update_id": 900, "message": text_message("/echo lost", message_id=7)}
    redelivered = {"update_id": 901, "message": text_message("/echo again", message_id=8)}
    # The previous process fetched and recorded these, then was killed before any handler ran.
    assert await mini.users.record_fetched("telegram", fetched_updates(_batch(lost, redelivered)))
    # Its next getUpdates never went out, so Telegram hands one of them out again.
    server.push(redelivered)
    tg = TelegramAdapter(mini, options=FAST)
    await tg.start()
    try:
        await server.wait_for("sendMessage", 2)
        await server.idle(quiet=0.5)
        assert sorted(server.sent_texts()) == ["echo: again", "echo: lost"]
        assert await mini.users.unclaimed_inbound("telegram") == []
    finally:
        await tg.stop()
    again = TelegramAdapter(mini, options=FAST)
    await again.start()
    try:
        await server.idle(quiet=0.5)
        assert len(server.sent_texts()) == 2  # a second restart replays nothing
    finally:
        await again.stop()
    assert await _row(mini, 900) == ("handled", None)


async def test_duplicate_delivery_is_answered_once(
    server: FakeTelegram, mini: MiniApp, adapter: TelegramAdapter
) -> None:
    update = server.push({"message": text_message("/echo twice", message_id=3)})
    await server.wait_for("sendMessage")
    server.push(update)
    server.push({"message": text_message("/echo next", message_id=4)})
    await server.wait_for("sendMessage", 2)
    await server.idle(quiet=0.3)
    assert server.sent_texts() == ["echo: twice", "echo: next"]
    assert await _row(mini, update["update_id"]) == ("handled", None)


async def test_forget_all_wipes_an_unhandled_raw_update(mini: MiniApp) -> None:
    update = {"update_id": 950, "message": text_message("a private thought", message_id=9)}
    other = {
        "update_id": 951,
        "message": text_message("hi", message_id=1, user={**USER, "id": 77}),
    }
    await mini.users.record_fetched("telegram", fetched_updates(_batch(update, other)))
    person = await mini.users.resolve("telegram", str(USER["id"]))
    async with mini.db.write() as conn:
        await ReliabilityPersonalData().delete_person(conn, person)
    assert await _row(mini, 950) == ("ignored", None)
    # Someone else's update is untouched and still replays.
    assert [key for key, _ in await mini.users.unclaimed_inbound("telegram")] == ["u951"]


def test_malformed_responses_record_nothing() -> None:
    assert fetched_updates(b"not json") == []
    assert fetched_updates(b'{"ok": false, "description": "x"}') == []
    assert fetched_updates(_batch({"no_id": 1}, {"update_id": 5, "poll": {"id": "p"}})) == [
        ("u5", "", '{"update_id":5,"poll":{"id":"p"}}')
    ]
