"""A fake OpenAI-compatible server on loopback, for tests, benchmarks and README smoke checks.

Real HTTP (aiohttp.web, port 0 by default). It serves `/v1/chat/completions` (SSE streaming and
plain JSON), `/v1/embeddings` (deterministic hashed vectors) and `/v1/models`, records every
request body, and can be scripted per request — globally or per model id — to answer
`Status(429, retry_after="2")`, `Status(500)`, `Hang()`, `Cut(after_chunks=2)` or a custom
`Reply(text, delay)`. Unscripted requests get the default reply.

    async with FakeOpenAI(reply="hello there", chunk_delay=0.01) as server:
        server.script(Status(500), model="main-model")
        ... LLMConfig.single(server.base_url, "main-model") ...
        assert server.requests[-1]["messages"][-1]["content"] == "hi"

Standalone: `python -m tests.fakes.openai_server --port 8089 --reply "..."` prints
`listening on http://127.0.0.1:8089/v1` and serves until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import hashlib
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Reply:
    """Answer normally; `text`/`delay`/`chunk_chars` override the server defaults when set."""

    text: str | None = None
    delay: float | None = None
    chunk_chars: int | None = None


@dataclass(frozen=True)
class Status:
    """Answer with an HTTP error status (and optionally a `Retry-After` header)."""

    code: int
    retry_after: str | None = None
    body: str = '{"error": {"message": "scripted failure", "type": "server_error"}}'


@dataclass(frozen=True)
class Hang:
    """Accept the request and never answer (until the server stops)."""


@dataclass(frozen=True)
class Cut:
    """Stream `after_chunks` chunks, then drop the connection (or hang when `hang=True`)."""

    after_chunks: int = 2
    hang: bool = False


Behaviour = Reply | Status | Hang | Cut
ReplySource = str | Callable[[dict[str, Any]], str]


def echo_reply(body: dict[str, Any]) -> str:
    """A reply source that echoes the last user message (handy for manual smoke checks)."""
    for msg in reversed(body.get("messages") or []):
        if msg.get("role") == "user":
            content = msg.get("content")
            text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
            return f"You said: {text}"
    return "Hello."


def hashed_embedding(text: str, dims: int = 64) -> list[float]:
    """A deterministic unit vector from hashed character bigrams (similar texts → close vectors)."""
    vec = [0.0] * dims
    s = f" {text.lower()} "
    for i in range(len(s) - 1):
        h = int.from_bytes(hashlib.blake2b(s[i : i + 2].encode(), digest_size=4).digest(), "big")
        vec[h % dims] += 1.0 if (h >> 16) & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


_CJK = re.compile("[\u3400-\u9fff]")


def _rough_tokens(text: str) -> int:
    # A different rule from the bot's estimator on purpose: the fake plays a foreign tokenizer.
    cjk = len(_CJK.findall(text))
    return cjk + max(0, len(text) - cjk) // 4


class FakeOpenAI:
    """The fake server; see the module docstring."""

    def __init__(
        self,
        *,
        reply: ReplySource = "Hello from the fake model.",
        chunk_delay: float = 0.0,
        chunk_chars: int = 4,
        models: tuple[str, ...] = ("fake-model",),
        reject_stream_options: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        embedding_dims: int = 64,
    ) -> None:
        self.reply = reply
        self.chunk_delay = chunk_delay
        self.chunk_chars = chunk_chars
        self.models = models
        self.reject_stream_options = reject_stream_options
        self.embedding_dims = embedding_dims
        self.host = host
        self.port = port
        self.requests: list[dict[str, Any]] = []
        self.embedding_requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.request_times: list[float] = []
        self.active = 0
        self.max_active = 0
        self._global: collections.deque[Behaviour] = collections.deque()
        self._per_model: dict[str, collections.deque[Behaviour]] = {}
        self._always: dict[str, Behaviour] = {}
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ scripting

    def script(self, *behaviours: Behaviour, model: str | None = None) -> None:
        """Queue behaviours for the next requests (for `model` only, when given)."""
        queue = (
            self._global
            if model is None
            else self._per_model.setdefault(model, collections.deque())
        )
        queue.extend(behaviours)

    def always(self, behaviour: Behaviour | None, *, model: str = "*") -> None:
        """Answer every request for `model` ("*" = all) this way until reset with None."""
        if behaviour is None:
            self._always.pop(model, None)
        else:
            self._always[model] = behaviour

    def _next(self, model: str) -> Behaviour:
        queue = self._per_model.get(model)
        if queue:
            return queue.popleft()
        if model in self._always:
            return self._always[model]
        if self._global:
            return self._global.popleft()
        return self._always.get("*", Reply())

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1` once started."""
        return f"http://{self.host}:{self.port}/v1"

    async def start(self) -> FakeOpenAI:
        """Bind (port 0 picks a free port) and serve in the current event loop."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=2048)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        """Release hanging handlers and shut down."""
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeOpenAI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ handlers

    async def _hang(self) -> None:
        await self._stopping.wait()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        # When the request's first bytes (its headers) arrived, before the body is parsed.
        arrived = time.monotonic()
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        self.request_times.append(arrived)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            return await self._answer(request, body)
        except ConnectionResetError:
            # The client went away mid-stream (a killed process, a timeout): nothing to answer.
            return web.Response(status=499)
        finally:
            self.active -= 1

    async def _answer(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        model = str(body.get("model", ""))
        behaviour = self._next(model)
        if isinstance(behaviour, Status):
            headers = {"Retry-After": behaviour.retry_after} if behaviour.retry_after else {}
            return web.Response(
                status=behaviour.code,
                text=behaviour.body,
                headers=headers,
                content_type="application/json",
            )
        if isinstance(behaviour, Hang):
            await self._hang()
            return web.Response(status=503)
        if self.reject_stream_options and "stream_options" in body:
            return web.json_response(
                {"error": {"message": "unknown field stream_options"}}, status=400
            )
        reply = behaviour if isinstance(behaviour, Reply) else Reply()
        text = reply.text if reply.text is not None else self._reply_text(body)
        delay = reply.delay if reply.delay is not None else self.chunk_delay
        size = reply.chunk_chars or self.chunk_chars
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        prompt_tokens = sum(
            _rough_tokens(str(m.get("content", ""))) for m in body.get("messages") or []
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(chunks),
            "total_tokens": prompt_tokens + len(chunks),
        }
        if not body.get("stream"):
            await asyncio.sleep(delay * len(chunks))
            return web.json_response(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            )
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        await resp.write(b": keep-alive\n\n")
        for index, piece in enumerate(chunks):
            if isinstance(behaviour, Cut) and index >= behaviour.after_chunks:
                if behaviour.hang:
                    await self._hang()
                    return resp
                # Drop the connection without ending the chunked body: a mid-stream cut.
                assert request.transport is not None
                request.transport.abort()
                return resp
            if delay:
                await asyncio.sleep(delay)
            await resp.write(
                _sse(
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion.chunk",
                        "model": model,
                        "choices": [
                            {"index": 0, "delta": {"content": piece}, "finish_reason": None}
                        ],
                    }
                )
            )
        await resp.write(
            _sse(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "model": model,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                }
            )
        )
        if (body.get("stream_options") or {}).get("include_usage"):
            await resp.write(
                _sse(
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion.chunk",
                        "model": model,
                        "choices": [],
                        "usage": usage,
                    }
                )
            )
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    def _reply_text(self, body: dict[str, Any]) -> str:
        return self.reply(body) if callable(self.reply) else self.reply

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.embedding_requests.append(body)
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        dims = int(body.get("dimensions") or self.embedding_dims)
        data = [
            {"object": "embedding", "index": i, "embedding": hashed_embedding(str(t), dims)}
            for i, t in enumerate(texts)
        ]
        tokens = sum(_rough_tokens(str(t)) for t in texts)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model", ""),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _models(self, request: web.Request) -> web.Response:
        ids = list(dict.fromkeys([*self.models, *self._per_model]))
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in ids
                ],
            }
        )


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


async def _serve(args: argparse.Namespace) -> None:
    reply: ReplySource = echo_reply if args.echo else args.reply
    server = FakeOpenAI(
        reply=reply,
        chunk_delay=args.delay,
        chunk_chars=args.chunk_chars,
        models=tuple(args.model or ["fake-model"]),
        host=args.host,
        port=args.port,
    )
    for spec in args.fail or []:
        server.script(Status(int(spec)))
    await server.start()
    print(f"listening on {server.base_url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    """Run the fake server until interrupted."""
    parser = argparse.ArgumentParser(
        description="Fake OpenAI-compatible server (tests and smoke checks)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=8089, help="0 picks a free port (printed on start)"
    )
    parser.add_argument(
        "--reply", default="Hello from the fake model.", help="text every reply streams"
    )
    parser.add_argument(
        "--echo", action="store_true", help="reply 'You said: …' instead of --reply"
    )
    parser.add_argument("--delay", type=float, default=0.02, help="seconds between streamed chunks")
    parser.add_argument("--chunk-chars", type=int, default=4, help="characters per streamed chunk")
    parser.add_argument(
        "--model", action="append", help="model id listed by /v1/models (repeatable)"
    )
    parser.add_argument(
        "--fail", action="append", help="answer the next request with this status (repeatable)"
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
