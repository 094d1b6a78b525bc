"""The model client against the fake OpenAI server over real loopback HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from bot.core.errors import ConfigError
from bot.services.breaker import BreakerState, CircuitBreaker
from bot.services.llm import (
    Finished,
    LLMClient,
    Started,
    StreamEvent,
    TextDelta,
    parse_retry_after,
)
from bot.services.llm_config import LLMConfig, ModelConfig, ProviderConfig
from bot.services.llm_errors import (
    AllProvidersFailed,
    LLMBadResponse,
    LLMStreamBroken,
    LLMTimeout,
    LLMUnavailable,
)
from tests.fakes.openai_server import Cut, FakeOpenAI, Hang, Reply, Status

MSGS = [{"role": "system", "content": "be kind"}, {"role": "user", "content": "hi"}]


class FakeTime:
    """A clock that only moves when the client sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


Maker = Callable[..., LLMClient]


@pytest.fixture
async def make() -> AsyncIterator[Maker]:
    """Builds clients and closes their connection pools after the test."""
    made: list[LLMClient] = []

    def factory(*args: Any, **kwargs: Any) -> LLMClient:
        made.append(LLMClient(*args, **kwargs))
        return made[-1]

    yield factory
    for client in made:
        await client.aclose()


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(reply="Hello, 你好 friend.", chunk_chars=5) as s:
        yield s


@pytest.fixture
async def backup() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(reply="Backup here.") as s:
        yield s


def two_providers(main: FakeOpenAI, other: FakeOpenAI, **kw: float) -> LLMConfig:
    return LLMConfig(
        providers=(
            ProviderConfig("main", main.base_url, "sk-main", (ModelConfig("big", "main", 32000),)),
            ProviderConfig("spare", other.base_url, None, (ModelConfig("small", "spare", 16000),)),
        ),
        default_model="big",
        fallback_order=("small",),
        **kw,  # type: ignore[arg-type]
    )


async def collect(client: LLMClient, **kw: object) -> list[StreamEvent]:
    return [ev async for ev in client.stream(MSGS, **kw)]  # type: ignore[arg-type]


async def test_stream_yields_started_text_and_finished_with_usage(
    server: FakeOpenAI, make: Maker
) -> None:
    client = make(LLMConfig.single(server.base_url, "m1", "sk-test"))
    events = await collect(client)
    await client.aclose()

    assert isinstance(events[0], Started) and events[0].model == "m1" and not events[0].fallback
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1  # really streamed in pieces
    assert "".join(deltas) == "Hello, 你好 friend."
    end = events[-1]
    assert isinstance(end, Finished)
    assert end.text == "Hello, 你好 friend." and end.finish_reason == "stop" and end.attempts == 1
    assert end.usage is not None and end.usage.completion_tokens == len(deltas)
    body = server.requests[0]
    assert body["model"] == "m1" and body["messages"] == MSGS and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert server.headers[0]["Authorization"] == "Bearer sk-test"


async def test_complete_returns_text_and_usage(server: FakeOpenAI, make: Maker) -> None:
    client = make(LLMConfig.single(server.base_url, "m1"))
    result = await client.complete(MSGS, temperature=0.3)
    await client.aclose()
    assert result.text == "Hello, 你好 friend." and result.model == "m1" and not result.fallback
    assert result.usage is not None and result.usage.prompt_tokens > 0
    assert server.requests[0]["temperature"] == 0.3 and "stream" not in server.requests[0]
    assert "Authorization" not in server.headers[0]


async def test_429_waits_at_least_retry_after_then_succeeds(
    server: FakeOpenAI, make: Maker
) -> None:
    t = FakeTime()
    server.script(Status(429, retry_after="2"))
    client = make(
        LLMConfig.single(server.base_url, "m1"), clock=t.clock, sleep=t.sleep, rand=lambda: 0.0
    )
    events = await collect(client)
    assert isinstance(events[-1], Finished) and events[-1].attempts == 2
    assert t.sleeps == [2.0]  # jitter drew 0, so exactly the server's hint
    assert len(server.requests) == 2


