"""`afterglow context` in-process: the exact request, a token estimate per part, no side effects."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.cli_context import build_report
from bot.settings import Settings
from tests.fakes.openai_server import FakeOpenAI


async def test_unknown_person_gets_default_context_and_nothing_is_stored(tmp_path: Path) -> None:
    async with FakeOpenAI() as server:
        settings = Settings.load(
            {
                "AFTERGLOW_DATA_DIR": str(tmp_path),
                "AFTERGLOW_LLM_BASE_URL": server.base_url,
                "AFTERGLOW_LLM_MODEL": "m",
            }
        )
        report = await build_report(settings, "stranger", "你好，还记得我吗？", "zh")
    assert report is not None and server.requests == []
    assert report["locale"] == "zh_Hans" and report["model"] == "env/m"
    assert [p["kind"] for p in report["parts"]] == ["system", "message"]
    assert "你是 陪伴者" in report["messages"][0]["content"]
    assert (
        report["parts"][1]["tokens"] == 4 + 9
    )  # framing + 9 CJK characters (one full-width comma)
    with sqlite3.connect(tmp_path / "afterglow.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)


async def test_no_model_configured_returns_none(tmp_path: Path) -> None:
    assert (
        await build_report(Settings.load({"AFTERGLOW_DATA_DIR": str(tmp_path)}), "x", "hi", None)
        is None
    )
