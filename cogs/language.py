"""/language: a person's language, or a group's default when an admin sets it there."""

from __future__ import annotations

from bot.core import Cog, Invocation, Option, OptionType, Where, command
from bot.services.i18n import normalize_locale
from bot.services.storage.users import Users

CHOICES = ("en", "zh")


class Language(Cog):
    """Stores language choices; the router reads them for every invocation."""

    name = "language"

    def __init__(self, users: Users) -> None:
        self.users = users

    @command(
        "language",
        where=Where.BOTH,
        options=[Option("code", OptionType.STRING, choices=CHOICES)],
    )
    async def language(self, inv: Invocation, code: str | None = None) -> None:
        """Show or change the language (an admin in a group sets the group's default)."""
        if code is None:
            await inv.reply(
                inv.t("language.current", language=inv.t(f"language.name.{inv.locale}"))
            )
            return
        locale = normalize_locale(code) or "en"
        if not inv.chat.is_dm and inv.is_admin:
            await self.users.set_chat_locale(inv.chat.platform, inv.chat.id, "group", locale)
            key = "language.group_set"
        else:
            person = await self.users.resolve(inv.user.platform, inv.user.id, inv.user.name)
            await self.users.set_person_locale(person, locale)
            key = "language.set"
        name = inv.i18n.t(locale, f"language.name.{locale}")
        await inv.reply(inv.i18n.t(locale, key, language=name))
