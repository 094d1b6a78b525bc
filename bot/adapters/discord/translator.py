"""An `app_commands.Translator` that reads command metadata from the gettext catalogs.

Every `locale_str` the compiler builds keeps the English text as its message (Discord
dispatches by it) and carries the catalog key in its extras (`key=`). Chinese clients (zh-CN,
and zh-TW until a Traditional catalog exists) get the `zh_Hans` text; every other locale gets
None, which tells Discord to show the English default.
"""

from __future__ import annotations

import unicodedata

from discord import Locale, app_commands

from bot.services.i18n import I18n

# Discord's name rule is ^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$, lowercase where a case
# exists; the stdlib `re` has no \p{...}, so the classes are checked with unicodedata.
NAME_PUNCTUATION = frozenset("-_'")
DEVANAGARI = range(0x0900, 0x0980)
THAI = range(0x0E00, 0x0E80)
NAME_LOCATIONS = frozenset(
    {
        app_commands.TranslationContextLocation.command_name,
        app_commands.TranslationContextLocation.group_name,
        app_commands.TranslationContextLocation.parameter_name,
    }
)
DESCRIPTION_MAX = 100
CHOICE_NAME_MAX = 100
ZH_LOCALES = frozenset({Locale.chinese, Locale.taiwan_chinese})
ZH_CATALOG = "zh_Hans"


def valid_name(name: str) -> bool:
    """True when Discord accepts `name` as a command or option name."""
    if not 1 <= len(name) <= 32 or name != name.lower():
        return False
    return all(_name_char(ch) for ch in name)


def _name_char(ch: str) -> bool:
    if ch in NAME_PUNCTUATION or ord(ch) in DEVANAGARI or ord(ch) in THAI:
        return True
    return unicodedata.category(ch)[0] in ("L", "N")


def catalog_for(locale: Locale) -> str | None:
    """The catalog serving a Discord locale, or None when English (the default) applies."""
    return ZH_CATALOG if locale in ZH_LOCALES else None


class CatalogTranslator(app_commands.Translator):
    """Serves zh-CN / zh-TW names and descriptions from the `zh_Hans` catalog."""

    def __init__(self, i18n: I18n) -> None:
        self.i18n = i18n

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        return self.lookup(string, locale, context.location)

    def lookup(
        self,
        string: app_commands.locale_str,
        locale: Locale,
        location: app_commands.TranslationContextLocation,
    ) -> str | None:
        """The localized text for `string` in `locale`, or None to keep the English default."""
        catalog = catalog_for(locale)
        key = string.extras.get("key")
        if catalog is None or not isinstance(key, str):
            return None
        text = self.i18n.raw(catalog, key)
        if not text or text == string.message:
            return None
        text = text.strip()
        if location in NAME_LOCATIONS:
            # A name Discord would refuse makes the whole sync fail: keep English instead.
            return text if valid_name(text) else None
        if location is app_commands.TranslationContextLocation.choice_name:
            return text[:CHOICE_NAME_MAX]
        return text[:DESCRIPTION_MAX]
