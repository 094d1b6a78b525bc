"""Turn discord.py objects into the neutral models the core understands.

Attachments are downloaded only when a handler asks: the declared size is checked against the
cap first (nothing is fetched for an oversized file), then the body is streamed and cut off as
soon as it passes the cap, in case the declared size was a lie.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import discord

from bot.core.errors import UserError
from bot.core.models import Attachment, ChatRef, UserRef

PLATFORM = "discord"
MIB = 1024 * 1024
CHUNK = 64 * 1024
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=120, sock_connect=15)


def user_ref(user: discord.abc.User) -> UserRef:
    """A Discord user as a neutral person reference (display name, never a mention)."""
    return UserRef(PLATFORM, str(user.id), user.display_name)


def chat_of(channel_id: int | None, guild: discord.Guild | None, channel: Any = None) -> ChatRef:
    """A DM channel, or a server: the whole server is one neutral group.

    A server keeps one memorial wall and one default language, whichever channel a command
    is used in; replies still go to the channel the command came from.
    """
    if guild is None:
        return ChatRef(PLATFORM, str(channel_id or 0), "dm")
    name = getattr(channel, "name", None)
    server = guild.name or ""
    title = f"{server} #{name}" if name else server
    return ChatRef(PLATFORM, str(guild.id), "group", title)


def too_large(max_bytes: int) -> UserError:
    """The localized refusal for a file past the cap."""
    return UserError("errors.file_too_large", limit_mb=max(1, max_bytes // MIB))


async def download_capped(url: str, max_bytes: int) -> bytes:
    """GET `url`, streaming, and refuse as soon as the body passes `max_bytes`."""
    async with (
        aiohttp.ClientSession(timeout=DOWNLOAD_TIMEOUT) as session,
        session.get(url) as response,
    ):
        response.raise_for_status()
        if response.content_length is not None and response.content_length > max_bytes:
            raise too_large(max_bytes)
        data = bytearray()
        async for chunk in response.content.iter_chunked(CHUNK):
            data += chunk
            if len(data) > max_bytes:
                raise too_large(max_bytes)
        return bytes(data)


def to_attachment(att: discord.Attachment) -> Attachment:
    """A Discord attachment whose `fetch(max_bytes)` checks the declared size before any download."""
    url = att.url
    declared = int(att.size)

    async def fetch(max_bytes: int) -> bytes:
        if declared > max_bytes:
            raise too_large(max_bytes)
        # The CDN URL is signed and expires; handlers fetch while handling the event.
        return await download_capped(url, max_bytes)

    return Attachment(
        filename=att.filename,
        size=declared,
        content_type=att.content_type or "application/octet-stream",
        fetch=fetch,
    )


def strip_mentions(text: str, bot_id: int) -> str:
    """Remove mentions of the bot itself from a message addressed to it."""
    return re.sub(rf"<@!?{bot_id}>", "", text).strip()


def convert_options(options: dict[str, Any]) -> dict[str, Any]:
    """Slash-command option values as neutral values; unset options are left out."""
    result: dict[str, Any] = {}
    for name, value in options.items():
        if value is None:
            continue
        result[name] = to_attachment(value) if isinstance(value, discord.Attachment) else value
    return result
