"""Compile the neutral command registry into discord.py application commands.

Each neutral command becomes an `app_commands.Command` whose callback takes typed options
(string, integer, boolean, attachment); subcommands become an `app_commands.Group`. Names and
descriptions are `locale_str`s holding the English text with the catalog key in their extras,
so `CatalogTranslator` can serve zh-CN. Where a command may run becomes `allowed_contexts`;
admin-only commands get `default_permissions(administrator=True)`. A group's contexts are the
union of its subcommands' (Discord ignores contexts on subcommands); the router still refuses a
subcommand used in the wrong place.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import keyword
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from typing import Any, Optional

import discord
from discord import app_commands
from discord.app_commands import locale_str

from bot.adapters.discord.translator import DESCRIPTION_MAX, CatalogTranslator
from bot.core.commands import Command, Option, OptionType, Registry, Where
from bot.services.i18n import DEFAULT_LOCALE, I18n

# What a compiled callback hands over: the interaction, the neutral command, its options.
Dispatch = Callable[[discord.Interaction, Command, dict[str, Any]], Awaitable[None]]

GUILD_INSTALL_ONLY = app_commands.AppInstallationType(guild=True, user=False)
ADMIN_PERMISSIONS = discord.Permissions(administrator=True)

_OPTION_TYPES: dict[OptionType, type] = {
    OptionType.STRING: str,
    OptionType.INTEGER: int,
    OptionType.BOOLEAN: bool,
    OptionType.ATTACHMENT: discord.Attachment,
}


def contexts_for(where: Where) -> app_commands.AppCommandContext:
    """Discord interaction contexts for a neutral `Where` (bot DMs, servers; never group DMs)."""
    return app_commands.AppCommandContext(
        guild=bool(where & Where.GROUP),
        dm_channel=bool(where & Where.DM),
        private_channel=False,
    )


def build_tree(client: discord.Client) -> app_commands.CommandTree[discord.Client]:
    """A command tree installable only in servers, usable in servers and bot DMs by default."""
    return app_commands.CommandTree(
        client,
        allowed_contexts=contexts_for(Where.BOTH),
        allowed_installs=GUILD_INSTALL_ONLY,
    )


class Compiler:
    """Turns registry entries into discord.py commands whose callbacks call `dispatch`."""

    def __init__(self, i18n: I18n, dispatch: Dispatch) -> None:
        self.i18n = i18n
        self.dispatch = dispatch

    def compile(
        self, registry: Registry
    ) -> list[app_commands.Command[Any, ..., None] | app_commands.Group]:
        """Every top-level command or group of the registry, in registration order."""
        result: list[app_commands.Command[Any, ..., None] | app_commands.Group] = []
        for name in registry.top_level():
            subs = registry.subcommands(name)
            if subs:
                result.append(self._group(name, subs))
            else:
                plain = registry.commands[name]
                result.append(self._command(plain, parent=None))
        return result

    def _group(self, name: str, subs: Sequence[Command]) -> app_commands.Group:
        where = Where(0)
        for sub in subs:
            where |= sub.spec.where
        key = f"commands.{name}"
        fallback = self._english(f"{subs[0].spec.key}.description", name)
        group = app_commands.Group(
            name=locale_str(name, key=f"{key}.name"),
            description=self._text(f"{key}.description", fallback),
            allowed_contexts=contexts_for(where),
            allowed_installs=GUILD_INSTALL_ONLY,
            default_permissions=(
                ADMIN_PERMISSIONS
                if all(s.spec.admin for s in subs) and where & Where.GROUP
                else None
            ),
        )
        for sub in subs:
            group.add_command(self._command(sub, parent=group))
        return group

    def _command(
        self, cmd: Command, *, parent: app_commands.Group | None
    ) -> app_commands.Command[Any, ..., None]:
        spec = cmd.spec
        label = spec.sub if spec.sub is not None else spec.name
        callback = self._callback(cmd)
        compiled: app_commands.Command[Any, ..., None] = app_commands.Command(
            name=locale_str(label, key=f"{spec.key}.name"),
            description=self._text(f"{spec.key}.description", label),
            callback=callback,
            parent=parent,
            allowed_contexts=contexts_for(spec.where) if parent is None else None,
            allowed_installs=GUILD_INSTALL_ONLY if parent is None else None,
            extras={"afterglow": spec.qualified},
        )
        if parent is None and spec.admin and spec.where & Where.GROUP:
            compiled.default_permissions = ADMIN_PERMISSIONS
        return compiled

    def _callback(self, cmd: Command) -> Callable[..., Coroutine[Any, Any, None]]:
        dispatch = self.dispatch
        spec = cmd.spec
        # Option names like `from` or `2fa` are valid on Discord but not as Python parameters.
        neutral = {_python_name(opt.name): opt.name for opt in spec.options}

        async def callback(interaction: discord.Interaction, **options: Any) -> None:
            await dispatch(interaction, cmd, {neutral[k]: v for k, v in options.items()})

        params = [
            inspect.Parameter(
                "interaction",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=discord.Interaction,
            )
        ]
        descriptions: dict[str, locale_str] = {}
        renames: dict[str, locale_str] = {}
        choices: dict[str, list[app_commands.Choice[Any]]] = {}
        for opt in spec.options:
            okey = f"{spec.key}.options.{opt.name}"
            py = _python_name(opt.name)
            # A modal option may be left out: the dispatcher then asks for it in a form.
            required = opt.required and opt.name != spec.modal
            params.append(
                inspect.Parameter(
                    py,
                    inspect.Parameter.KEYWORD_ONLY,
                    annotation=_annotation(opt, required),
                    default=inspect.Parameter.empty if required else None,
                )
            )
            descriptions[py] = self._text(f"{okey}.description", opt.name)
            renames[py] = locale_str(opt.name, key=f"{okey}.name")
            if opt.choices:
                choices[py] = [self._choice(opt, okey, value) for value in opt.choices]
        # discord.py reads options from the callback's signature and these attributes.
        callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        callback.__discord_app_commands_param_description__ = descriptions  # type: ignore[attr-defined]
        callback.__discord_app_commands_param_rename__ = renames  # type: ignore[attr-defined]
        if choices:
            callback.__discord_app_commands_param_choices__ = choices  # type: ignore[attr-defined]
        return callback

    def _choice(self, opt: Option, okey: str, value: str) -> app_commands.Choice[Any]:
        typed: str | int = int(value) if opt.type is OptionType.INTEGER else value
        label = self._text(f"{okey}.choices.{value}", value)
        return app_commands.Choice(name=label, value=typed)

    def _english(self, key: str, fallback: str) -> str:
        text = self.i18n.raw(DEFAULT_LOCALE, key)
        return (text or fallback).strip()[:DESCRIPTION_MAX] or fallback

    def _text(self, key: str, fallback: str) -> locale_str:
        """The English catalog text as the message, the key in the extras."""
        return locale_str(self._english(key, fallback), key=key)


def _python_name(name: str) -> str:
    if name.isidentifier() and not keyword.iskeyword(name) and name != "interaction":
        return name
    return f"option_{name}"


def _annotation(opt: Option, required: bool) -> Any:
    base: Any = _OPTION_TYPES[opt.type]
    if opt.type is OptionType.INTEGER and (opt.min_value is not None or opt.max_value is not None):
        base = app_commands.Range[int, opt.min_value, opt.max_value]
    return base if required else Optional[base]  # noqa: UP045 - discord.py inspects typing.Optional


def compile_into(
    tree: app_commands.CommandTree[Any], registry: Registry, i18n: I18n, dispatch: Dispatch
) -> None:
    """Replace the tree's global commands with the compiled registry."""
    tree.clear_commands(guild=None)
    for compiled in Compiler(i18n, dispatch).compile(registry):
        tree.add_command(compiled)


