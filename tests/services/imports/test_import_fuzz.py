"""Bounded fuzzing: every importer either parses or raises the documented `UserError`."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.errors import UserError
from bot.services.files import SafeZip, decode_text
from bot.services.imports.card import read_card
from bot.services.imports.chatgpt import iter_conversations
from bot.services.imports.letter import chunk_letter, read_letter
from tests.fakes.cards import b64, charx, png, v2, v3
from tests.fakes.chatgpt_export import conversation, export_zip

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
SEEDS = [
    png({"chara": b64(v2()), "ccv3": b64(v3())}),
    charx(v3()),
    export_zip([conversation("c", "t", 1.7e9, [("user", "hi"), ("assistant", "嗨")])], shards=2),
    json.dumps([conversation("c", "t", 1.7e9, [("user", "hi")])]).encode(),
    "我还记得那年冬天。\n你说过会一直在。".encode("gb18030"),
]


def _mutated() -> st.SearchStrategy[bytes]:
    """Valid seeds with a byte flipped, truncated or spliced, plus raw noise."""

    def mutate(seed: bytes, pos: int, byte: int, cut: int) -> bytes:
        pos %= max(len(seed), 1)
        flipped = seed[:pos] + bytes([byte]) + seed[pos + 1 :]
        return flipped[: max(cut % (len(seed) + 1), 1)] if cut % 3 == 0 else flipped

    return st.one_of(
        st.binary(max_size=512),
        st.builds(
            mutate,
            st.sampled_from(SEEDS),
            st.integers(0, 1 << 20),
            st.integers(0, 255),
            st.integers(0, 1 << 20),
        ),
    )


def _only_user_errors(parse: Callable[[bytes], Any], data: bytes) -> None:
    try:
        parse(data)
    except UserError as err:
        assert err.key.startswith(("files.", "imports.")), err.key


@FUZZ
@given(_mutated())
def test_card_reader_fuzz(data: bytes) -> None:
    _only_user_errors(read_card, data)


@FUZZ
@given(_mutated())
def test_chatgpt_reader_fuzz(data: bytes) -> None:
    _only_user_errors(lambda d: list(iter_conversations(d)), data)


@FUZZ
@given(_mutated())
def test_letter_reader_fuzz(data: bytes) -> None:
    _only_user_errors(lambda d: chunk_letter(read_letter(d, "x.txt")), data)


@FUZZ
@given(_mutated())
def test_zip_and_text_fuzz(data: bytes) -> None:
    def both(d: bytes) -> None:
        try:
            with SafeZip(d) as archive:
                for name in archive.names():
                    archive.read(name)
        finally:
            decode_text(d)

    _only_user_errors(both, data)


@FUZZ
@given(st.text(max_size=3000))
def test_chunker_keeps_every_character(text: str) -> None:
    chunks = chunk_letter(text, min_tokens=20, max_tokens=60)
    joined = "".join(c.text for c in chunks)
    assert "".join(joined.split()) == "".join(text.split())


def test_chatgpt_stream_memory_stays_flat(tmp_path: Path) -> None:
    """An ~8 MB export is parsed with far less than 8 MB of Python memory at peak."""
    path = tmp_path / "conversations.json"
    turns = [("user", "今天也想你。" * 20), ("assistant", "我一直都在。" * 20)] * 10
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        for i in range(400):
            out.write("," if i else "")
            json.dump(conversation(f"c{i}", f"t{i}", 1.7e9 + i, turns), out, ensure_ascii=False)
        out.write("]")
    size = path.stat().st_size
    assert size > 6_000_000
    tracemalloc.start()
    count = sum(1 for _ in iter_conversations(path))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 400
    assert peak < size / 4, (peak, size)
