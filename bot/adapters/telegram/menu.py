"""The Telegram `/` menu and profile texts: built, printed as JSON, published only when changed.

Telegram shows a `/` menu per chat type and per user language. Command names are fixed ASCII;
only descriptions are localized (at most 256 characters, `commands.<name>.description`).
Menus exist for the default language list and for `en` and `zh` (Telegram wants ISO 639-1
codes), each in three scopes: default, all private chats and all group chats. The bot's
description (shown before `/start`) and short description come from the catalogs too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from bot.core.commands import Registry, Where
from bot.services.i18n import I18n

log = logging.getLogger(__name__)

#: Telegram language code ("" is the fallback list) → catalog locale.
MENU_LANGUAGES: dict[str, str] = {"default": "en", "en": "en", "zh": "zh_Hans"}
#: Scope name in the JSON form → which chats it covers.
SCOPES: dict[str, Where] = {
    "default": Where.BOTH,
    "all_private_chats": Where.DM,
    "all_group_chats": Where.GROUP,
}
MAX_DESCRIPTION = 256
MAX_COMMANDS = 100
#: The bot's profile texts: shown in the empty chat before /start, and on the profile page.
ABOUT_KEYS = {
    "description": ("telegram.bot.description", 512),
    "short": ("telegram.bot.short", 120),
}

Menu = list[tuple[str, str]]


def _visible_names(registry: Registry, where: Where) -> list[str]:
    """Top-level names with at least one visible command usable in `where`."""
    names = []
    for name in registry.top_level():
        cmds = registry.subcommands(name) or [registry.commands[name]]
        if any(not c.spec.hidden and c.spec.where & where for c in cmds):
            names.append(name)
    return names[:MAX_COMMANDS]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _description(i18n: I18n, locale: str, name: str) -> str:
    text = " ".join(i18n.t(locale, f"commands.{name}.description").split()) or name
    return _cut(text, MAX_DESCRIPTION)


def build_profile(i18n: I18n, default_locale: str = "en") -> dict[str, dict[str, str]]:
    """The bot's description and short description per language key (`default`, `en`, `zh`)."""
    languages = dict(MENU_LANGUAGES, default=default_locale)
    return {
        lang: {kind: _cut(i18n.t(locale, key), limit) for kind, (key, limit) in ABOUT_KEYS.items()}
        for lang, locale in languages.items()
    }


def build_scoped_menus(
    registry: Registry, i18n: I18n, default_locale: str = "en"
) -> dict[str, dict[str, Menu]]:
    """Every menu: scope name → language key (`default`, `en`, `zh`) → [(name, description)]."""
    languages = dict(MENU_LANGUAGES, default=default_locale)
    return {
        scope: {
            lang: [(n, _description(i18n, locale, n)) for n in _visible_names(registry, where)]
            for lang, locale in languages.items()
        }
        for scope, where in SCOPES.items()
    }


def build_menus(registry: Registry, i18n: I18n, default_locale: str = "en") -> dict[str, Menu]:
    """The default-scope menus: `default`, `en` and `zh` → [(name, description)]."""
    return build_scoped_menus(registry, i18n, default_locale)["default"]


def menu_hash(scoped: dict[str, dict[str, Menu]], profile: dict[str, dict[str, str]]) -> str:
    """A stable digest of every menu and profile text, to skip publishing when nothing changed."""
    blob = json.dumps([scoped, profile], ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def menu_payload(registry: Registry, i18n: I18n, default_locale: str = "en") -> dict[str, Any]:
    """The JSON form printed by `afterglow commands --platform telegram --json`."""
    scoped = build_scoped_menus(registry, i18n, default_locale)
    profile = build_profile(i18n, default_locale)

    def rows(menu: Menu) -> list[dict[str, str]]:
        return [{"command": n, "description": d} for n, d in menu]

    return {
        "platform": "telegram",
        "menus": {lang: rows(menu) for lang, menu in scoped["default"].items()},
        "scopes": {
            scope: {lang: rows(menu) for lang, menu in menus.items()}
            for scope, menus in scoped.items()
        },
        "profile": profile,
        "hash": menu_hash(scoped, profile),
    }


class CommandsBot(Protocol):
    """The part of `telegram.Bot` that publishing needs (kept narrow for the type checker)."""

    @property
    def id(self) -> int: ...

    async def set_my_commands(
        self,
        commands: Sequence[tuple[str, str]],
        scope: Any = None,
        language_code: str | None = None,
    ) -> bool: ...

    async def set_my_description(
        self, description: str | None = None, language_code: str | None = None
    ) -> bool: ...

    async def set_my_short_description(
        self, short_description: str | None = None, language_code: str | None = None
    ) -> bool: ...


def hash_file(data_dir: Path, bot_id: int) -> Path:
    """Where the digest of the last published menu for this bot is kept."""
    return data_dir / f"telegram-menu-{bot_id}.sha256"


async def publish_menus(
    bot: CommandsBot,
    registry: Registry,
    i18n: I18n,
    data_dir: Path,
    *,
    default_locale: str = "en",
    scope_objects: dict[str, Any] | None = None,
) -> bool:
    """Call `set_my_commands` for every scope and language when the menu changed; True if it did.

    `scope_objects` maps the scope names to `telegram.BotCommandScope*` objects (passed in so
    this module stays free of the telegram import; the adapter supplies them).
    """
    scoped = build_scoped_menus(registry, i18n, default_locale)
    profile = build_profile(i18n, default_locale)
    digest = menu_hash(scoped, profile)
    path = hash_file(data_dir, bot.id)
    try:
        if path.read_text(encoding="utf-8").strip() == digest:
            log.info("telegram menu unchanged (%s), not published", digest[:12])
            return False
    except FileNotFoundError:
        pass
    scopes = scope_objects or {}
    for scope, menus in scoped.items():
        for lang, menu in menus.items():
            await bot.set_my_commands(
                menu,
                scope=scopes.get(scope),
                language_code=None if lang == "default" else lang,
            )
    for lang, texts in profile.items():
        code = None if lang == "default" else lang
        await bot.set_my_description(texts["description"], language_code=code)
        await bot.set_my_short_description(texts["short"], language_code=code)
    # Only after every call succeeded: a half-published menu is retried on the next start.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(digest + "\n", encoding="utf-8")
    os.replace(tmp, path)
    log.info("telegram menu published (%s, %d commands)", digest[:12], len(scoped["default"]["en"]))
    return True
