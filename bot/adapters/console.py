"""The console adapter: `afterglow chat` reads stdin line by line and prints replies as they stream.

A line starting with `/` runs a command through the same registry the platforms use; any other
line goes to the chat path. Words that name an existing file become attachments; `/press ID`
presses a button shown as `[label] /press ID`.
"""

from __future__ import annotations

import itertools
import mimetypes
import os
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TextIO

from bot.core.errors import UserError
from bot.core.models import (
    Attachment,
    Button,
    ChatRef,
    IncomingMessage,
    MessageHandle,
    OutFile,
    UserRef,
)
from bot.core.router import Router
from bot.services.i18n import I18n

ReadLine = Callable[[], Awaitable[str | None]]

YES = {"y", "yes", "是", "好", "确认", "ok"}


class ConsoleReplier:
    """Prints to a text stream; streamed edits print only the newly arrived text."""

    max_length = 100_000
    edit_interval = 0.0

    def __init__(self, out: TextIO, read_line: ReadLine, out_dir: Path, i18n: I18n, locale: str):
        self.out = out
        self.read_line = read_line
        self.out_dir = out_dir
        self.i18n = i18n
        self.locale = locale
        self._ids = itertools.count(1)
        self._texts: dict[str, str] = {}
        self._open: str | None = None

    def _end_line(self) -> None:
        if self._open is not None:
            self.out.write("\n")
            self._open = None
        self.out.flush()

    def flush(self) -> None:
        """Terminate a half-printed streamed line (end of a turn)."""
        self._end_line()

    async def send(
        self,
        text: str,
        *,
        ephemeral: bool = False,
        buttons: Sequence[Button] = (),
        files: Sequence[OutFile] = (),
        target: str | None = None,
    ) -> MessageHandle:
        self._end_line()
        message_id = str(next(self._ids))
        prefix = f"[→ {target}] " if target else ""
        self.out.write(prefix + text)
        self._texts[message_id] = text
        self._open = message_id
        for item in files:
            self._end_line()
            self.out.write(f"📎 {self._save(item)}")
            self._open = message_id
        self._print_buttons(buttons)
        self.out.flush()
        return MessageHandle(chat_id=target or "console", message_id=message_id)

    def _print_buttons(self, buttons: Sequence[Button]) -> None:
        if buttons:
            self._end_line()
            self.out.write("  ".join(f"[{b.label}] /press {b.custom_id}" for b in buttons))
            self._open = "buttons"

    def _save(self, item: OutFile) -> Path:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        # Never trust a generated name to be a safe path: keep only its final component.
        path = self.out_dir / Path(item.filename).name
        path.write_bytes(item.data)
        return path

    async def edit(
        self, handle: MessageHandle, text: str, *, buttons: Sequence[Button] | None = None
    ) -> None:
        old = self._texts.get(handle.message_id, "")
        if self._open == handle.message_id and text.startswith(old):
            self.out.write(text[len(old) :])
        else:
            self._end_line()
            self.out.write("✎ " + text)
            self._open = handle.message_id
        self._texts[handle.message_id] = text
        if buttons:
            self._print_buttons(buttons)
        self.out.flush()

    async def finish(self, handle: MessageHandle, text: str) -> MessageHandle:
        await self.edit(handle, text)
        self._end_line()
        return handle

    async def typing(self) -> None:
        return None

    async def confirm(self, text: str, *, yes: str, no: str, timeout: float = 180.0) -> bool:
        self._end_line()
        self.out.write(f"{text} [{yes} / {no}]\n")
        self.out.flush()
        answer = await self.read_line()
        return answer is not None and answer.strip().lower() in YES | {yes.lower()}

    async def paginate(self, pages: Sequence[str], *, ephemeral: bool = False) -> None:
        self._end_line()
        total = len(pages)
        for i, page in enumerate(pages, 1):
            if total > 1:
                self.out.write(self.i18n.t(self.locale, "core.page", page=i, total=total) + "\n")
            self.out.write(page + "\n")
        self.out.flush()


class ConsoleSession:
    """One console user talking to the bot, in a DM or in a pretend group."""

    def __init__(
        self,
        router: Router,
        i18n: I18n,
        *,
        user: str,
        locale: str | None,
        out: TextIO,
        read_line: ReadLine,
        group: str | None = None,
        admin: bool = False,
        out_dir: Path = Path("afterglow-out"),
        max_upload_bytes: int = 20 * 1024 * 1024,
    ) -> None:
        self.router = router
        self.user = UserRef("console", user, user)
        self.chat = (
            ChatRef("console", group, "group", group)
            if group
            else ChatRef("console", f"dm:{user}", "dm", user)
        )
        self.locale_hint = locale
        self.admin = admin
        self.read_line = read_line
        self.max_upload_bytes = max_upload_bytes
        self.replier = ConsoleReplier(out, read_line, out_dir, i18n, locale or "en")

    async def run(self) -> None:
        """Handle lines until end of input."""
        while True:
            line = await self.read_line()
            if line is None:
                break
            await self.handle_line(line.rstrip("\r\n"))
        self.replier.flush()

    async def handle_line(self, line: str) -> None:
        """One line of input: a command, a button press, or a message."""
        if not line.strip():
            return
        self.replier.locale = await self.router.locale_for(self.user, self.chat, self.locale_hint)
        try:
            if line.startswith("/press "):
                notice = await self.router.press(
                    self.user,
                    self.chat,
                    line[len("/press ") :].strip(),
                    MessageHandle("console", "0"),
                    self.replier,
                    locale_hint=self.locale_hint,
                    is_admin=self.admin,
                )
                if notice:
                    await self.replier.send(notice)
            elif line.startswith("/"):
                text, attachments = self._extract_files(line)
                handled = await self.router.run_text(
                    self.user,
                    self.chat,
                    text,
                    self.replier,
                    attachments=attachments,
                    locale_hint=self.locale_hint,
                    is_admin=self.admin or self.chat.is_dm,
                )
                if not handled:
                    await self.replier.send(
                        self.router.i18n.t(self.replier.locale, "errors.unknown_command")
                    )
            else:
                text, attachments = self._extract_files(line)
                await self.router.handle_message(
                    IncomingMessage(
                        user=self.user,
                        chat=self.chat,
                        text=text,
                        key=f"console:{uuid.uuid4().hex}",
                        attachments=tuple(attachments),
                        locale_hint=self.locale_hint,
                        addressed=True,
                    ),
                    self.replier,
                )
        finally:
            self.replier.flush()

    def _extract_files(self, line: str) -> tuple[str, list[Attachment]]:
        words, attachments = [], []
        for word in line.split(" "):
            path = Path(word[1:] if word.startswith("@") else word).expanduser()
            if word and (word.startswith("@") or os.sep in word) and path.is_file():
                attachments.append(file_attachment(path))
            else:
                words.append(word)
        return " ".join(words), attachments


def file_attachment(path: Path) -> Attachment:
    """A local file as an Attachment whose fetch enforces the byte cap."""
    size = path.stat().st_size

    async def fetch(max_bytes: int) -> bytes:
        if size > max_bytes:
            raise UserError("errors.file_too_large", limit_mb=max_bytes // (1024 * 1024))
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise UserError("errors.file_too_large", limit_mb=max_bytes // (1024 * 1024))
        return data

    return Attachment(filename=path.name, size=size, content_type=_guess_type(path), fetch=fetch)


def _guess_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"
