"""A client for OpenAI-compatible `/chat/completions` endpoints: streaming, retries, breaker, fallback.

One long-lived `httpx.AsyncClient` (on aiohttp's transport) serves every provider. A call walks the
fallback chain (the requested model, then `fallback_order`); each model gets up to `max_attempts`
attempts, retried only on 408/409/429/5xx, connection errors and timeouts, with capped exponential
backoff and full jitter that never waits less than the server's `Retry-After`. Each provider has a
`CircuitBreaker`; an open breaker skips the provider. Once the first token has reached the caller
nothing is retried: a failure after that raises `LLMStreamBroken` carrying the partial text.

The clock, the sleep and the random source are injected so tests run the policy without waiting.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from bot.services.breaker import CircuitBreaker
from bot.services.llm_config import LLMConfig, ModelConfig, ProviderConfig
from bot.services.llm_errors import (
    AllProvidersFailed,
    LLMBadResponse,
    LLMError,
    LLMRateLimited,
    LLMStreamBroken,
    LLMTimeout,
    LLMUnavailable,
)

log = logging.getLogger(__name__)

ChatMessage = Mapping[str, Any]
T = TypeVar("T")
RETRYABLE_STATUS = frozenset({408, 409, 429})
# A provider that cannot serve us at all: move on to the next model without retrying.
UNUSABLE_STATUS = frozenset({401, 402, 403, 404})


@dataclass(frozen=True)
class Usage:
    """Token counts the provider reported for one call."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def parse(cls, raw: Any) -> Usage | None:
        """Read an OpenAI `usage` object; None when it is missing or malformed."""
        if not isinstance(raw, dict):
            return None
        try:
            prompt = int(raw.get("prompt_tokens") or 0)
            completion = int(raw.get("completion_tokens") or 0)
            total = int(raw.get("total_tokens") or prompt + completion)
        except (TypeError, ValueError):
            return None
        return cls(prompt, completion, total)


@dataclass(frozen=True)
class Started:
    """Sent once, right before the first text: which model is answering."""

    model: str
    provider: str
    fallback: bool


@dataclass(frozen=True)
class TextDelta:
    """A piece of reply text, in order."""

    text: str


@dataclass(frozen=True)
class Finished:
    """The stream ended normally; `text` is the whole reply."""

    model: str
    provider: str
    fallback: bool
    text: str
    usage: Usage | None
    finish_reason: str | None
    attempts: int


StreamEvent = Started | TextDelta | Finished


@dataclass(frozen=True)
class Completion:
    """The answer of a non-streaming call."""

    text: str
    model: str
    provider: str
    fallback: bool
    usage: Usage | None
    finish_reason: str | None
    attempts: int


