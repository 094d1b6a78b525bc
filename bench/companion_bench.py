"""Companion benchmarks, side by side in one run; prints JSON.

    python -m bench.companion_bench            # full: 100k messages, 1,000 conversations, 50 turns
    python -m bench.companion_bench --quick    # seconds; run by tests so the bench cannot rot

1. overhead     a message arriving at the core (router) → first byte of the model request, and the
                model's last byte → the reply stored; p50/p99 with 100k stored messages and a
                10,000-word letter loaded. Target: p99 < 10 ms.
2. concurrency  1,000 simultaneous conversations against the fake server (a separate process)
                streaming for 2 s each: event-loop lag p99 (target < 50 ms) and wall time (< 4 s).
3. cost         prompt tokens per turn: our context assembly vs pasting the whole letter into the
                chat (what people do today), over a scripted 50-turn conversation. Target < 25 %.

The full run reads the letter and questions from the LoCoMo dev file when it is given
(`--data /work/shared/bench-data/locomo-dev.json`); otherwise both are generated.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from bot.app import App
from bot.core.models import Button, ChatRef, IncomingMessage, MessageHandle, OutFile, UserRef
from bot.core.streaming import render_stream
from bot.services.llm import TextDelta
from bot.services.tokens import TokenEstimator
from bot.settings import Settings
from tests.fakes.openai_server import FakeOpenAI

REPLY_WORDS = 40
REPO = Path(__file__).resolve().parents[1]


class NullReplier:
    """A platform stand-in that accepts everything (Discord-like limits)."""

    max_length = 2000
    edit_interval = 1.2

    def __init__(self) -> None:
        self.sent = 0
        self.last = ""

    async def send(
        self,
        text: str,
        *,
        ephemeral: bool = False,
        buttons: Sequence[Button] = (),
        files: Sequence[OutFile] = (),
        target: str | None = None,
    ) -> MessageHandle:
        self.sent += 1
        self.last = text
        return MessageHandle("bench", str(self.sent))

    async def edit(
        self, handle: MessageHandle, text: str, *, buttons: Sequence[Button] | None = None
    ) -> None:
        self.last = text

    async def finish(self, handle: MessageHandle, text: str) -> MessageHandle:
        self.last = text
        return handle

    async def typing(self) -> None:
        return None

    async def confirm(self, text: str, *, yes: str, no: str, timeout: float = 180.0) -> bool:
        return False

    async def paginate(self, pages: Sequence[str], *, ephemeral: bool = False) -> None:
        return None


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def ms(value: float) -> float:
    return round(value * 1000, 3)


def load_script(data: Path | None, words: int, turns: int) -> tuple[str, list[str]]:
    """(letter text, user messages): from LoCoMo when given, else generated deterministically."""
    if data is not None and data.is_file():
        sample = json.loads(data.read_text(encoding="utf-8"))[0]
        conv = sample["conversation"]
        lines: list[str] = []
        for key in sorted(
            (k for k in conv if k.startswith("session_") and not k.endswith("date_time")),
            key=lambda k: int(k.split("_")[1]),
        ):
            lines.append(f"\n{conv.get(key + '_date_time', '')}")
            lines.extend(f"{t['speaker']}: {t['text']}" for t in conv[key])
        letter_words = "\n".join(lines).split(" ")
        questions = [str(q["question"]) for q in sample["qa"]][:turns]
        return " ".join(letter_words[:words]), questions
    rng = random.Random(7)
    vocab = [
        "lake",
        "mochi",
        "tea",
        "rain",
        "spring",
        "letter",
        "laugh",
        "promise",
        "walk",
        "night",
        "song",
        "kitchen",
        "train",
        "garden",
        "winter",
        "story",
        "light",
        "window",
        "river",
        "dream",
        "coffee",
        "paper",
    ]
    sentences = []
    while sum(len(s.split()) for s in sentences) < words:
        sentences.append(" ".join(rng.choice(vocab) for _ in range(12)) + ".")
    questions = [
        f"Do you remember the {rng.choice(vocab)} and the {rng.choice(vocab)}?"
        for _ in range(turns)
    ]
    return " ".join(sentences), questions


def write_config(tmp: Path) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "bench.toml"
    # A single person sends hundreds of messages here; lift the per-person rate limit.
    path.write_text(
        "[limits]\nburst = 1000000\nper_minute = 1000000\n\n[memorial]\nocr = false\n",
        encoding="utf-8",
    )
    return path


def settings_for(tmp: Path, base_url: str) -> Settings:
    return Settings.load(
        {
            "AFTERGLOW_DATA_DIR": str(tmp / "data"),
            "AFTERGLOW_CONFIG": str(write_config(tmp)),
            "AFTERGLOW_LLM_BASE_URL": base_url,
            "AFTERGLOW_LLM_MODEL": "bench-model",
            "AFTERGLOW_LLM_CONTEXT_WINDOW": "32768",
        }
    )


async def load_letter(app: App, user: UserRef, letter: str) -> int:
    """Import the letter through the memory service when it is wired; returns chunks stored."""
    memory = getattr(app, "memory", None)
    if memory is None:
        return 0
    result = await memory.import_letter_text(user, letter, title="letter")
    return int(getattr(result, "chunks", 0) or 0)


async def seed_history(app: App, user: UserRef, count: int) -> None:
    """Store `count` past messages in the person's open conversation, in bulk."""
    assert app.companion is not None
    person = await app.companion.person(user)
    persona = await app.companion.persona(user, "en")
    conv = await app.conversations.active(person, persona.id)
    est = TokenEstimator()
    rows = []
    now = time.time() - count
    for i in range(count):
        role = "user" if i % 2 == 0 else "assistant"
        text = f"message {i}: we talked about the garden and the rain again, remember?"
        rows.append((conv.id, role, text, "complete", est.text(text), now + i))
    await app.db.executemany(
        "INSERT INTO messages (conversation_id, role, text, status, tokens, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )
    # Steady state of a long conversation: the rolling summary covers all but the newest turns.
    newest = await app.conversations.newest(conv.id, limit=100)
    if len(newest) == 100:
        summary = "We have talked for months about the garden, the rain and the lake. " * 20
        await app.conversations.set_summary(
            conv.id, summary, newest[-1].id, est.text(summary), expected_upto=0
        )


# --------------------------------------------------------------------------- 1. overhead


async def bench_overhead(tmp: Path, *, stored: int, turns: int, letter: str) -> dict[str, Any]:
    reply = " ".join(["word"] * REPLY_WORDS)
    done_times: list[float] = []
    async with FakeOpenAI(reply=reply, chunk_chars=40) as server:
        answer_normally = server._answer

        async def answer(request: Any, body: dict[str, Any]) -> Any:
            response = await answer_normally(request, body)
            done_times.append(time.monotonic())  # after the model's last byte was written
            return response

        server._answer = answer  # type: ignore[method-assign]
        async with App(settings_for(tmp, server.base_url)) as app:
            assert app.companion is not None
            user = UserRef("bench", "overhead", "Overhead")
            chat = ChatRef("bench", "dm:overhead", "dm")
            chunks = await load_letter(app, user, letter)
            await seed_history(app, user, stored)
            stored_times: list[float] = []
            repo = app.conversations
            finish = repo.finish_reply

            async def timed_finish(*args: Any, **kwargs: Any) -> int:
                result = await finish(*args, **kwargs)
                stored_times.append(time.monotonic())
                return result

            repo.finish_reply = timed_finish  # type: ignore[method-assign]
            replier = NullReplier()
            to_request: list[float] = []
            to_stored: list[float] = []
            for i in range(turns + 3):
                before = len(server.request_times)
                started = time.monotonic()
                await app.router.handle_message(
                    IncomingMessage(
                        user, chat, f"do you remember the garden? ({i})", key=uuid.uuid4().hex
                    ),
                    replier,
                )
                if i < 3:
                    continue  # warm-up: connection pool, statement cache
                to_request.append(server.request_times[before] - started)
                to_stored.append(stored_times[-1] - done_times[-1])
            await app.companion.idle()
    return {
        "stored_messages": stored,
        "letter_words": len(letter.split()),
        "letter_chunks": chunks,
        "turns": turns,
        "arrival_to_request_ms": {
            "p50": ms(percentile(to_request, 50)),
            "p99": ms(percentile(to_request, 99)),
        },
        "last_byte_to_stored_ms": {
            "p50": ms(percentile(to_stored, 50)),
            "p99": ms(percentile(to_stored, 99)),
        },
        "target_p99_ms": 10,
    }


# --------------------------------------------------------------------------- 2. concurrency


async def start_server_process(
    reply: str, delay: float, chunk_chars: int
) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.openai_server",
        "--port",
        "0",
        "--reply",
        reply,
        "--delay",
        str(delay),
        "--chunk-chars",
        str(chunk_chars),
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
    return proc, line.strip().removeprefix("listening on ")


class LagMonitor:
    """Samples how late a 10 ms sleep wakes up: the event loop's responsiveness."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            start = loop.time()
            await asyncio.sleep(0.01)
            self.lags.append(loop.time() - start - 0.01)

    def __enter__(self) -> LagMonitor:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def summary(self) -> dict[str, float]:
        return {
            "p50": ms(percentile(self.lags, 50)),
            "p99": ms(percentile(self.lags, 99)),
            "max": ms(max(self.lags or [0])),
        }


async def bench_concurrency(
    tmp: Path, *, conversations: int, stream_seconds: float
) -> dict[str, Any]:
    """The same load twice: the streaming layer alone, then the whole chat path (router + DB)."""
    chunks = 20
    reply = "abcd" * chunks
    proc, url = await start_server_process(reply, stream_seconds / chunks, 4)
    out: dict[str, Any] = {"conversations": conversations, "stream_seconds": stream_seconds}
    try:
        async with App(settings_for(tmp, url)) as app:
            assert app.companion is not None
            llm = app.companion.llm

            async def stream_only(i: int) -> str:
                async def texts() -> AsyncIterator[str]:
                    async for ev in llm.stream([{"role": "user", "content": f"hello {i}"}]):
                        if isinstance(ev, TextDelta):
                            yield ev.text

                replier = NullReplier()
                await render_stream(texts(), replier)
                return replier.last

            async def full_path(i: int) -> str:
                user = UserRef("bench", f"c{i}", f"c{i}")
                replier = NullReplier()
                await app.router.handle_message(
                    IncomingMessage(user, ChatRef("bench", f"dm:{i}", "dm"), "hello", key=f"k{i}"),
                    replier,
                )
                return replier.last

            for name, one in (("streaming_layer", stream_only), ("full_chat_path", full_path)):
                with LagMonitor() as monitor:
                    started = time.monotonic()
                    results = await asyncio.gather(*(one(i) for i in range(conversations)))
                    wall = time.monotonic() - started
                out[name] = {
                    "complete_replies": sum(1 for r in results if r == reply),
                    "wall_s": round(wall, 3),
                    "loop_lag_ms": monitor.summary(),
                }
    finally:
        proc.terminate()
        await proc.wait()
    out["targets"] = {"loop_lag_p99_ms": 50, "wall_s": 4.0}
    return out


# --------------------------------------------------------------------------- 3. cost


async def bench_cost(tmp: Path, *, letter: str, questions: list[str]) -> dict[str, Any]:
    reply = " ".join(["I remember that, and I'm glad you told me again."] * 4)
    est = TokenEstimator()
    async with (
        FakeOpenAI(reply=reply, chunk_chars=64) as server,
        App(settings_for(tmp, server.base_url)) as app,
    ):
        assert app.companion is not None
        user = UserRef("bench", "cost", "Cost")
        chat = ChatRef("bench", "dm:cost", "dm")
        await load_letter(app, user, letter)
        replier = NullReplier()
        for q in questions:
            await app.router.handle_message(
                IncomingMessage(user, chat, q, key=uuid.uuid4().hex), replier
            )
        await app.companion.idle()
        # Every request counts, the background summaries included: they are part of our cost.
        ours = [est.messages(r["messages"]) for r in server.requests if r.get("stream")]
        summaries = [est.messages(r["messages"]) for r in server.requests if not r.get("stream")]
        system = next(r["messages"][0] for r in server.requests if r.get("stream"))
        # Pasting: the whole letter as the first message of the chat, then every turn so far.
        pasted: list[int] = []
        history: list[dict[str, str]] = [{"role": "user", "content": letter}]
        for q in questions:
            pasted.append(est.messages([system, *history, {"role": "user", "content": q}]))
            history += [{"role": "user", "content": q}, {"role": "assistant", "content": reply}]
    mean_ours = (sum(ours) + sum(summaries)) / len(ours)
    mean_pasted = statistics.fmean(pasted)
    return {
        "turns": len(questions),
        "letter_tokens": est.text(letter),
        "ours_per_turn": round(mean_ours, 1),
        "pasting_per_turn": round(mean_pasted, 1),
        "ours_total": sum(ours) + sum(summaries),
        "summary_calls": len(summaries),
        "summary_tokens": sum(summaries),
        "pasting_total": sum(pasted),
        "ratio": round((sum(ours) + sum(summaries)) / sum(pasted), 3),
        "target_ratio": 0.25,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    letter, questions = load_script(
        None if quick else args.data, 2000 if quick else 10_000, 8 if quick else 50
    )
    results: dict[str, Any] = {"mode": "quick" if quick else "full"}
    with tempfile.TemporaryDirectory(prefix="afterglow-bench-") as raw:
        tmp = Path(raw)
        if "overhead" in args.only:
            results["overhead"] = await bench_overhead(
                tmp / "o",
                stored=2_000 if quick else 100_000,
                turns=15 if quick else 200,
                letter=letter,
            )
        if "concurrency" in args.only:
            results["concurrency"] = await bench_concurrency(
                tmp / "c", conversations=40 if quick else 1000, stream_seconds=0.4 if quick else 2.0
            )
        if "cost" in args.only:
            results["cost"] = await bench_cost(tmp / "k", letter=letter, questions=questions)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; finishes in seconds")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("/work/shared/bench-data/locomo-dev.json"),
        help="LoCoMo dev JSON for the letter and questions (generated when missing)",
    )
    parser.add_argument(
        "--only",
        nargs="*",
        default=["overhead", "concurrency", "cost"],
        choices=["overhead", "concurrency", "cost"],
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        print(json.dumps(asyncio.run(run(args)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