async def test_400_is_not_retried_nor_sent_to_fallback(
    server: FakeOpenAI, backup: FakeOpenAI, make: Maker
) -> None:
    server.script(Status(400, body='{"error": {"message": "context too long"}}'))
    client = make(two_providers(server, backup), sleep=FakeTime().sleep)
    with pytest.raises(LLMBadResponse) as info:
        await collect(client)
    assert info.value.status == 400
    assert len(server.requests) == 1 and backup.requests == []


async def test_attempts_never_exceed_max_and_backoff_grows(server: FakeOpenAI, make: Maker) -> None:
    t = FakeTime()
    server.always(Status(500))
    client = make(
        LLMConfig.single(server.base_url, "m1"), clock=t.clock, sleep=t.sleep, rand=lambda: 1.0
    )
    with pytest.raises(AllProvidersFailed) as info:
        await collect(client)
    assert len(server.requests) == 3
    assert t.sleeps == [1.0, 2.0]  # full jitter ceiling doubles: base 1 s, then 2 s
    assert [type(e) for e in info.value.errors] == [LLMUnavailable] * 3


async def test_backoff_is_capped_and_jittered(make: Maker) -> None:
    cfg = LLMConfig.single("http://127.0.0.1:9/v1", "m1")
    client = make(cfg, rand=lambda: 1.0)
    assert client.backoff(10, None) == 20.0
    assert client.backoff(10, 45.0) == 45.0  # the server's hint wins even past the cap
    half = make(cfg, rand=lambda: 0.5)
    assert half.backoff(3, None) == 2.0


def test_parse_retry_after_seconds_and_dates() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("2") == 2.0
    assert (
        parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now)
        == 30.0
    )
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


async def test_fallback_answers_when_main_provider_fails(
    server: FakeOpenAI, backup: FakeOpenAI, make: Maker
) -> None:
    t = FakeTime()
    server.always(Status(503))
    client = make(two_providers(server, backup), clock=t.clock, sleep=t.sleep)
    events = await collect(client)
    started, end = events[0], events[-1]
    assert isinstance(started, Started) and started.fallback and started.model == "small"
    assert isinstance(end, Finished) and end.fallback and end.provider == "spare"
    assert end.text == "Backup here."
    assert len(server.requests) == 3 and len(backup.requests) == 1
    assert backup.requests[0]["model"] == "small"


async def test_unusable_provider_is_not_retried_but_falls_back(
    server: FakeOpenAI, backup: FakeOpenAI, make: Maker
) -> None:
    server.script(Status(401))
    client = make(two_providers(server, backup), sleep=FakeTime().sleep)
    result = await client.complete(MSGS)
    assert result.fallback and result.text == "Backup here."
    assert len(server.requests) == 1


async def test_open_breaker_skips_provider(
    server: FakeOpenAI, backup: FakeOpenAI, make: Maker
) -> None:
    client = make(two_providers(server, backup))
    client.breaker("main").trip()
    result = await client.complete(MSGS)
    assert result.fallback and result.model == "small"
    assert server.requests == []


async def test_five_failures_open_the_breaker_end_to_end(server: FakeOpenAI, make: Maker) -> None:
    t = FakeTime()
    server.always(Status(500))
    client = make(
        LLMConfig.single(server.base_url, "m1"), clock=t.clock, sleep=t.sleep, rand=lambda: 0.0
    )
    for _ in range(2):
        with pytest.raises(AllProvidersFailed):
            await client.complete(MSGS)
    assert client.breaker("default").state is BreakerState.OPEN
    assert len(server.requests) == 5  # 3 + 2: the breaker opened on the fifth failure
    with pytest.raises(AllProvidersFailed) as info:
        await client.complete(MSGS)
    assert len(server.requests) == 5
    assert "breaker open" in str(info.value.errors[0])
    t.now += 31  # half-open: one probe goes out and succeeds
    server.always(None)
    assert (await client.complete(MSGS)).text == "Hello, 你好 friend."
    assert client.breaker("default").state is BreakerState.CLOSED