@dataclass(frozen=True)
class _Meta:
    """Internal: usage / finish reason seen inside one attempt's stream."""

    usage: Usage | None = None
    finish_reason: str | None = None


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class LLMClient:
    """Talks to every configured provider; see the module docstring for the policy."""

    def __init__(
        self,
        config: LLMConfig,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        backoff_base: float = 1.0,
        backoff_cap: float = 20.0,
    ) -> None:
        self.config = config
        self._own_http = http is None
        self._http = http or default_http_client(config.attempt_timeout)
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._base = backoff_base
        self._cap = backoff_cap
        self._breakers = {p.name: CircuitBreaker(p.name, clock=clock) for p in config.providers}
        # Providers that answered 400 to `stream_options` (some compatible servers do).
        self._no_stream_options: set[str] = set()

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._own_http:
            await self._http.aclose()

    def breaker(self, provider: str) -> CircuitBreaker:
        """The breaker guarding `provider`."""
        return self._breakers[provider]

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full-jitter exponential delay before retry `attempt + 1`, never below `retry_after`."""
        ceiling = min(self._cap, self._base * 2.0 ** (attempt - 1))
        delay = self._rand() * ceiling
        return max(delay, retry_after) if retry_after is not None else delay

    def _chain(self, model: str | None, fallback: bool) -> tuple[ModelConfig, ...]:
        chain = self.config.chain(model)
        return chain if fallback else chain[:1]

    # ------------------------------------------------------------------ streaming

    def _may_try(
        self, m: ModelConfig, breaker: CircuitBreaker, deadline: float, errors: list[LLMError]
    ) -> bool:
        """Whether another attempt on `m` may start; raises once the turn's deadline passed."""
        if self._clock() >= deadline:
            # Out of time: no provider is to blame, so no breaker counts this.
            errors.append(LLMTimeout("turn deadline passed", model=m.id, provider=m.provider))
            raise AllProvidersFailed(errors)
        if not breaker.allow():
            errors.append(
                LLMUnavailable("breaker open", retryable=False, model=m.id, provider=m.provider)
            )
            return False
        return True

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        model: str | None = None,
        *,
        fallback: bool = True,
        turn_timeout: float | None = None,
        **sampling: Any,
    ) -> AsyncIterator[StreamEvent]:
        """Stream a reply: `Started`, then `TextDelta`s, then `Finished`.

        Raises `LLMStreamBroken` after text was delivered, `AllProvidersFailed` when no model
        produced a first token, `LLMBadResponse` when a provider rejected the request itself.
        """
        deadline = self._clock() + (turn_timeout or self.config.turn_timeout)
        errors: list[LLMError] = []
        for index, m in enumerate(self._chain(model, fallback)):
            is_fallback = index > 0
            breaker = self._breakers[m.provider]
            attempt = 0
            while attempt < self.config.max_attempts:
                if not self._may_try(m, breaker, deadline, errors):
                    break
                attempt += 1
                parts: list[str] = []
                meta = _Meta()
                try:
                    async for ev in self._stream_once(m, messages, sampling, deadline):
                        if isinstance(ev, TextDelta):
                            if not parts:
                                yield Started(m.id, m.provider, is_fallback)
                            parts.append(ev.text)
                            yield ev
                        else:
                            meta = _Meta(
                                ev.usage or meta.usage, ev.finish_reason or meta.finish_reason
                            )
                except LLMError as e:
                    if parts:
                        breaker.record_failure()
                        log.warning(
                            "llm stream broken provider=%s model=%s after=%d chars error=%s",
                            m.provider,
                            m.id,
                            sum(map(len, parts)),
                            type(e).__name__,
                        )
                        raise LLMStreamBroken(
                            "stream broke mid-way",
                            partial="".join(parts),
                            fallback=is_fallback,
                            cause=e,
                            model=m.id,
                            provider=m.provider,
                        ) from e
                    delay = self._on_failure(e, m, attempt, deadline, errors)
                    if delay is None:
                        break
                    await self._sleep(delay)
                    continue
                breaker.record_success()
                if not parts:
                    yield Started(m.id, m.provider, is_fallback)
                yield Finished(
                    m.id,
                    m.provider,
                    is_fallback,
                    "".join(parts),
                    meta.usage,
                    meta.finish_reason,
                    attempt,
                )
                return
        raise AllProvidersFailed(errors)

    def _on_failure(
        self, e: LLMError, m: ModelConfig, attempt: int, deadline: float, errors: list[LLMError]
    ) -> float | None:
        """Record a failed attempt; return the delay before retrying, or None to move on."""
        if isinstance(e, LLMBadResponse) and e.status is not None:
            raise e  # the request itself was refused: another attempt would be refused too
        self._breakers[m.provider].record_failure()
        errors.append(e)
        log.warning(
            "llm attempt failed provider=%s model=%s attempt=%d error=%s status=%s",
            m.provider,
            m.id,
            attempt,
            type(e).__name__,
            getattr(e, "status", None),
        )
        if not e.retryable or attempt >= self.config.max_attempts:
            return None
        retry_after = getattr(e, "retry_after", None)
        delay = self.backoff(attempt, retry_after)
        if self._clock() + delay >= deadline:
            return None  # waiting would blow the turn deadline: try the next model now
        return delay

    def _request(
        self,
        m: ModelConfig,
        messages: Sequence[ChatMessage],
        sampling: Mapping[str, Any],
        *,
        stream: bool,
    ) -> httpx.Request:
        provider = self.config.provider(m.provider)
        body: dict[str, Any] = {"model": m.id, "messages": list(messages)}
        body["max_tokens"] = m.max_output_tokens
        body.update(sampling)
        if stream:
            body["stream"] = True
            if provider.name not in self._no_stream_options:
                body["stream_options"] = {"include_usage": True}
        return self._http.build_request(
            "POST",
            _url(provider, "/chat/completions"),
            json=body,
            headers=_headers(provider),
            # Also the idle limit between streamed chunks once text flows (see _stream_once).
            timeout=httpx.Timeout(self.config.attempt_timeout),
        )

    async def _stream_once(
        self,
        m: ModelConfig,
        messages: Sequence[ChatMessage],
        sampling: Mapping[str, Any],
        deadline: float,
    ) -> AsyncIterator[TextDelta | _Meta]:
        """One attempt: send, check the status, then parse SSE lines until `[DONE]`."""
        limit = min(deadline, self._clock() + self.config.attempt_timeout)
        response = await self._send(m, messages, sampling, limit)
        try:
            if "json" in response.headers.get("content-type", ""):
                # Some servers ignore `stream: true` and answer with one JSON document.
                raw = await self._guard(m, limit, response.aread())
                completion = _parse_completion(raw, m)
                if completion[0]:
                    yield TextDelta(completion[0])
                yield _Meta(completion[1], completion[2])
                return
            # Raw blocks, split into lines here. Until the first text, each read is bounded by
            # the attempt's limit; after it, httpx's read timeout (`attempt_timeout`) is the idle
            # limit and the turn deadline is checked per block: no extra timer per chunk keeps
            # a thousand concurrent streams cheap for the event loop.
            blocks = response.aiter_bytes()
            pending = b""
            got_text = False
            while True:
                try:
                    if got_text:
                        if self._clock() > deadline:
                            raise LLMTimeout(
                                "turn deadline passed", model=m.id, provider=m.provider
                            )
                        block = await self._transport(m, anext(blocks))
                    else:
                        block = await self._guard(m, limit, anext(blocks))
                except StopAsyncIteration:
                    return  # tolerated: some servers close without `[DONE]`
                *lines, pending = (pending + block).split(b"\n")
                for line in lines:
                    if not line.startswith(b"data:"):
                        continue  # blank lines, ": keep-alive" comments, "event:" fields
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        return
                    pieces, meta = _parse_chunk(data, m)
                    for piece in pieces:
                        got_text = True
                        yield TextDelta(piece)
                    if meta is not None:
                        yield meta
        finally:
            await response.aclose()

    async def _send(
        self,
        m: ModelConfig,
        messages: Sequence[ChatMessage],
        sampling: Mapping[str, Any],
        limit: float,
    ) -> httpx.Response:
        """Send a streaming request and return a 200 response (its body not yet read)."""
        for _ in range(2):
            request = self._request(m, messages, sampling, stream=True)
            response = await self._guard(m, limit, self._http.send(request, stream=True))
            if response.status_code == 200:
                return response
            try:
                detail = await self._guard(m, limit, response.aread())
            finally:
                await response.aclose()
            sent_options = b"stream_options" in request.content
            if response.status_code == 400 and sent_options and b"stream_options" in detail:
                # Some compatible servers reject `stream_options`; retry once without it.
                self._no_stream_options.add(m.provider)
                continue
            raise _status_error(response, m)
        raise _status_error(response, m)

    async def _guard(self, m: ModelConfig, limit: float, aw: Awaitable[T]) -> T:
        """Await `aw` until `limit` (client clock), mapping transport failures to `LLMError`s."""
        try:
            async with asyncio.timeout(max(0.0, limit - self._clock())):
                return await self._transport(m, aw)
        except TimeoutError as e:
            raise LLMTimeout("no answer in time", model=m.id, provider=m.provider) from e

    async def _transport(self, m: ModelConfig, aw: Awaitable[T]) -> T:
        """Await `aw`, mapping httpx failures to `LLMError`s."""
        try:
            return await aw
        except httpx.TimeoutException as e:
            if e.__cause__ is not None and not isinstance(e.__cause__, TimeoutError):
                # The aiohttp transport files a refused or dropped connection under
                # ConnectTimeout; the cause says what really happened.
                raise LLMUnavailable(
                    f"transport error: {type(e.__cause__).__name__}",
                    model=m.id,
                    provider=m.provider,
                ) from e
            raise LLMTimeout("transport timeout", model=m.id, provider=m.provider) from e
        except httpx.HTTPError as e:
            raise LLMUnavailable(
                f"transport error: {type(e).__name__}", model=m.id, provider=m.provider
            ) from e

    # ------------------------------------------------------------------ non-streaming

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        model: str | None = None,
        *,
        fallback: bool = True,
        turn_timeout: float | None = None,
        **sampling: Any,
    ) -> Completion:
        """One non-streaming call with the same retry, breaker and fallback policy."""
        deadline = self._clock() + (turn_timeout or self.config.turn_timeout)
        errors: list[LLMError] = []
        for index, m in enumerate(self._chain(model, fallback)):
            breaker = self._breakers[m.provider]
            attempt = 0
            while attempt < self.config.max_attempts:
                if not self._may_try(m, breaker, deadline, errors):
                    break
                attempt += 1
                try:
                    text, usage, reason = await self._complete_once(m, messages, sampling, deadline)
                except LLMError as e:
                    delay = self._on_failure(e, m, attempt, deadline, errors)
                    if delay is None:
                        break
                    await self._sleep(delay)
                    continue
                breaker.record_success()
                return Completion(text, m.id, m.provider, index > 0, usage, reason, attempt)
        raise AllProvidersFailed(errors)

    async def _complete_once(
        self,
        m: ModelConfig,
        messages: Sequence[ChatMessage],
        sampling: Mapping[str, Any],
        deadline: float,
    ) -> tuple[str, Usage | None, str | None]:
        limit = min(deadline, self._clock() + self.config.attempt_timeout)
        request = self._request(m, messages, sampling, stream=False)
        response = await self._guard(m, limit, self._http.send(request))
        if response.status_code != 200:
            raise _status_error(response, m)
        return _parse_completion(response.content, m)


