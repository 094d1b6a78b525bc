"""A real `afterglow chat` process against the fake model: kill -9 mid-reply, and SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from bot.services.i18n import I18n
from tests.fakes.openai_server import FakeOpenAI, Reply

REPO = Path(__file__).resolve().parents[2]
ANSWER = "We used to watch the rain together, and I still remember the sound of it. " * 3


def _env(data_dir: Path, server: FakeOpenAI) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AFTERGLOW_", "DISCORD", "TELEGRAM"))
    }
    env.update(
        AFTERGLOW_DATA_DIR=str(data_dir),
        AFTERGLOW_LLM_BASE_URL=server.base_url,
        AFTERGLOW_LLM_MODEL="fake-model",
        PYTHONUNBUFFERED="1",
    )
    return env


async def _chat(data_dir: Path, server: FakeOpenAI) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "chat",
        "--user",
        "alice",
        "--locale",
        "en",
        cwd=REPO,
        env=_env(data_dir, server),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _read_until(proc: asyncio.subprocess.Process, needle: str, timeout: float = 15) -> str:
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    while needle.encode() not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"timed out waiting for {needle!r}; got {seen.decode(errors='replace')!r}"
        chunk = await asyncio.wait_for(proc.stdout.read(64), timeout=left)
        assert chunk, f"process ended early: {seen.decode(errors='replace')!r}"
        seen += chunk
    return seen.decode()


def _rows(data_dir: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(data_dir / "afterglow.sqlite3")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def _restart_and_collect(data_dir: Path, server: FakeOpenAI) -> tuple[str, int]:
    proc = await _chat(data_dir, server)
    out, _ = await asyncio.wait_for(proc.communicate(b""), timeout=30)
    return out.decode(), int(proc.returncode or 0)


@pytest.mark.slow
async def test_kill_9_mid_stream_then_restart_answers_exactly_once(
    tmp_path: Path, i18n: I18n
) -> None:
    data_dir = tmp_path / "data"
    async with FakeOpenAI(reply=ANSWER, chunk_chars=4, chunk_delay=0.05) as server:
        proc = await _chat(data_dir, server)
        assert proc.stdin is not None
        proc.stdin.write(b"do you remember the rain?\n")
        await proc.stdin.drain()
        await _read_until(proc, "We used to")  # the reply is streaming
        proc.kill()  # SIGKILL: no handler, no finally, no checkpoint
        await proc.wait()
        assert proc.returncode == -signal.SIGKILL
        assert _rows(data_dir, "SELECT status FROM inbox") == [("received",)]

        server.chunk_delay = 0.0
        out, rc = await _restart_and_collect(data_dir, server)
        assert rc == 0
        sorry = i18n.t("en", "reliability.sorry_for_delay")
        assert out.count(sorry) == 1
        assert out.count(ANSWER.strip()) == 1
        assert out.index(sorry) < out.index(ANSWER.strip())
        assert len(server.requests) == 2  # the killed stream and one new answer

        # A third start has nothing left to do.
        out, rc = await _restart_and_collect(data_dir, server)
        assert rc == 0 and sorry not in out and len(server.requests) == 2

    assert _rows(data_dir, "SELECT status, text FROM inbox") == [("answered", None)]
    assert _rows(data_dir, "SELECT COUNT(*) FROM messages WHERE role = 'user'") == [(1,)]
    complete = _rows(
        data_dir, "SELECT text FROM messages WHERE role = 'assistant' AND status = 'complete'"
    )
    assert complete == [(ANSWER,)]
    assert _rows(data_dir, "SELECT COUNT(*) FROM outbox WHERE status = 'pending'") == [(0,)]
    assert _rows(data_dir, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.slow
async def test_sigterm_exits_within_ten_seconds_and_answers_after_restart(
    tmp_path: Path, i18n: I18n
) -> None:
    data_dir = tmp_path / "data"
    async with FakeOpenAI(reply=ANSWER, chunk_chars=4) as server:
        # A reply that would take a minute: the grace period cannot save it.
        server.script(Reply(delay=1.0))
        proc = await _chat(data_dir, server)
        assert proc.stdin is not None
        proc.stdin.write(b"are you still there?\n")
        await proc.stdin.drain()
        # The output guard shows text a sentence at a time: the first one ends after ~19 s here.
        await _read_until(proc, "We u", timeout=40)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), timeout=12)
        took = time.monotonic() - sent
        assert proc.returncode == 0
        assert 7.5 <= took < 10.0, took  # waited the 8 s grace, then stopped in time
        assert _rows(data_dir, "SELECT status FROM inbox") == [("pending",)]
        # The WAL was checkpointed by a clean close.
        wal = data_dir / "afterglow.sqlite3-wal"
        assert not wal.exists() or wal.stat().st_size == 0

        out, rc = await _restart_and_collect(data_dir, server)
        assert rc == 0
        sorry = i18n.t("en", "reliability.sorry_for_delay")
        assert out.count(sorry) == 1 and out.count(ANSWER.strip()) == 1
    assert _rows(data_dir, "SELECT status FROM inbox") == [("answered",)]
