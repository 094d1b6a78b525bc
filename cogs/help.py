"""/help and /about: what the bot can do here, and what it is."""

from __future__ import annotations

from bot.core import Cog, Invocation, Registry, Where, command


class Help(Cog):
    """Lists the commands usable in the current chat, in the person's language."""

    name = "help"

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    @command("help", where=Where.BOTH)
    async def help(self, inv: Invocation) -> None:
        """Show the commands available here."""
        lines = [inv.t("help.title"), ""]
        for cmd in self.registry:
            spec = cmd.spec
            if spec.hidden or not spec.allowed_in(inv.chat.kind):
                continue
            if spec.admin and not inv.chat.is_dm and not inv.is_admin:
                continue
            lines.append(f"/{spec.qualified} — {inv.t(spec.key + '.description')}")
        lines += ["", inv.t("help.footer")]
        await inv.reply("\n".join(lines))

    @command("about", where=Where.BOTH)
    async def about(self, inv: Invocation) -> None:
        """Say what Afterglow is, that it is an AI, and where the safety and privacy notes live."""
        await inv.reply(inv.t("about.text"))