async def tree_payloads(
    tree: app_commands.CommandTree[Any], translator: app_commands.Translator
) -> list[dict[str, Any]]:
    """The translated payloads `tree.sync()` would send, without sending anything."""
    return [await cmd.get_translated_payload(tree, translator) for cmd in tree.get_commands()]


def payload_hash(payloads: Sequence[dict[str, Any]]) -> str:
    """A stable digest of the payloads, to sync only when they change."""
    blob = json.dumps(list(payloads), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


async def _never(interaction: discord.Interaction, cmd: Command, options: dict[str, Any]) -> None:
    raise RuntimeError("offline command tree cannot run commands")


@contextlib.contextmanager
def quiet_voice_warnings() -> Iterator[None]:
    """Mute discord.py's "voice will NOT be supported" warnings: Afterglow has no voice."""
    client_log = logging.getLogger("discord.client")
    level = client_log.level
    client_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        client_log.setLevel(level)


def offline_client() -> discord.Client:
    """A client that never connects, for compiling payloads."""
    with quiet_voice_warnings():
        return discord.Client(intents=discord.Intents.default())


async def command_payloads(registry: Registry, i18n: I18n) -> list[dict[str, Any]]:
    """Every command's translated Discord payload, built offline (no token, no network)."""
    client = offline_client()
    tree = build_tree(client)
    compile_into(tree, registry, i18n, _never)
    return await tree_payloads(tree, CatalogTranslator(i18n))

