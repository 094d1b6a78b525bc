"""Done-when checks for companion chats: real `afterglow` processes against the fake OpenAI server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAI, Status

REPO = Path(__file__).resolve().parents[1]


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AFTERGLOW_", "DISCORD_", "TELEGRAM_"))
    }
    env.update({"AFTERGLOW_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}, **extra)
    return env


async def afterglow(
    env: dict[str, str], *args: str, stdin: str = "", timeout: float = 30
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=REPO,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout)
    return int(proc.returncode or 0), out.decode(), err.decode()


def rows(data_dir: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(data_dir / "afterglow.sqlite3") as conn:
        return list(conn.execute(sql))


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(reply="I'm here, and I remember.", chunk_delay=0.005) as s:
        yield s


@pytest.mark.slow
async def test_chat_streams_and_a_second_run_continues(server: FakeOpenAI, tmp_path: Path) -> None:
    env = env_for(
        tmp_path, AFTERGLOW_LLM_BASE_URL=server.base_url, AFTERGLOW_LLM_MODEL="fake-model"
    )
    code, out, err = await afterglow(
        env, "chat", "--user", "mei", stdin="my dog is called Biscuit\n"
    )
    assert code == 0, err
    assert "I'm here, and I remember." in out
    code, out, err = await afterglow(env, "chat", "--user", "mei", stdin="what is my dog called?\n")
    assert code == 0, err
    second = server.requests[-1]["messages"]
    assert {"role": "user", "content": "my dog is called Biscuit"} in second
    assert {"role": "assistant", "content": "I'm here, and I remember."} in second
    assert second[-1] == {"role": "user", "content": "what is my dog called?"}

    # The dry run shows the same context and calls no model.
    before = len(server.requests)
    code, out, err = await afterglow(env, "context", "--user", "mei", "--json", "and my cat?")
    assert code == 0, err
    report = json.loads(out)
    assert len(server.requests) == before
    assert report["messages"][-1] == {"role": "user", "content": "and my cat?"}
    assert {"role": "user", "content": "what is my dog called?"} in report["messages"]
    assert report["parts"][0]["kind"] == "system"
    assert (
        report["estimated_tokens"]
        == 3 + sum(p["tokens"] for p in report["parts"])
        <= report["budget"]
    )


@pytest.mark.slow
async def test_console_prints_tokens_as_they_arrive(tmp_path: Path) -> None:
    # Sentence-shaped: the care output guard releases model text a sentence at a time.
    reply = "".join(f"w{i:02d}. " for i in range(30))
    # Several seconds of stream, so a busy machine stalling the child still sees it spread out.
    async with FakeOpenAI(reply=reply, chunk_chars=4, chunk_delay=0.12) as slow:
        env = env_for(tmp_path, AFTERGLOW_LLM_BASE_URL=slow.base_url, AFTERGLOW_LLM_MODEL="m")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "chat",
            "--user",
            "li",
            env=env,
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdin and proc.stdout
        proc.stdin.write(b"hello\n")
        await proc.stdin.drain()
        seen = ""
        first_at = full_at = 0.0
        while "w29" not in seen:
            chunk = await asyncio.wait_for(proc.stdout.read(64), 20)
            assert chunk, "process ended early"
            seen += chunk.decode()
            if "w00" in seen and not first_at:
                first_at = time.monotonic()
        full_at = time.monotonic()
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), 20)
    assert full_at - first_at > 0.8  # 30 chunks at 50 ms: the start was printed long before the end


@pytest.mark.slow
async def test_kill_mid_stream_loses_nothing_and_marks_partial(tmp_path: Path) -> None:
    reply = "".join(f"part{i:02d}. " for i in range(80))
    # ~11 s of stream: a busy machine stalling the child cannot let the reply finish first.
    async with FakeOpenAI(reply=reply, chunk_chars=7, chunk_delay=0.12) as slow:
        env = env_for(tmp_path, AFTERGLOW_LLM_BASE_URL=slow.base_url, AFTERGLOW_LLM_MODEL="m")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "chat",
            "--user",
            "ana",
            env=env,
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdin and proc.stdout
        proc.stdin.write("I never told you about the lake 湖边\n".encode())
        await proc.stdin.drain()
        seen = ""
        while "part40" not in seen:  # ~2 s of streaming: past the 1.5 s flush interval
            chunk = await asyncio.wait_for(proc.stdout.read(64), 20)
            assert chunk, "process ended early"
            seen += chunk.decode()
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

        stored = rows(tmp_path, "SELECT role, text, status FROM messages ORDER BY id")
        assert stored[0] == ("user", "I never told you about the lake 湖边", "pending")
        assert stored[1][0] == "assistant" and stored[1][2] == "streaming"
        assert reply.startswith(str(stored[1][1])) and "part10" in str(stored[1][1])

        slow.chunk_delay = 0.0
        code, out, err = await afterglow(env, "chat", "--user", "ana", stdin="/history\n")
        assert code == 0, err
    statuses = rows(tmp_path, "SELECT role, status FROM messages ORDER BY id")
    assert ("assistant", "partial") in statuses  # the interrupted reply is marked, not lost
    assert rows(tmp_path, "SELECT count(*) FROM messages WHERE role = 'user'") == [(1,)]
    assert "(interrupted)" in out


@pytest.mark.slow
async def test_fallback_marker_and_all_down_message(tmp_path: Path) -> None:
    async with FakeOpenAI(reply="main") as main, FakeOpenAI(reply="Backup voice.") as spare:
        config = tmp_path / "afterglow.toml"
        config.write_text(
            f"""
[llm]
default_model = "big"
fallback = ["small"]
max_attempts = 2

[[llm.providers]]
name = "main"
base_url = "{main.base_url}"
api_key_env = "MAIN_KEY"
[[llm.providers.models]]
id = "big"
context_window = 32000

[[llm.providers]]
name = "spare"
base_url = "{spare.base_url}"
[[llm.providers.models]]
id = "small"
context_window = 16000
""",
            encoding="utf-8",
        )
        env = env_for(tmp_path / "data", AFTERGLOW_CONFIG=str(config), MAIN_KEY="sk-main-1")
        main.always(Status(500))
        code, out, err = await afterglow(env, "chat", "--user", "kai", stdin="are you there?\n")
        assert code == 0, err
        assert "Backup voice.\n(backup model: small)" in out
        assert main.headers[0]["Authorization"] == "Bearer sk-main-1"
        assert len(main.requests) == 2 and len(spare.requests) == 1

        spare.always(Status(503))
        code, out, err = await afterglow(
            env, "chat", "--user", "kai", "--locale", "zh", stdin="还在吗？\n"
        )
        assert code == 0, err
        assert "你的消息已经保存" in out
    pending = rows(tmp_path / "data", "SELECT text FROM messages WHERE status = 'pending'")
    assert pending == [("还在吗？",)]  # kept, to be answered when a model is back