def default_http_client(timeout: float) -> httpx.AsyncClient:
    """The process's HTTP client: httpx's API over aiohttp's connection pool and C parser.

    Measured with 1,000 concurrent streams (bench/companion_bench.py): about 40 % less CPU per
    streamed chunk than httpx's own transport, whose pool also rescans every waiting request
    whenever one starts or ends. Connections are unbounded: a thousand people may be streaming.
    """

    def session() -> aiohttp.ClientSession:
        # Created on first use, inside the running event loop (aiohttp requires that).
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30))

    return httpx.AsyncClient(
        transport=AiohttpTransport(client=session), timeout=httpx.Timeout(timeout)
    )


def _url(provider: ProviderConfig, path: str) -> str:
    return provider.base_url.rstrip("/") + path


def _headers(provider: ProviderConfig) -> dict[str, str]:
    return {"Authorization": f"Bearer {provider.api_key}"} if provider.api_key else {}


def _status_error(response: httpx.Response, m: ModelConfig) -> LLMError:
    """Map a non-200 status to the error tree (never includes the response body)."""
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    model, provider = m.id, m.provider
    if status == 429:
        return LLMRateLimited(
            "rate limited (429)", retry_after=retry_after, model=model, provider=provider
        )
    if status in RETRYABLE_STATUS or status >= 500:
        return LLMUnavailable(
            f"provider error ({status})",
            status=status,
            retry_after=retry_after,
            model=model,
            provider=provider,
        )
    if status in UNUSABLE_STATUS:
        return LLMUnavailable(
            f"provider refused us ({status})",
            status=status,
            retryable=False,
            model=model,
            provider=provider,
        )
    return LLMBadResponse(
        f"request rejected ({status})", status=status, model=model, provider=provider
    )


