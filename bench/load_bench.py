"""Load run: many people chatting at once through the core path while the model misbehaves.

    python -m bench.load_bench            # 200 people x 20 messages (about a minute)
    python -m bench.load_bench --quick    # 20 x 5, seconds; run by tests so the bench cannot rot

Each simulated person sends their messages one after another (as a person would), all people
at once, through `App.router.handle_message` — the same path the console and the platforms use —
against the fake OpenAI server on loopback. The server injects random faults (500, 503,
429 + Retry-After, a stream cut after the first chunk, a hang past the attempt timeout) and the
platform randomly fails to settle a reply. Afterwards the run checks that every message has
exactly one stored reply or a pending marker and that `integrity_check` passes; then it restarts
the App (faults off) and checks that recovery answers every pending message.

Prints one JSON object: throughput, latency percentiles, fault counts, and the checks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.app import App
from bot.core.models import Button, ChatRef, IncomingMessage, MessageHandle, OutFile, UserRef
from bot.services.i18n import I18n
from bot.settings import Settings
from tests.fakes.openai_server import Behaviour, Cut, FakeOpenAI, Hang, Reply, Status

REPLY = "I'm here. I remember the little things you told me. 我一直记得你说过的那些小事。"
QUESTIONS = (
    "do you remember our rainy evenings?",
    "我今天又想起你了",
    "what would you say to me now?",
    "我们以前常聊星星",
    "thank you for everything",
)


class FaultyOpenAI(FakeOpenAI):
    """The fake model with seeded random faults on a share of requests."""

    def __init__(self, fault_rate: float, seed: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fault_rate = fault_rate
        self.rng = random.Random(seed)
        self.faults: Counter[str] = Counter()

    def _next(self, model: str) -> Behaviour:
        if self.fault_rate <= 0 or self.rng.random() >= self.fault_rate:
            return Reply()
        kind = self.rng.choices(("500", "503", "429", "cut", "hang"), weights=(35, 15, 20, 20, 10))[
            0
        ]
        self.faults[kind] += 1
        if kind == "429":
            return Status(429, retry_after="1")
        if kind == "cut":
            return Cut(after_chunks=1)
        if kind == "hang":
            return Hang()
        return Status(int(kind))


class BenchReplier:
    """A platform that shows messages and, rarely, fails to settle one."""

    max_length = 4000
    edit_interval = 0.0

    def __init__(self, rng: random.Random, failure_rate: float) -> None:
        self.rng = rng
        self.failure_rate = failure_rate
        self.sent = 0
        self.failures = 0

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
        return MessageHandle("bench", str(self.sent))

    async def edit(
        self, handle: MessageHandle, text: str, *, buttons: Sequence[Button] | None = None
    ) -> None:
        return None

    async def finish(self, handle: MessageHandle, text: str) -> MessageHandle:
        if self.rng.random() < self.failure_rate:
            self.failures += 1
            raise ConnectionError("platform refused the edit")
        return handle

    async def typing(self) -> None:
        return None

    async def confirm(self, text: str, *, yes: str, no: str, timeout: float = 180.0) -> bool:
        return False

    async def paginate(self, pages: Sequence[str], *, ephemeral: bool = False) -> None:
        return None


class CountingDeliverer:
    """Recovery's way into the bench chats: counts deliveries per chat."""

    def __init__(self) -> None:
        self.delivered: Counter[str] = Counter()

    async def deliver(self, platform: str, chat_id: str, text: str) -> None:
        self.delivered[chat_id] += 1


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def settings_for(data_dir: Path, server: FakeOpenAI) -> Settings:
    return Settings(
        data_dir=data_dir,
        llm_base_url=server.base_url,
        llm_model="fake-model",
        sections={
            "llm": {"attempt_timeout": 1.0, "turn_timeout": 6, "max_attempts": 2},
            # The bench measures the chat path, not the per-person rate limit.
            "limits": {"burst": 100_000, "per_minute": 100_000},
        },
    )


REPLIES_PER_MESSAGE = """
WITH u AS (
    SELECT id, conversation_id, msg_key,
           LEAD(id) OVER (PARTITION BY conversation_id ORDER BY id) AS next_id
    FROM messages WHERE role = 'user'
)
SELECT u.msg_key, i.status,
       (SELECT COUNT(*) FROM messages a
         WHERE a.conversation_id = u.conversation_id AND a.role = 'assistant'
           AND a.id > u.id AND (u.next_id IS NULL OR a.id < u.next_id)) AS replies
FROM u JOIN inbox i ON i.platform = 'bench' AND i.key = u.msg_key
"""


