"""Render an async stream of text through a Replier: send, throttled edits, splits, final settle."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from bot.core.context import Replier
from bot.core.models import MessageHandle

Clock = Callable[[], float]

# Where to prefer splitting a long message, best first.
_BREAKS = ("\n\n", "\n", "。", "！", "？", ". ", "! ", "? ", "；", "; ", "，", ", ", " ")
TYPING_REFRESH = 4.0


def split_text(text: str, limit: int) -> list[str]:
    """Split `text` into pieces of at most `limit` characters at the nicest boundary available."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = _best_cut(rest, limit)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ")
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def _best_cut(text: str, limit: int) -> int:
    window = text[:limit]
    # A boundary in the first half would leave a tiny message; prefer a hard cut then.
    for mark in _BREAKS:
        at = window.rfind(mark)
        if at >= limit // 2:
            return at + len(mark)
    return limit


class StreamRenderer:
    """Streams text into one message at a time, editing at most every `replier.edit_interval` s.

    When the text outgrows `replier.max_length`, the current message is settled and a new one
    continues. A typing indicator runs until the first text arrives.
    """

    def __init__(self, replier: Replier, *, clock: Clock = time.monotonic) -> None:
        self.replier = replier
        self.clock = clock
        self.handle: MessageHandle | None = None
        self.settled: list[str] = []
        self.current = ""
        self._shown = ""
        self._last_edit = float("-inf")

    @property
    def text(self) -> str:
        """Everything received so far."""
        return "".join(self.settled) + self.current

    async def feed(self, chunk: str) -> None:
        """Add a chunk; sends or edits when the throttle allows."""
        if not chunk:
            return
        self.current += chunk
        limit = self.replier.max_length
        while len(self.current) > limit:
            cut = _best_cut(self.current, limit)
            head, self.current = self.current[:cut], self.current[cut:]
            await self._settle(head)
        await self._maybe_edit()

    async def _settle(self, text: str) -> None:
        shown = text.rstrip() or text
        if self.handle is None:
            self.handle = await self.replier.send(shown)
        await self.replier.finish(self.handle, shown)
        self.settled.append(text)
        self.handle = None
        self._shown = ""
        self._last_edit = float("-inf")

    async def _maybe_edit(self) -> None:
        now = self.clock()
        if not self.current.strip() or now - self._last_edit < self.replier.edit_interval:
            return
        if self.handle is None:
            self.handle = await self.replier.send(self.current)
        elif self.current != self._shown:
            await self.replier.edit(self.handle, self.current)
        self._shown = self.current
        self._last_edit = now

    async def close(self, suffix: str = "") -> str:
        """Settle the last message (with an optional marker appended); returns the full text."""
        if suffix:
            self.current += suffix
        if self.current.strip():
            final = self.current.rstrip()
            if self.handle is None:
                self.handle = await self.replier.send(final)
            self.handle = await self.replier.finish(self.handle, final)
        return self.text


async def render_stream(
    chunks: AsyncIterator[str], replier: Replier, *, clock: Clock = time.monotonic
) -> str:
    """Render a whole stream; returns the full text. Exceptions propagate after what arrived is shown."""
    renderer = StreamRenderer(replier, clock=clock)
    with contextlib.suppress(Exception):
        await replier.typing()
    typing = asyncio.create_task(_keep_typing(replier))
    try:
        async for chunk in chunks:
            if not typing.done():
                typing.cancel()
            await renderer.feed(chunk)
    finally:
        typing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await typing
        await renderer.close()
    return renderer.text


async def _keep_typing(replier: Replier) -> None:
    # Platforms drop the indicator after ~5 s, so refresh it until the first token arrives.
    while True:
        await asyncio.sleep(TYPING_REFRESH)
        with contextlib.suppress(Exception):
            await replier.typing()
