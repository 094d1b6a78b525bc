"""`App.run` with a platform adapter: stop intake, grace period, pending turns, bounded exit."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

import bot.app as app_module
from bot.services.i18n import I18n
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.replier import FakeReplier
from tests.reliability.conftest import dm, make_settings, open_app


class PretendAdapter:
    """Delivers two messages when started: one quick to answer, one that streams for minutes."""

    name = "pretend"

    def __init__(self, router_app: app_module.App) -> None:
        self.app = router_app
        self.tasks: list[asyncio.Task[None]] = []
        self.replier = FakeReplier()
        self.stopped_at: float | None = None

    async def start(self) -> None:
        for key in ("quick", "slow"):
            msg = dm("lee", key, key=key)
            self.tasks.append(
                asyncio.create_task(self.app.router.handle_message(msg, self.replier))
            )

    async def stop(self) -> None:
        self.stopped_at = time.monotonic()


async def test_run_drains_then_stops_adapters_and_jobs(
    data_dir: Path, fake_llm: FakeOpenAI, i18n: I18n, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "SHUTDOWN_GRACE", 1.0)
    fake_llm.script(Reply(text="quick answer"), Reply(text="x" * 400, delay=0.5))
    app = await open_app(make_settings(data_dir, fake_llm), i18n)
    adapter = PretendAdapter(app)
    monkeypatch.setattr(app, "adapters", lambda: [adapter])
    job_saw_stop = asyncio.Event()

    async def job(stop: asyncio.Event) -> None:
        await stop.wait()
        job_saw_stop.set()

    app.jobs.append(job)
    stop = asyncio.Event()
    try:
        runner = asyncio.create_task(app.run(stop))
        for _ in range(200):  # until the slow reply is streaming
            if len(adapter.replier.sent) >= 2:
                break
            await asyncio.sleep(0.02)
        signalled = time.monotonic()
        stop.set()
        assert await asyncio.wait_for(runner, timeout=5) == 0
        took = time.monotonic() - signalled
        assert 1.0 <= took < 5.0  # the grace period, then a bounded stop
        assert adapter.stopped_at is not None and adapter.stopped_at - signalled >= 1.0
        assert job_saw_stop.is_set()
        assert await app.turns.status("console", "quick") == "answered"
        assert await app.turns.status("console", "slow") == "pending"
        assert all(t.done() for t in adapter.tasks)
    finally:
        await app.close()