async def check(app: App, expected: int) -> dict[str, Any]:
    """Every message: exactly one stored reply (answered) or none with a pending marker."""
    rows = await app.db.fetchall(REPLIES_PER_MESSAGE)
    violations = 0
    for _key, status, replies in rows:
        ok = (status == "answered" and replies == 1) or (status == "pending" and replies == 0)
        violations += 0 if ok else 1
    return {
        "messages_stored": len(rows),
        "missing": expected - len(rows),
        "violations": violations,
        "inbox": await app.turns.status_counts(),
        "outbox": await app.outbox.status_counts(),
        "integrity": await app.db.pragma("integrity_check"),
    }


async def run(
    users: int, per_user: int, fault_rate: float, seed: int, think: float = 0.0
) -> dict[str, Any]:
    """The whole run; returns the JSON-ready result."""
    rng = random.Random(seed)
    i18n = I18n.load()
    with tempfile.TemporaryDirectory(prefix="afterglow-load-") as tmp:
        data_dir = Path(tmp) / "data"
        async with FaultyOpenAI(fault_rate, seed, reply=REPLY, chunk_chars=16) as server:
            replier = BenchReplier(rng, failure_rate=fault_rate / 10)
            latencies: list[float] = []
            app = App(settings_for(data_dir, server), i18n=i18n)
            await app.open()
            try:

                async def person(n: int) -> None:
                    user = UserRef("bench", f"u{n}", f"user {n}")
                    chat = ChatRef("bench", f"dm:{n}", "dm", "")
                    for i in range(per_user):
                        if think:
                            # People pause between messages; 0 = a closed-loop saturation run.
                            await asyncio.sleep(rng.expovariate(1.0 / think))
                        text = QUESTIONS[(n + i) % len(QUESTIONS)]
                        msg = IncomingMessage(user, chat, text, key=f"{n}:{i}")
                        start = time.perf_counter()
                        await app.router.handle_message(msg, replier)
                        latencies.append(time.perf_counter() - start)

                began = time.perf_counter()
                await asyncio.gather(*(person(n) for n in range(users)))
                elapsed = time.perf_counter() - began
                after_load = await check(app, users * per_user)
            finally:
                await app.close()

            server.fault_rate = 0.0
            restarted = App(settings_for(data_dir, server), i18n=i18n)
            await restarted.open()
            try:
                deliverer = CountingDeliverer()
                restarted.durable.register_deliverer("bench", deliverer)
                began_recovery = time.perf_counter()
                report = await restarted.durable.recover()
                recovery_seconds = time.perf_counter() - began_recovery
                after_recovery = {
                    "inbox": await restarted.turns.status_counts(),
                    "outbox": await restarted.outbox.status_counts(),
                    "integrity": await restarted.db.pragma("integrity_check"),
                }
            finally:
                await restarted.close()
    total = users * per_user
    return {
        "bench": "load",
        "users": users,
        "messages_per_user": per_user,
        "messages": total,
        "fault_rate": fault_rate,
        "think_seconds": think,
        "faults_injected": dict(server.faults),
        "platform_failures": replier.failures,
        "model_requests": len(server.requests),
        "seconds": round(elapsed, 2),
        "throughput_msgs_per_s": round(total / elapsed, 1),
        "latency_ms": {
            "p50": round(statistics.median(latencies) * 1000, 1),
            "p95": round(percentile(latencies, 0.95) * 1000, 1),
            "p99": round(percentile(latencies, 0.99) * 1000, 1),
            "max": round(max(latencies) * 1000, 1),
        },
        "after_load": after_load,
        "recovery": {
            "answered": report.answered,
            "delivered": report.delivered,
            "still_pending": report.still_pending,
            "given_up": report.given_up,
            "seconds": round(recovery_seconds, 2),
            **after_recovery,
        },
        "ok": after_load["violations"] == 0
        and after_load["missing"] == 0
        and after_load["integrity"] == "ok"
        and after_recovery["integrity"] == "ok"
        and set(after_recovery["inbox"]) <= {"answered"}
        and after_recovery["outbox"].get("pending", 0) == 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 people x 5 messages (seconds)")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--messages", type=int, default=20, help="messages per person")
    parser.add_argument("--fault-rate", type=float, default=0.05, help="share of faulty requests")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument(
        "--think", type=float, default=0.0, help="mean seconds a person pauses between messages"
    )
    args = parser.parse_args(argv)
    users, per_user = (20, 5) if args.quick else (args.users, args.messages)
    result = asyncio.run(run(users, per_user, args.fault_rate, args.seed, args.think))
    result["mode"] = "quick" if args.quick else "full"
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
