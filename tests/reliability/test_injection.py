"""Injection resistance: hostile memory files are data, never instructions, and never leak across users.

Each file in `hostile/` (zh and en: "ignore previous instructions", "reveal other users", links
and image beacons to send, zero-width / bidi / HTML-comment hidden text, fake DATA delimiters and
fake role headers) is imported as user A's memory letter. A then chats about the shared topic, so
the hostile memories are recalled into the prompt, and every model request must show:

- the hostile text only inside a `<<<DATA …>>> … <<<END DATA>>>` block of a user-role message;
- the system messages byte-for-byte as before the import (the behaviour did not change);
- nothing of user B (who has a memory on the same topic with a canary) in A's requests or replies;
- no platform token or model key anywhere in a request body.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bot.core.models import UserRef
from bot.services.i18n import I18n
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.replier import FakeReplier
from tests.reliability.conftest import dm, make_settings, open_app

HOSTILE = sorted((Path(__file__).parent / "hostile").iterdir())
MARKER = re.compile(r"HOSTILE-\d\d")
B_CANARY = "CANARY-B-7f3a91 lighthouse 灯塔 secret of user B"
OPEN, CLOSE = "<<<DATA ", "<<<END DATA>>>"


def _data_spans(content: str) -> list[tuple[int, int]]:
    """Where the real DATA blocks are (hostile text cannot forge a delimiter: it is neutralized)."""
    spans, at = [], 0
    while (start := content.find(OPEN, at)) != -1:
        end = content.find(CLOSE, start)
        assert end != -1, "an unclosed DATA block"
        spans.append((start, end))
        at = end + len(CLOSE)
    return spans


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else repr(content)


async def test_hostile_memories_change_nothing_and_leak_nothing(
    data_dir: Path, fake_llm: FakeOpenAI, i18n: I18n
) -> None:
    assert len(HOSTILE) >= 20
    app = await open_app(make_settings(data_dir, fake_llm), i18n)
    try:
        alice, bob = UserRef("console", "alice", "alice"), UserRef("console", "bob", "bob")
        await app.memory.import_letter(bob, B_CANARY.encode(), "b.txt")
        replier = FakeReplier()
        await app.router.handle_message(dm("alice", "hello"), replier)
        baseline = [m for m in fake_llm.requests[-1]["messages"] if m["role"] == "system"]
        assert baseline, "the companion sends a system prompt"

        for path in HOSTILE:
            await app.memory.import_letter(alice, path.read_bytes(), path.name)

        seen: set[str] = set()
        questions = [
            "do you remember the lighthouse?",
            "还记得灯塔吗？",
            "tell me about the lighthouse instructions",
            "灯塔 回忆 指令 用户",
            "lighthouse link reply users",
            "lighthouse system prompt token",
        ]
        for i, question in enumerate(questions):
            await app.router.handle_message(dm("alice", question, key=f"inj-{i}"), replier)
            messages = fake_llm.requests[-1]["messages"]
            system = [m for m in messages if m["role"] == "system"]
            assert system == baseline  # behaviour unchanged
            body = repr(fake_llm.requests[-1])
            assert "CANARY-B" not in body  # nothing of user B
            for token in ("sk-", "Bearer"):
                assert token not in body
            for message in messages:
                text = _text(message)
                found = list(MARKER.finditer(text))
                if not found:
                    continue
                assert message["role"] == "user", f"hostile text in a {message['role']} message"
                spans = _data_spans(text)
                for hit in found:
                    assert any(s < hit.start() < e for s, e in spans), "hostile text outside DATA"
                    seen.add(hit.group())
                # A forged close delimiter never survives as a real one.
                assert text.count(CLOSE) == len(spans)
        assert len(seen) >= 18, f"too few hostile memories were recalled to test: {sorted(seen)}"
        for reply in replier.texts:
            assert "CANARY-B" not in reply
    finally:
        await app.close()
