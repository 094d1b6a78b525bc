"""The streaming renderer: throttled edits with a fake clock, splitting at the platform limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

from bot.core.streaming import StreamRenderer, render_stream, split_text
from tests.fakes.replier import FakeReplier


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_edits_are_throttled_to_the_interval() -> None:
    clock = FakeClock()
    replier = FakeReplier(max_length=2000, edit_interval=1.2)
    r = StreamRenderer(replier, clock=clock)
    for i in range(10):  # ten chunks, 0.5 s apart → 5 s of streaming
        await r.feed(f"w{i} ")
        clock.now += 0.5
    await r.close()
    kinds = [k for k, _ in replier.log]
    assert kinds[0] == "send" and kinds[-1] == "finish"
    # Edits at t=1.5, 3.0, 4.5 (≥1.2 s apart) — not one per chunk.
    assert kinds.count("edit") == 3
    assert replier.sent[0].shown == "".join(f"w{i} " for i in range(10)).rstrip()


async def test_long_stream_is_split_at_the_limit_on_a_boundary() -> None:
    replier = FakeReplier(max_length=50, edit_interval=0.0)
    sentences = [f"Sentence number {i}. " for i in range(12)]

    async def gen() -> AsyncIterator[str]:
        for s in sentences:
            yield s

    text = await render_stream(gen(), replier)
    assert text == "".join(sentences)
    assert len(replier.sent) > 1
    assert all(len(s.shown) <= 50 for s in replier.sent)
    assert all(s.shown.endswith(".") for s in replier.sent)
    assert "".join(s.shown.replace(".", ". ") for s in replier.sent).split() == text.split()


async def test_typing_shows_until_first_token() -> None:
    replier = FakeReplier()

    async def gen() -> AsyncIterator[str]:
        yield "hi"

    await render_stream(gen(), replier)
    assert replier.typing_calls >= 1
    assert replier.texts == ["hi"]


def test_split_text_prefers_chinese_sentence_ends() -> None:
    text = "我记得那天下雨。" * 10
    parts = split_text(text, 30)
    assert all(len(p) <= 30 for p in parts)
    assert all(p.endswith("。") for p in parts)
    assert "".join(parts) == text


def test_split_text_hard_cuts_when_no_boundary() -> None:
    parts = split_text("x" * 95, 40)
    assert [len(p) for p in parts] == [40, 40, 15]