def _parse_chunk(data: bytes, m: ModelConfig) -> tuple[list[str], _Meta | None]:
    """Text pieces and usage / finish reason of one SSE `data:` payload."""
    try:
        chunk = json.loads(data)
    except ValueError as e:
        raise LLMBadResponse("unparseable stream chunk", model=m.id, provider=m.provider) from e
    if not isinstance(chunk, dict):
        raise LLMBadResponse("stream chunk is not an object", model=m.id, provider=m.provider)
    if chunk.get("error"):
        raise LLMUnavailable("provider sent an error event", model=m.id, provider=m.provider)
    usage = Usage.parse(chunk.get("usage"))
    reason: str | None = None
    pieces: list[str] = []
    for choice in chunk.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        reason = choice.get("finish_reason") or reason
        piece = (choice.get("delta") or {}).get("content")
        if isinstance(piece, str) and piece:
            pieces.append(piece)
    return pieces, (_Meta(usage, reason) if usage or reason else None)


def _parse_completion(raw: bytes, m: ModelConfig) -> tuple[str, Usage | None, str | None]:
    """Text, usage and finish reason of a non-streaming `chat.completion` document."""
    try:
        doc = json.loads(raw)
        choice = doc["choices"][0]
        text = (choice.get("message") or {}).get("content") or ""
        if not isinstance(text, str):
            raise TypeError("content is not a string")
        return text, Usage.parse(doc.get("usage")), choice.get("finish_reason")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
        raise LLMBadResponse("unparseable completion", model=m.id, provider=m.provider) from e
