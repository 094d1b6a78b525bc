"""/export and /link in direct messages: take everything with you; join your accounts."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core import Cog, Invocation, Option, Where, command
from bot.core.models import OutFile
from bot.services.exports import Exporter
from bot.services.memory import MemoryService
from bot.services.privacy import LINK_TTL, PrivacyService


class Privacy(Cog):
    """Data portability and cross-platform identity; direct messages only."""

    name = "privacy"

    def __init__(self, memory: MemoryService, exporter: Exporter, privacy: PrivacyService) -> None:
        self.memory = memory
        self.exporter = exporter
        self.privacy = privacy

    @command("export", where=Where.DM, personal=True)
    async def export(self, inv: Invocation) -> None:
        """Everything you have here as one zip: JSON, a readable copy, your personas as cards."""
        person = await self.memory.person(inv.user)
        data = await self.exporter.export_bytes(person)
        name = f"afterglow-export-{datetime.now(UTC):%Y%m%d}.zip"
        await inv.reply(inv.t("privacy.export_ready"), files=[OutFile(data, name)])

    @command("link", where=Where.DM, personal=True, options=[Option("code")])
    async def link(self, inv: Invocation, code: str | None = None) -> None:
        """Without a code: get one. With a code from your other account: join the two."""
        if not code:
            new_code = await self.privacy.link_code(inv.user)
            await inv.reply(inv.t("privacy.link_code", code=new_code, minutes=int(LINK_TTL // 60)))
            return
        await self.privacy.link(inv.user, code)
        await inv.reply(inv.t("privacy.linked"))
