"""Turn a command line (`/name [sub] args…`) into a command and typed options.

Used by the text platforms (Telegram, console). Options are positional in declared order;
the last text option takes the rest of the line, so `/remember we met in spring` just works.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.core.commands import Command, OptionType, Registry
from bot.core.errors import UserError

_TRUE = {"1", "true", "yes", "y", "on", "是", "开", "开启", "对"}
_FALSE = {"0", "false", "no", "n", "off", "否", "关", "关闭", "不"}


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    command: Command
    options: dict[str, Any]


def split_command(text: str) -> tuple[str, str] | None:
    """`/name@bot rest` → (`name`, `rest`); None when the text is not a command."""
    text = text.strip()
    if not text.startswith("/") or len(text) < 2:
        return None
    head, _, rest = text[1:].partition(" ")
    name = head.split("@", 1)[0].lower()
    return name, rest.strip()


def parse_command(registry: Registry, text: str) -> ParsedCommand | None:
    """Parse a command line against the registry; None when no such command exists."""
    split = split_command(text)
    if split is None:
        return None
    name, rest = split
    first, _, after = rest.partition(" ")
    cmd = registry.find(name, first.lower()) if first and registry.subcommands(name) else None
    if cmd is not None and cmd.spec.sub == first.lower():
        rest = after.strip()
    else:
        cmd = registry.find(name)
    if cmd is None:
        return None
    return ParsedCommand(cmd, parse_options(cmd, rest))


def parse_options(cmd: Command, rest: str) -> dict[str, Any]:
    """Assign words of `rest` to the command's non-attachment options, in order."""
    opts = [o for o in cmd.spec.options if o.type is not OptionType.ATTACHMENT]
    values: dict[str, Any] = {}
    remaining = rest.strip()
    for i, opt in enumerate(opts):
        if not remaining:
            break
        last_text = opt.type is OptionType.STRING and all(
            o.type is not OptionType.STRING for o in opts[i + 1 :]
        )
        if last_text:
            word, remaining = remaining, ""
        else:
            word, _, remaining = remaining.partition(" ")
            remaining = remaining.strip()
        values[opt.name] = convert(opt.name, opt.type, word, opt.choices)
    for opt in cmd.spec.options:
        if opt.required and opt.type is not OptionType.ATTACHMENT and opt.name not in values:
            raise UserError("errors.missing_option", option=opt.name, command=cmd.spec.qualified)
    return values


def convert(name: str, kind: OptionType, word: str, choices: tuple[str, ...] = ()) -> Any:
    """Convert one word to the option's type, with a localized error when it does not fit."""
    if kind is OptionType.INTEGER:
        try:
            return int(word)
        except ValueError:
            raise UserError("errors.not_a_number", option=name) from None
    if kind is OptionType.BOOLEAN:
        low = word.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise UserError("errors.not_a_boolean", option=name)
    if choices and word not in choices:
        raise UserError("errors.bad_choice", option=name, choices=", ".join(choices))
    return word
