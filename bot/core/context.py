"""What a cog handler receives: the invocation, the person, the chat, and a way to answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bot.core.models import (
    Attachment,
    Button,
    ChatRef,
    IncomingMessage,
    MessageHandle,
    OutFile,
    UserRef,
)

if TYPE_CHECKING:
    from bot.services.i18n import I18n


class Replier(Protocol):
    """How an adapter answers in the chat an event came from.

    `max_length` is the platform's message limit (the renderer splits there) and
    `edit_interval` the minimum seconds between edits of one message while streaming.
    A replier may set `private_errors = True` when its platform shows ephemeral replies
    in place (Discord); the router then keeps every error reply private.
    """

    max_length: int
    edit_interval: float

    async def send(
        self,
        text: str,
        *,
        ephemeral: bool = False,
        buttons: Sequence[Button] = (),
        files: Sequence[OutFile] = (),
        target: str | None = None,
    ) -> MessageHandle:
        """Send a new message (to `target`, a chat id on the same platform, when given)."""
        ...

    async def edit(
        self, handle: MessageHandle, text: str, *, buttons: Sequence[Button] | None = None
    ) -> None:
        """Replace the text of a message sent earlier (streaming, counters on cards)."""
        ...

    async def finish(self, handle: MessageHandle, text: str) -> MessageHandle:
        """Settle a streamed message on its final text (Telegram drafts become a real message)."""
        ...

    async def typing(self) -> None:
        """Show a typing indicator for a few seconds."""
        ...

    async def confirm(self, text: str, *, yes: str, no: str, timeout: float = 180.0) -> bool:
        """Ask a yes/no question only the invoking person can answer; False on timeout."""
        ...

    async def paginate(self, pages: Sequence[str], *, ephemeral: bool = False) -> None:
        """Show pages with previous/next controls only the invoking person can press."""
        ...


@dataclass(slots=True)
class Invocation:
    """One command call, already routed: who, where, in which language, with which options."""

    command: str
    user: UserRef
    chat: ChatRef
    locale: str
    replier: Replier
    i18n: I18n
    options: dict[str, Any] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()
    is_admin: bool = False
    personal: bool = False
    bot_username: str = ""

    def t(self, key: str, **params: Any) -> str:
        """The catalog message `key` in this invocation's language."""
        return self.i18n.t(self.locale, key, **params)

    def tn(self, key: str, n: int, **params: Any) -> str:
        """The plural-aware catalog message `key` for count `n`."""
        return self.i18n.tn(self.locale, key, n, **params)

    async def reply(
        self,
        text: str,
        *,
        ephemeral: bool | None = None,
        buttons: Sequence[Button] = (),
        files: Sequence[OutFile] = (),
    ) -> MessageHandle:
        """Answer in the invoking chat; personal commands answer ephemerally in groups."""
        hidden = self.personal if ephemeral is None else ephemeral
        return await self.replier.send(text, ephemeral=hidden, buttons=buttons, files=files)


@dataclass(slots=True)
class MessageContext:
    """A plain message routed to an `@on_message` handler."""

    message: IncomingMessage
    locale: str
    replier: Replier
    i18n: I18n
    bot_username: str = ""

    @property
    def user(self) -> UserRef:
        return self.message.user

    @property
    def chat(self) -> ChatRef:
        return self.message.chat

    def t(self, key: str, **params: Any) -> str:
        return self.i18n.t(self.locale, key, **params)

    def tn(self, key: str, n: int, **params: Any) -> str:
        return self.i18n.tn(self.locale, key, n, **params)


@dataclass(slots=True)
class ButtonContext:
    """A press on a persistent button; `payload` is the part of `custom_id` after the prefix."""

    user: UserRef
    chat: ChatRef
    payload: str
    handle: MessageHandle
    locale: str
    replier: Replier
    i18n: I18n
    is_admin: bool = False
    # The adapter shows this short text to the presser only (a toast on Telegram, ephemeral on Discord).
    notice: str | None = None

    def t(self, key: str, **params: Any) -> str:
        return self.i18n.t(self.locale, key, **params)

    def tn(self, key: str, n: int, **params: Any) -> str:
        return self.i18n.tn(self.locale, key, n, **params)
