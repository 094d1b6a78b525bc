"""C7: neither the bot token nor what people write appears in any log record, at any level."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.telegram import TelegramAdapter
from bot.core.errors import ConfigError
from tests.adapters.telegram.conftest import FAST, make_app
from tests.adapters.telegram.test_files import document_message, photo_message
from tests.fakes.telegram_server import FakeTelegram, text_message

# Shaped unlike a real token on purpose, so no redaction pattern can hide a leak from this test.
CANARY_TOKEN = "4242:canary-bot-token-3f9a"
CANARY_TEXT = "canary-words-7c1e"


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name}: {text}")


@pytest.fixture
def capture() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old_level)


async def test_token_and_text_never_logged(tmp_path: Path, capture: Capture) -> None:
    for name in ("httpx", "httpcore", "telegram"):
        logging.getLogger(name).setLevel(logging.NOTSET)  # as if nobody configured logging
    # aiosqlite echoes SQL parameters at DEBUG; setup_logging keeps it at WARNING (not ours).
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    server = FakeTelegram(CANARY_TOKEN)
    await server.start()
    app = await make_app(tmp_path, server)
    tg = TelegramAdapter(app, options=FAST)
    try:
        await tg.start()
        server.add_file("p1", b"x" * 50)
        server.fail_next("sendMessage", retry_after=1, times=2)
        server.push({"message": text_message(f"/echo {CANARY_TEXT}", message_id=1)})
        server.push({"message": text_message(f"{CANARY_TEXT} in a chat", message_id=2)})
        server.push({"message": photo_message(3, "p1", 50, caption=f"/upload {CANARY_TEXT}")})
        server.push({"message": document_message(4, "nope", 30_000_000, "/upload")})
        server.push({"message": document_message(5, "missing", 10, "/upload")})  # getFile fails
        await server.wait_for("sendMessage", 5, timeout=10)
        await server.idle()
    finally:
        await tg.stop()
        await app.db.close()
        await server.stop()
    joined = "\n".join(capture.lines)
    assert capture.lines, "nothing was logged at all; the capture is broken"
    assert "flood control" in joined  # the run did go through the logged paths
    assert CANARY_TOKEN not in joined
    assert CANARY_TOKEN.split(":")[1] not in joined
    assert CANARY_TEXT not in joined
    assert "conversations.zip" not in joined  # file names stay out too
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING


async def test_rejected_token_is_reported_without_quoting_it(tmp_path: Path) -> None:
    server = FakeTelegram()
    await server.start()
    app = await make_app(tmp_path, server)
    wrong = "999:wrong-canary-token"
    app.settings = dataclasses.replace(app.settings, telegram_token=wrong)
    tg = TelegramAdapter(app, options=FAST)
    try:
        with pytest.raises(ConfigError) as caught:
            await tg.start()
        assert "TELEGRAM_TOKEN" in str(caught.value)
        assert wrong not in str(caught.value) and caught.value.__cause__ is None
        assert tg.application is None  # cleaned up after the failed start
    finally:
        await tg.stop()
        await app.db.close()
        await server.stop()