async def test_all_providers_down(server: FakeOpenAI, backup: FakeOpenAI, make: Maker) -> None:
    server.always(Status(500))
    backup.always(Status(502))
    client = make(two_providers(server, backup), sleep=FakeTime().sleep)
    with pytest.raises(AllProvidersFailed) as info:
        await collect(client)
    assert {e.provider for e in info.value.errors} == {"main", "spare"}
    assert len(info.value.errors) == 6


async def test_stream_cut_keeps_partial_and_never_retries(
    server: FakeOpenAI, backup: FakeOpenAI, make: Maker
) -> None:
    server.script(Cut(after_chunks=2))
    client = make(two_providers(server, backup), sleep=FakeTime().sleep)
    seen: list[str] = []
    with pytest.raises(LLMStreamBroken) as info:
        async for ev in client.stream(MSGS):
            if isinstance(ev, TextDelta):
                seen.append(ev.text)
    assert info.value.partial == "Hello, 你好 " == "".join(seen)
    assert isinstance(info.value.cause, LLMUnavailable)
    assert len(server.requests) == 1 and backup.requests == []


async def test_hang_times_out_per_attempt(server: FakeOpenAI, make: Maker) -> None:
    server.always(Hang())
    cfg = LLMConfig.single(server.base_url, "m1")
    cfg = LLMConfig(cfg.providers, "m1", attempt_timeout=0.2, turn_timeout=5, max_attempts=2)
    client = make(cfg, sleep=FakeTime().sleep)
    start = time.monotonic()
    with pytest.raises(AllProvidersFailed) as info:
        await collect(client)
    assert time.monotonic() - start < 2
    assert [type(e) for e in info.value.errors] == [LLMTimeout, LLMTimeout]


async def test_turn_deadline_bounds_all_attempts(server: FakeOpenAI, make: Maker) -> None:
    server.always(Hang())
    cfg = LLMConfig.single(server.base_url, "m1")
    cfg = LLMConfig(cfg.providers, "m1", attempt_timeout=0.3, turn_timeout=0.5, max_attempts=3)
    client = make(cfg, backoff_base=0.01)
    start = time.monotonic()
    with pytest.raises(AllProvidersFailed):
        await collect(client)
    assert time.monotonic() - start < 1.0
    assert len(server.requests) <= 2


async def test_hang_mid_stream_is_a_broken_stream(server: FakeOpenAI, make: Maker) -> None:
    server.script(Cut(after_chunks=1, hang=True))
    cfg = LLMConfig.single(server.base_url, "m1")
    client = make(LLMConfig(cfg.providers, "m1", attempt_timeout=0.2))
    with pytest.raises(LLMStreamBroken) as info:
        await collect(client)
    assert info.value.partial == "Hello" and isinstance(info.value.cause, LLMTimeout)


async def test_server_rejecting_stream_options_gets_one_retry_without(make: Maker) -> None:
    async with FakeOpenAI(reply="ok", reject_stream_options=True) as s:
        client = make(LLMConfig.single(s.base_url, "m1"))
        events = await collect(client)
        events += await collect(client)
    assert [e.text for e in events if isinstance(e, Finished)] == ["ok", "ok"]
    assert ["stream_options" in r for r in s.requests] == [True, False, False]


async def test_connection_refused_is_retried_then_fails(make: Maker) -> None:
    async with FakeOpenAI() as s:
        url = s.base_url
    t = FakeTime()
    client = make(LLMConfig.single(url, "m1"), clock=t.clock, sleep=t.sleep)
    with pytest.raises(AllProvidersFailed) as info:
        await collect(client)
    assert len(info.value.errors) == 3 and all(
        isinstance(e, LLMUnavailable) for e in info.value.errors
    )


async def test_reply_override_and_per_model_script(
    server: FakeOpenAI, backup: FakeOpenAI, make: Maker
) -> None:
    server.script(Status(500), Status(500), Status(500), model="big")
    server.script(Reply(text="scripted"))
    client = make(two_providers(server, backup), sleep=FakeTime().sleep)
    first = await client.complete(MSGS)
    assert first.fallback and first.text == "Backup here."
    second = await client.complete(MSGS)
    assert not second.fallback and second.text == "scripted"


