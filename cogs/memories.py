"""Memories in direct messages: letters, single memories, imports, pins and deletion.

Every command here runs only in direct messages (`Where.DM`); this cog is the only holder of the
memory service besides the companion's DM path. Uploads are refused on their declared size before
anything is downloaded, and the download itself is capped.
"""

from __future__ import annotations

import asyncio
from typing import Final

from bot.core import Cog, Invocation, Option, OptionType, Where, command
from bot.core.errors import UserError
from bot.core.models import Attachment
from bot.services.exports import Exporter
from bot.services.files import Limits, display_name, ensure_size
from bot.services.imports.chatgpt import ConversationFilter, parse_date
from bot.services.memory import MemoryService
from bot.services.persona import PersonaService
from bot.services.privacy import PrivacyService

PAGE_SIZE: Final = 10
PREVIEW_CHARS: Final = 120
PROGRESS_SECONDS: Final = 2.0


class Memories(Cog):
    """/memory upload, /remember, /memories, /forget, /pin, /unpin, /import."""

    name = "memories"

    def __init__(
        self,
        memory: MemoryService,
        personas: PersonaService,
        exporter: Exporter,
        privacy: PrivacyService,
        *,
        max_upload_bytes: int,
    ) -> None:
        self.memory = memory
        self.personas = personas
        self.exporter = exporter
        self.privacy = privacy
        self.limits = Limits(max_file_bytes=max_upload_bytes)

    async def _download(self, attachment: Attachment) -> bytes:
        # The declared size is checked first so an oversized file is never fetched.
        ensure_size(attachment.size, self.limits.max_file_bytes)
        return await attachment.fetch(self.limits.max_file_bytes)

    @command(
        "memory",
        sub="upload",
        where=Where.DM,
        personal=True,
        options=[Option("file", OptionType.ATTACHMENT), Option("text")],
    )
    async def upload(
        self, inv: Invocation, file: Attachment | None = None, text: str | None = None
    ) -> None:
        """Upload a memory letter (.txt, .md, .docx) or paste its text."""
        if file is None and not (text and text.strip()):
            raise UserError("memory.upload_needs_input")
        handle = await inv.reply(inv.t("memory.reading"))
        if file is not None:
            data = await self._download(file)
            result = await self.memory.import_letter(
                inv.user, data, file.filename, limits=self.limits, title=file.filename[:200]
            )
            name = display_name(file.filename)
        else:
            result = await self.memory.import_letter_text(inv.user, text or "")
            name = inv.t("memory.pasted")
        await inv.replier.edit(
            handle,
            inv.t(
                "memory.letter_saved", name=name, chunks=result.chunks, characters=result.characters
            ),
        )

    @command("remember", where=Where.DM, personal=True, options=[Option("text", required=True)])
    async def remember(self, inv: Invocation, text: str = "") -> None:
        """Keep one memory."""
        memory_id = await self.memory.remember(inv.user, text)
        await inv.reply(inv.t("memory.saved", id=memory_id))

    @command("memories", where=Where.DM, personal=True)
    async def memories(self, inv: Invocation) -> None:
        """Your memories, pinned first, then newest first, in pages."""
        rows, total = await self.memory.page(inv.user, 0, size=PAGE_SIZE * 20)
        if not rows:
            await inv.reply(inv.t("memory.list_empty"))
            return
        lines = []
        for m in rows:
            preview = " ".join(m.body.split())
            if len(preview) > PREVIEW_CHARS:
                preview = preview[: PREVIEW_CHARS - 1] + "…"
            key = "memory.list_item_pinned" if m.pinned else "memory.list_item"
            lines.append(inv.t(key, id=m.id, kind=inv.t(f"memory.kind.{m.kind}"), text=preview))
        title = inv.tn("memory.list_title", total, count=total)
        pages = [
            "\n".join([title, *lines[i : i + PAGE_SIZE]]) for i in range(0, len(lines), PAGE_SIZE)
        ]
        await inv.replier.paginate(pages, ephemeral=inv.personal)

    @command("forget", where=Where.DM, personal=True, options=[Option("item", required=True)])
    async def forget(self, inv: Invocation, item: str = "") -> None:
        """Delete one memory by its number, or `all` to delete everything you have here."""
        target = item.strip().lstrip("#")
        if target.casefold() in ("all", "全部"):
            sure = await inv.replier.confirm(
                inv.t("privacy.forget_all_confirm"), yes=inv.t("core.yes"), no=inv.t("core.no")
            )
            if not sure:
                await inv.reply(inv.t("privacy.forget_all_cancelled"))
                return
            removed = await self.privacy.forget_all(inv.user)
            await inv.reply(inv.t("privacy.forget_all_done", count=removed))
            return
        if not target.isdigit():
            raise UserError("memory.bad_id")
        await self.memory.forget(inv.user, int(target))
        await inv.reply(inv.t("memory.forgotten", id=int(target)))

    @command(
        "pin",
        where=Where.DM,
        personal=True,
        options=[Option("id", OptionType.INTEGER, required=True)],
    )
    async def pin(self, inv: Invocation, id: int = 0) -> None:
        """Pin a memory: it is always in your companion's context."""
        await self.memory.pin(inv.user, id, True)
        await inv.reply(inv.t("memory.pinned", id=id))

    @command(
        "unpin",
        where=Where.DM,
        personal=True,
        options=[Option("id", OptionType.INTEGER, required=True)],
    )
    async def unpin(self, inv: Invocation, id: int = 0) -> None:
        """Unpin a memory."""
        await self.memory.pin(inv.user, id, False)
        await inv.reply(inv.t("memory.unpinned", id=id))

    @command(
        "import",
        sub="chatgpt",
        where=Where.DM,
        personal=True,
        options=[
            Option("file", OptionType.ATTACHMENT, required=True),
            Option("model"),
            Option("since"),
            Option("until"),
            Option("title"),
        ],
    )
    async def import_chatgpt(
        self,
        inv: Invocation,
        file: Attachment | None = None,
        model: str | None = None,
        since: str | None = None,
        until: str | None = None,
        title: str | None = None,
    ) -> None:
        """Import conversations from a ChatGPT data export (zip or conversations.json)."""
        if file is None:
            raise UserError("memory.upload_needs_input")
        chosen = ConversationFilter(
            title_contains=title or None,
            since=parse_date(since) if since else None,
            until=parse_date(until) if until else None,
            models=frozenset(m.strip() for m in (model or "").split(",") if m.strip()),
        )
        data = await self._download(file)
        handle = await inv.reply(inv.t("memory.reading"))
        read = [0]

        def on_progress(count: int) -> None:
            read[0] = count  # called from the parsing thread; the ticker below shows it

        async def ticker() -> None:
            shown = 0
            while True:
                await asyncio.sleep(PROGRESS_SECONDS)
                if read[0] != shown:
                    shown = read[0]
                    await inv.replier.edit(handle, inv.t("imports.progress", count=shown))

        task = asyncio.create_task(ticker())
        try:
            result = await self.memory.import_chatgpt(
                inv.user, data, chosen=chosen, limits=self.limits, on_progress=on_progress
            )
        finally:
            task.cancel()
        await inv.replier.edit(
            handle,
            inv.t(
                "imports.chatgpt.done",
                conversations=result.conversations,
                exchanges=result.turns,
                skipped=result.skipped,
            ),
        )

    @command(
        "import",
        sub="card",
        where=Where.DM,
        personal=True,
        options=[Option("file", OptionType.ATTACHMENT, required=True)],
    )
    async def import_card(self, inv: Invocation, file: Attachment | None = None) -> None:
        """Import a character card (PNG, JSON or CHARX) as a new persona."""
        if file is None:
            raise UserError("memory.upload_needs_input")
        result = await self.personas.import_card(
            inv.user, await self._download(file), limits=self.limits
        )
        await inv.reply(
            inv.t("imports.card.done", name=result.persona.name, entries=result.book_entries)
        )

    @command(
        "import",
        sub="archive",
        where=Where.DM,
        personal=True,
        options=[Option("file", OptionType.ATTACHMENT, required=True)],
    )
    async def import_archive(self, inv: Invocation, file: Attachment | None = None) -> None:
        """Restore an Afterglow export (from /export or `afterglow export`)."""
        if file is None:
            raise UserError("memory.upload_needs_input")
        data = await self._download(file)
        person = await self.memory.person(inv.user)
        result = await self.exporter.restore(person, data, self.limits)
        await inv.reply(
            inv.t("imports.archive.done", personas=result.personas, memories=result.memories)
        )
