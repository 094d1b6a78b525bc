"""Neutral message types shared by every adapter and every cog."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

Platform = Literal["discord", "telegram", "console"]
ChatKind = Literal["dm", "group"]


@dataclass(frozen=True, slots=True)
class UserRef:
    """A person as one platform knows them."""

    platform: str
    id: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class ChatRef:
    """A place messages are exchanged: a direct message or a group (server channel, Telegram group)."""

    platform: str
    id: str
    kind: ChatKind
    title: str = ""

    @property
    def is_dm(self) -> bool:
        return self.kind == "dm"


Fetch = Callable[[int], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to a message; `fetch(max_bytes)` downloads it, refusing past the cap.

    `size` is what the platform declared, so callers can refuse before downloading anything.
    """

    filename: str
    size: int
    content_type: str
    fetch: Fetch


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A plain (non-command) message that reached the bot.

    `key` is unique per platform message (used to drop re-deliveries); `addressed` is true for a
    direct message, a mention of the bot, or a reply to one of its messages.
    """

    user: UserRef
    chat: ChatRef
    text: str
    key: str
    attachments: tuple[Attachment, ...] = ()
    locale_hint: str | None = None
    addressed: bool = True


@dataclass(frozen=True, slots=True)
class Button:
    """A neutral button; `custom_id` is `prefix:payload` and routes to an `@on_button(prefix)`."""

    label: str
    custom_id: str


@dataclass(frozen=True, slots=True)
class OutFile:
    """A file the bot sends (an export, a memorial image)."""

    data: bytes
    filename: str
    is_image: bool = False


@dataclass(slots=True)
class MessageHandle:
    """An adapter's reference to a message it sent, so it can be edited later."""

    chat_id: str
    message_id: str
    extra: dict[str, object] = field(default_factory=dict)
