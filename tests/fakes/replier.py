"""A recording Replier for tests: every send, edit and finish, in order."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.core.models import Button, MessageHandle, OutFile


@dataclass
class Sent:
    text: str
    ephemeral: bool = False
    buttons: tuple[Button, ...] = ()
    files: tuple[OutFile, ...] = ()
    target: str | None = None
    edits: list[str] = field(default_factory=list)
    final: str | None = None

    @property
    def shown(self) -> str:
        """What the person sees now."""
        if self.final is not None:
            return self.final
        return self.edits[-1] if self.edits else self.text


class FakeReplier:
    """Records what the bot would show; `confirm_answer` scripts yes/no questions."""

    def __init__(self, max_length: int = 2000, edit_interval: float = 0.0) -> None:
        self.max_length = max_length
        self.edit_interval = edit_interval
        self.sent: list[Sent] = []
        self.log: list[tuple[str, str]] = []
        self.typing_calls = 0
        self.confirm_answer = True
        self.pages: list[list[str]] = []
        self._ids = itertools.count(1)
        self._by_id: dict[str, Sent] = {}

    @property
    def texts(self) -> list[str]:
        return [s.shown for s in self.sent]

    async def send(
        self,
        text: str,
        *,
        ephemeral: bool = False,
        buttons: Sequence[Button] = (),
        files: Sequence[OutFile] = (),
        target: str | None = None,
    ) -> MessageHandle:
        sent = Sent(text, ephemeral, tuple(buttons), tuple(files), target)
        handle = MessageHandle("chat", str(next(self._ids)))
        self.sent.append(sent)
        self._by_id[handle.message_id] = sent
        self.log.append(("send", text))
        return handle

    async def edit(
        self, handle: MessageHandle, text: str, *, buttons: Sequence[Button] | None = None
    ) -> None:
        self._by_id[handle.message_id].edits.append(text)
        self.log.append(("edit", text))

    async def finish(self, handle: MessageHandle, text: str) -> MessageHandle:
        self._by_id[handle.message_id].final = text
        self.log.append(("finish", text))
        return handle

    async def typing(self) -> None:
        self.typing_calls += 1

    async def confirm(self, text: str, *, yes: str, no: str, timeout: float = 180.0) -> bool:
        self.log.append(("confirm", text))
        return self.confirm_answer

    async def paginate(self, pages: Sequence[str], *, ephemeral: bool = False) -> None:
        self.pages.append(list(pages))
        self.log.append(("paginate", "\n".join(pages)))


def chat_replies(texts: Sequence[str]) -> list[str]:
    """`texts` without the care pipeline's first-contact AI disclosure (safety-research §7 B1).

    Every new person's first chat turn starts with that notice; tests of other features that
    compare a turn's exact replies use this to look past it.
    """
    from bot.services.i18n import I18n

    i18n = I18n.load()
    notices = {i18n.t(locale, "care.disclosure.first") for locale in ("en", "zh_Hans")}
    return [t for t in texts if t not in notices]
