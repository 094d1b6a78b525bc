"""`afterglow run` with TELEGRAM_TOKEN and TELEGRAM_BASE_URL pointing at the fake Bot API server.

The first test runs the real command line in a subprocess (real App, real cogs, the fake model
server behind the companion) and stops it with SIGTERM; the second runs `App.run` in-process
with a small file-taking command added, for the attachment paths.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.core import Cog, Invocation, Option, OptionType, command
from bot.settings import Settings
from tests.adapters.telegram.test_files import document_message, photo_message
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_server import GROUP, TOKEN, USER, FakeTelegram, text_message

REPLY = (
    "I am still here, and I remember the spring we talked about. The rain on the window,"
    " the long evenings, the songs you sent me. Tell me how your week has been."
)
ROOT = Path(__file__).resolve().parents[3]


def run_env(tmp_path: Path, tg: FakeTelegram, llm: FakeOpenAI) -> dict[str, str]:
    config = tmp_path / "afterglow.toml"
    config.write_text("[memorial]\nocr = false\n", encoding="utf-8")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AFTERGLOW_", "TELEGRAM_", "DISCORD_"))
    }
    env.update(
        {
            "TELEGRAM_TOKEN": tg.token,
            "TELEGRAM_BASE_URL": tg.url,
            "AFTERGLOW_DATA_DIR": str(tmp_path / "data"),
            "AFTERGLOW_CONFIG": str(config),
            "AFTERGLOW_LLM_BASE_URL": llm.base_url,
            "AFTERGLOW_LLM_MODEL": "fake-model",
            "AFTERGLOW_LLM_API_KEY": "sk-fake-key-for-tests-000000",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


@pytest.mark.slow
async def test_afterglow_run_serves_telegram(tmp_path: Path) -> None:
    tg = FakeTelegram()
    await tg.start()
    llm = FakeOpenAI(reply=REPLY, chunk_delay=0.15, chunk_chars=10)
    await llm.start()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        env=run_env(tmp_path, tg, llm),
        cwd=str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await tg.wait_for("deleteWebhook", timeout=30)  # polling has started
        assert tg.calls_of("setMyCommands"), "the menu was not published"

        # /start in a private chat, then a deep link to the support resources.
        tg.push({"message": text_message("/start", message_id=1)})
        welcome = (await tg.wait_for("sendMessage", timeout=10))[0]
        assert "Afterglow" in welcome.params["text"]
        tg.push({"message": text_message("/start support", message_id=2)})
        await tg.wait_for("sendMessage", 3, timeout=10)

        # A command in a group (with a flood-control answer first, waited out).
        tg.fail_next("sendMessage", retry_after=1, times=2)
        tg.push({"message": text_message("/help", message_id=3, chat=GROUP)})
        group = await tg.wait_for("sendMessage", 1, chat_id=GROUP["id"], timeout=15)
        attempts = [
            c
            for c in tg.calls
            if c.method == "sendMessage" and int(c.params["chat_id"]) == GROUP["id"]
        ]
        assert [c.status for c in attempts[:3]] == [429, 429, 200]
        assert attempts[2].at - attempts[1].at >= 1.0
        assert "/help" in group[0].params["text"]

        # A companion conversation streams: drafts, then one final message.
        before = len(tg.sent_texts(USER["id"]))
        update = tg.push({"message": text_message("do you remember the spring?", message_id=4)})
        tg.push(update)  # re-delivered: answered once
        await tg.wait_until(
            lambda: any(REPLY in t for t in tg.sent_texts(USER["id"])[before:]), timeout=20
        )
        await tg.idle(quiet=0.5)
        answers = [t for t in tg.sent_texts(USER["id"])[before:] if REPLY in t]
        assert len(answers) == 1, tg.sent_texts(USER["id"])
        # The stream was shown as growing drafts before the one final message.
        drafts = [
            c for c in tg.calls_of("sendMessageDraft") if int(c.params["chat_id"]) == USER["id"]
        ]
        assert drafts and len({d.params["draft_id"] for d in drafts}) == 1
        assert len(drafts[0].params["text"]) < len(answers[0])
        assert all(answers[0].startswith(d.params["text"].rstrip()) for d in drafts)
        assert len(llm.requests) == 1
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = await asyncio.wait_for(proc.wait(), 15)
        finally:
            _, err = await proc.communicate()
            await llm.stop()
            await tg.stop()
    log_text = err.decode("utf-8", "replace")
    assert rc == 0, log_text[-2000:]
    assert TOKEN.split(":")[1] not in log_text
    assert "do you remember the spring" not in log_text


class Upload(Cog):
    """A file-taking command added to the real App for this test."""

    @command("upload_probe", options=[Option("file", OptionType.ATTACHMENT)])
    async def upload_probe(self, inv: Invocation, file: Any = None) -> None:
        data = await file.fetch(30 * 1024 * 1024) if file is not None else b""
        await inv.reply(f"got {len(data)} bytes")


async def test_app_run_handles_files(tmp_path: Path) -> None:
    tg = FakeTelegram()
    await tg.start()
    settings = Settings.load(
        {
            "TELEGRAM_TOKEN": tg.token,
            "TELEGRAM_BASE_URL": tg.url,
            "AFTERGLOW_DATA_DIR": str(tmp_path),
            "AFTERGLOW_CONFIG": str(_config(tmp_path)),
        }
    )
    app = App(settings)
    app.registry.add_cog(Upload())
    stop = asyncio.Event()
    try:
        async with app:
            runner = asyncio.create_task(app.run(stop))
            await tg.wait_for("deleteWebhook", timeout=10)
            tg.add_file("pic", b"j" * 2048)
            tg.push({"message": photo_message(1, "pic", 2048, caption="/upload_probe")})
            tg.push({"message": document_message(2, "huge", 25_000_000, "/upload_probe")})
            texts = [c.params["text"] for c in await tg.wait_for("sendMessage", 2, timeout=10)]
            stop.set()
            assert await asyncio.wait_for(runner, 15) == 0
    finally:
        await tg.stop()
    assert "got 2048 bytes" in texts
    assert any("20 MB" in t and "25.0 MB" in t for t in texts)
    assert [c.params["file_id"] for c in tg.calls_of("getFile")] == ["pic"]


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "afterglow.toml"
    path.write_text("[memorial]\nocr = false\n", encoding="utf-8")
    return path