def test_breaker_state_machine() -> None:
    t = FakeTime()
    b = CircuitBreaker("p", clock=t.clock)
    for _ in range(4):
        b.record_failure()
    assert b.state is BreakerState.CLOSED and b.allow()
    t.now += 61  # the old failures leave the 60 s window
    for _ in range(4):
        b.record_failure()
    assert b.state is BreakerState.CLOSED
    b.record_failure()
    assert b.state is BreakerState.OPEN and not b.allow()
    t.now += 29
    assert not b.allow()
    t.now += 1
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow() and not b.allow()  # exactly one probe
    b.record_failure()
    assert b.state is BreakerState.OPEN
    t.now += 30
    assert b.allow()
    b.record_success()
    assert b.state is BreakerState.CLOSED and b.allow()


def test_breaker_success_resets_failure_count() -> None:
    t = FakeTime()
    b = CircuitBreaker("p", clock=t.clock)
    for _ in range(4):
        b.record_failure()
    b.record_success()
    for _ in range(4):
        b.record_failure()
    assert b.state is BreakerState.CLOSED


def test_breaker_stuck_probe_expires() -> None:
    t = FakeTime()
    b = CircuitBreaker("p", clock=t.clock)
    b.trip()
    t.now += 30
    assert b.allow()
    t.now += 10
    assert not b.allow()
    t.now += 20  # the first probe never reported back
    assert b.allow()


def test_config_resolves_refs_and_builds_chains() -> None:
    a = ModelConfig("shared", "a", 8000)
    b = ModelConfig("shared", "b", 8000)
    c = ModelConfig("solo", "b", 128000, vision=True)
    providers = (
        ProviderConfig("a", "http://a/v1", None, (a,)),
        ProviderConfig("b", "http://b/v1", "sk-secret-9", (b, c)),
    )
    cfg = LLMConfig(
        providers,
        default_model="a/shared",
        fallback_order=("solo", "b/shared"),
        allowed_models=("solo",),
    )
    assert cfg.chain() == (a, c, b)
    assert cfg.chain("solo") == (c, b)
    assert (
        cfg.selectable() == (c,) and cfg.is_selectable("solo") and not cfg.is_selectable("a/shared")
    )
    with pytest.raises(ConfigError, match="several providers"):
        cfg.model("shared")
    with pytest.raises(ConfigError, match="unknown model"):
        LLMConfig(providers, default_model="nope")
    assert "sk-secret-9" not in repr(cfg)  # the key never shows in reprs or logs


async def test_fake_server_embeddings_and_models(server: FakeOpenAI) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        models = (await http.get("/models")).json()
        assert [m["id"] for m in models["data"]] == ["fake-model"]
        body = {"model": "emb", "input": ["我们去湖边散步", "我们去湖边散步吧", "tax forms"]}
        first = (await http.post("/embeddings", json=body)).json()
        again = (await http.post("/embeddings", json=body)).json()
    vectors = [d["embedding"] for d in first["data"]]
    assert vectors == [d["embedding"] for d in again["data"]]  # deterministic
    assert all(abs(sum(v * v for v in vec) - 1) < 1e-9 for vec in vectors)

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cos(vectors[0], vectors[1]) > cos(vectors[0], vectors[2])
    assert server.embedding_requests[0]["input"] == body["input"]


async def test_spent_turn_deadline_does_not_blame_the_next_provider(
    server: FakeOpenAI, backup: FakeOpenAI, make: Maker
) -> None:
    server.always(Hang())
    base = two_providers(server, backup)
    cfg = LLMConfig(
        base.providers,
        "big",
        fallback_order=("small",),
        attempt_timeout=1.0,
        turn_timeout=0.05,
        max_attempts=1,
    )
    client = make(cfg)
    for _ in range(5):
        with pytest.raises(AllProvidersFailed) as info:
            await collect(client)
        assert [type(e) for e in info.value.errors] == [LLMTimeout, LLMTimeout]
    assert backup.requests == []
    assert client.breaker("main").state is BreakerState.OPEN  # main really hung five times
    assert client.breaker("spare").state is BreakerState.CLOSED  # spare was never tried
