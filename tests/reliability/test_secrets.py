"""Secrets never reach logs or prompts: canary tokens through a whole console conversation."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.console import ConsoleSession
from bot.app import App
from bot.logging_setup import RedactingFilter, setup_logging
from bot.services.delivery import ReplierDeliverer
from bot.services.i18n import I18n
from bot.settings import Settings
from tests.fakes.openai_server import FakeOpenAI, Status

# Shaped like the real thing, and one shaped like nothing (only the known-secret list catches it).
TG_CANARY = "7612345678:AAHcanaryCanaryCanaryCanaryCanary12"
DC_CANARY = "MTAxMjM0NTY3ODkwMTIzNDU2.GcAnAr.yCanaryCanaryCanaryCanaryCanary1"
KEY_CANARY = "canary-model-key-5f0c1d2e3a4b"
CANARIES = (TG_CANARY, DC_CANARY, KEY_CANARY)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every log record at DEBUG, through the project's redaction filter."""
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    old_level = root.level
    root.addHandler(handler)
    redactor = setup_logging("DEBUG", secrets=CANARIES)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for h in root.handlers:
            h.removeFilter(redactor)
        root.setLevel(old_level)


async def test_canaries_never_logged_nor_sent_in_prompts(
    tmp_path: Path, captured: io.StringIO, i18n: I18n
) -> None:
    async with FakeOpenAI(reply="here with you") as server:
        server.script(Status(500))  # a failure path logs too
        env = {
            "AFTERGLOW_DATA_DIR": str(tmp_path / "data"),
            "AFTERGLOW_LLM_BASE_URL": server.base_url,
            "AFTERGLOW_LLM_MODEL": "fake-model",
            "AFTERGLOW_LLM_API_KEY": KEY_CANARY,
            "DISCORD_TOKEN": DC_CANARY,
            "TELEGRAM_TOKEN_FILE": str(tmp_path / "tg-token"),
        }
        (tmp_path / "tg-token").write_text(TG_CANARY + "\n", encoding="utf-8")
        settings = Settings.load(env)
        assert settings.telegram_token == TG_CANARY  # read from the *_FILE
        lines = iter(["hello there", "/help", "do you remember me?", "/history", None])

        async def read_line() -> str | None:
            return next(lines)

        out = io.StringIO()
        async with App(settings, i18n=i18n) as app:
            session = ConsoleSession(
                app.router, app.i18n, user="gu", locale="en", out=out, read_line=read_line
            )
            app.durable.register_deliverer(
                "console", ReplierDeliverer(session.replier, [session.chat.id])
            )
            assert await app.run(main=session.run()) == 0
            # Code that carelessly logs a secret, or an exception carrying one, is still masked.
            log = logging.getLogger("bot.test")
            log.warning("connecting with %s", KEY_CANARY)
            try:
                raise RuntimeError(f"https://api.telegram.org/bot{TG_CANARY}/getMe failed")
            except RuntimeError:
                log.exception("adapter failed")

        assert "here with you" in out.getvalue()
        logs = captured.getvalue()
        assert "adapter failed" in logs and "connecting with ***" in logs
        assert len(logs.splitlines()) > 5  # the conversation did log (ids, sizes, states)
        for canary in CANARIES:
            assert canary not in logs
            assert canary not in out.getvalue()
        # The model key was used as a header, but no token reached any prompt.
        assert server.headers[-1]["Authorization"] == f"Bearer {KEY_CANARY}"
        bodies = repr(server.requests)
        for canary in CANARIES:
            assert canary not in bodies


def test_redactor_masks_secret_shaped_strings_it_was_not_told() -> None:
    redactor = RedactingFilter()
    text = f"tg {TG_CANARY} key sk-{'a' * 24} auth Bearer abc.def-123456"
    clean = redactor.redact(text)
    assert TG_CANARY not in clean and "sk-aaaa" not in clean and "abc.def" not in clean


def test_every_configured_key_is_a_known_secret() -> None:
    from bot.cli import known_secrets

    provider_key = "provider-canary-key-0a1b2c3d"
    settings = Settings.load(
        {
            "AFTERGLOW_DATA_DIR": "/nonexistent",
            "DEEPSEEK_KEY": provider_key,
            "TELEGRAM_TOKEN": TG_CANARY,
        }
    )
    settings = Settings(
        data_dir=settings.data_dir,
        telegram_token=settings.telegram_token,
        env=settings.env,
        sections={
            "llm": {
                "providers": [
                    {
                        "name": "deepseek",
                        "base_url": "https://api.deepseek.example/v1",
                        "api_key_env": "DEEPSEEK_KEY",
                        "models": [{"id": "deepseek-chat", "context_window": 65536}],
                    }
                ]
            }
        },
    )
    assert set(known_secrets(settings)) == {TG_CANARY, provider_key}
