"""Files people send the bot: photos and documents as neutral `Attachment`s with capped downloads.

The size Telegram declares is checked before `getFile` is called at all; the cloud Bot API lets
bots download at most 20 MB, which is explained to the person in their language. The download
itself is streamed and stops as soon as it passes the cap, whatever was declared.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
from telegram import Bot, Message
from telegram.constants import FileSizeLimit
from telegram.error import TelegramError

from bot.core.errors import UserError
from bot.core.models import Attachment

log = logging.getLogger(__name__)

CLOUD_DOWNLOAD_CAP = int(FileSizeLimit.FILESIZE_DOWNLOAD)  # 20 MB (decimal), Bot API getFile
MB = 1024 * 1024


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f}"


class Downloader:
    """Turns file references in messages into attachments whose `fetch` enforces the caps.

    `platform_cap` is Telegram's download limit (None with a local-mode Bot API server).
    """

    def __init__(
        self, bot: Bot, http: httpx.AsyncClient, *, platform_cap: int | None = CLOUD_DOWNLOAD_CAP
    ) -> None:
        self.bot = bot
        self.http = http
        self.platform_cap = platform_cap

    def attachments(self, message: Message) -> list[Attachment]:
        """The photo (largest size) or document of `message`, if any."""
        found: list[Attachment] = []
        if message.photo:
            photo = message.photo[-1]
            found.append(
                self.attachment(
                    photo.file_id,
                    filename=f"photo_{photo.file_unique_id}.jpg",
                    size=photo.file_size or 0,
                    content_type="image/jpeg",
                )
            )
        if message.document:
            doc = message.document
            found.append(
                self.attachment(
                    doc.file_id,
                    filename=doc.file_name or f"file_{doc.file_unique_id}",
                    size=doc.file_size or 0,
                    content_type=doc.mime_type or "application/octet-stream",
                )
            )
        return found

    def attachment(
        self, file_id: str, *, filename: str, size: int, content_type: str
    ) -> Attachment:
        async def fetch(max_bytes: int) -> bytes:
            return await self.fetch(file_id, size, max_bytes)

        return Attachment(filename=filename, size=size, content_type=content_type, fetch=fetch)

    def check_size(self, size: int, max_bytes: int) -> None:
        """Refuse a size past Telegram's cap (explained) or the caller's cap."""
        if self.platform_cap is not None and size > self.platform_cap:
            raise UserError(
                "telegram.file_too_large",
                size_mb=_mb(size),
                limit_mb=self.platform_cap // 1_000_000,
            )
        if size > max_bytes:
            raise UserError("errors.file_too_large", limit_mb=max(1, max_bytes // MB))

    async def fetch(self, file_id: str, declared: int, max_bytes: int) -> bytes:
        """Download `file_id`, refusing before `getFile` when the declared size is too big."""
        self.check_size(declared, max_bytes)
        cap = max_bytes if self.platform_cap is None else min(max_bytes, self.platform_cap)
        try:
            info = await self.bot.get_file(file_id)
        except TelegramError as err:
            # "file is too big" comes back from getFile when no size was declared in the update.
            log.warning("getFile failed: %s", type(err).__name__)
            if "too big" in err.message.lower():
                raise UserError(
                    "telegram.file_too_large",
                    size_mb="?",
                    limit_mb=(self.platform_cap or CLOUD_DOWNLOAD_CAP) // 1_000_000,
                ) from None
            raise UserError("telegram.download_failed") from None
        if info.file_size:
            self.check_size(info.file_size, max_bytes)
        path = info.file_path or ""
        if self.bot.local_mode and Path(path).is_absolute():
            return await asyncio.to_thread(_read_capped, Path(path), cap, max_bytes)
        return await self._stream(path, cap, max_bytes)

    async def _stream(self, url: str, cap: int, max_bytes: int) -> bytes:
        # The URL holds the bot token: it is never logged, and errors are reported by type only.
        data = bytearray()
        try:
            async with self.http.stream("GET", url) as response:
                if response.status_code != 200:
                    log.warning("file download failed: HTTP %d", response.status_code)
                    raise UserError("telegram.download_failed")
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > cap:
                        raise UserError(
                            "errors.file_too_large", limit_mb=max(1, min(cap, max_bytes) // MB)
                        )
        except httpx.HTTPError as err:
            log.warning("file download failed: %s", type(err).__name__)
            raise UserError("telegram.download_failed") from None
        log.info("downloaded a file of %d bytes", len(data))
        return bytes(data)


def _read_capped(path: Path, cap: int, max_bytes: int) -> bytes:
    with path.open("rb") as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:
        raise UserError("errors.file_too_large", limit_mb=max(1, max_bytes // MB))
    return data
