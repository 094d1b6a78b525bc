"""Commands declared once, as data, on cog methods; compiled by each adapter.

A cog writes::

    class Help(Cog):
        @command("language", options=[Option("code", OptionType.STRING, choices=("en", "zh"))])
        async def language(self, inv: Invocation, code: str | None = None) -> None: ...

The registry validates names and finds commands, message handlers and button handlers.
Descriptions and localized names come from the catalogs under derived keys
(`commands.<name>[.<sub>].description`, `...options.<opt>.description`).

`modal="<option>"` names a STRING option for long text: where the platform has forms (Discord
modals) and the option was left empty, the adapter asks for it in a multi-line form first and
then runs the command with it filled. Text platforms keep parsing it from the command line.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.core.context import ButtonContext, MessageContext

NAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")


class Where(enum.Flag):
    """Where a command may run."""

    DM = enum.auto()
    GROUP = enum.auto()
    BOTH = DM | GROUP


class OptionType(enum.Enum):
    """The typed options a command can take on every platform."""

    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    ATTACHMENT = "attachment"


@dataclass(frozen=True, slots=True)
class Option:
    """One named, typed command option."""

    name: str
    type: OptionType = OptionType.STRING
    required: bool = False
    choices: tuple[str, ...] = ()
    # The last text option takes the rest of the line on text platforms (Telegram, console).
    min_value: int | None = None
    max_value: int | None = None


Handler = Callable[..., Awaitable[None]]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A command as every adapter sees it. `sub` makes it a subcommand of `name`."""

    name: str
    sub: str | None = None
    where: Where = Where.BOTH
    admin: bool = False
    options: tuple[Option, ...] = ()
    personal: bool = False
    default_sub: bool = False
    hidden: bool = False
    # A STRING option collected in a multi-line form when left empty (see module docstring).
    modal: str | None = None

    @property
    def qualified(self) -> str:
        return f"{self.name} {self.sub}" if self.sub else self.name

    @property
    def key(self) -> str:
        """The catalog key prefix for this command's metadata."""
        return f"commands.{self.name}.{self.sub}" if self.sub else f"commands.{self.name}"

    def allowed_in(self, kind: str) -> bool:
        return bool(self.where & (Where.DM if kind == "dm" else Where.GROUP))


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """An `@on_message` handler: plain messages in DMs or addressed to the bot in groups."""

    where: Where
    priority: int = 0


@dataclass(frozen=True, slots=True)
class ButtonSpec:
    """An `@on_button(prefix)` handler for persistent buttons."""

    prefix: str


F = TypeVar("F", bound=Handler)

_SPEC_ATTR = "__afterglow_spec__"


def command(
    name: str,
    *,
    sub: str | None = None,
    where: Where = Where.BOTH,
    admin: bool = False,
    options: Sequence[Option] = (),
    personal: bool = False,
    default_sub: bool = False,
    hidden: bool = False,
    modal: str | None = None,
) -> Callable[[F], F]:
    """Declare a cog method as a command (`personal` → ephemeral replies in groups).

    `modal` names a STRING option that platforms with forms ask for in a multi-line form when
    it is left empty, instead of requiring it on the command line.
    """

    spec = CommandSpec(
        name=name,
        sub=sub,
        where=where,
        admin=admin,
        options=tuple(options),
        personal=personal,
        default_sub=default_sub,
        hidden=hidden,
        modal=modal,
    )

    def wrap(fn: F) -> F:
        setattr(fn, _SPEC_ATTR, spec)
        return fn

    return wrap


def on_message(where: Where = Where.DM, *, priority: int = 0) -> Callable[[F], F]:
    """Declare a cog method as the handler for plain messages (highest priority runs)."""

    def wrap(fn: F) -> F:
        setattr(fn, _SPEC_ATTR, MessageSpec(where=where, priority=priority))
        return fn

    return wrap


def on_button(prefix: str) -> Callable[[F], F]:
    """Declare a cog method as the handler for buttons whose custom id starts with `prefix:`."""

    def wrap(fn: F) -> F:
        setattr(fn, _SPEC_ATTR, ButtonSpec(prefix=prefix))
        return fn

    return wrap


class Cog:
    """Base class for a feature module. Subclasses take their services in `__init__`."""

    name: str = ""

    def specs(self) -> Iterator[tuple[Any, Handler]]:
        """Every declared spec on this cog with its bound method."""
        for attr in dir(type(self)):
            fn = getattr(type(self), attr, None)
            spec = getattr(fn, _SPEC_ATTR, None)
            if spec is not None:
                yield spec, getattr(self, attr)


class RegistryError(ValueError):
    """A command declaration breaks the naming or uniqueness rules."""


@dataclass(slots=True)
class Command:
    """A registered command: its spec, bound callback and owning cog."""

    spec: CommandSpec
    callback: Callable[..., Awaitable[None]]
    cog: Cog


@dataclass(slots=True)
class MessageRoute:
    spec: MessageSpec
    callback: Callable[[MessageContext], Awaitable[None]]
    cog: Cog


@dataclass(slots=True)
class ButtonRoute:
    spec: ButtonSpec
    callback: Callable[[ButtonContext], Awaitable[None]]
    cog: Cog


@dataclass(slots=True)
class Registry:
    """Every command, message handler and button handler of the loaded cogs."""

    commands: dict[str, Command] = field(default_factory=dict)
    messages: list[MessageRoute] = field(default_factory=list)
    buttons: dict[str, ButtonRoute] = field(default_factory=dict)
    cogs: list[Cog] = field(default_factory=list)

    def add_cog(self, cog: Cog) -> None:
        """Register every spec on `cog`, validating names; raises RegistryError."""
        for spec, callback in cog.specs():
            if isinstance(spec, CommandSpec):
                self._add_command(Command(spec, callback, cog))
            elif isinstance(spec, MessageSpec):
                self.messages.append(MessageRoute(spec, callback, cog))
                self.messages.sort(key=lambda r: -r.spec.priority)
            elif isinstance(spec, ButtonSpec):
                if not NAME_RE.match(spec.prefix) or spec.prefix in self.buttons:
                    raise RegistryError(f"bad or duplicate button prefix {spec.prefix!r}")
                self.buttons[spec.prefix] = ButtonRoute(spec, callback, cog)
        self.cogs.append(cog)

    def _add_command(self, cmd: Command) -> None:
        spec = cmd.spec
        for part in (spec.name, spec.sub):
            if part is not None and not NAME_RE.match(part):
                raise RegistryError(f"invalid command name {part!r}: must match {NAME_RE.pattern}")
        for opt in spec.options:
            if not NAME_RE.match(opt.name):
                raise RegistryError(f"invalid option name {opt.name!r} on /{spec.qualified}")
        names = [o.name for o in spec.options]
        if len(set(names)) != len(names):
            raise RegistryError(f"duplicate option on /{spec.qualified}")
        if spec.modal is not None and not any(
            o.name == spec.modal and o.type is OptionType.STRING for o in spec.options
        ):
            raise RegistryError(f"modal {spec.modal!r} is not a text option of /{spec.qualified}")
        if spec.qualified in self.commands:
            raise RegistryError(f"duplicate command /{spec.qualified}")
        # A name is either a plain command or a group of subcommands, never both.
        if spec.sub is None and any(c.spec.sub and c.spec.name == spec.name for c in self):
            raise RegistryError(f"/{spec.name} is already a group of subcommands")
        if spec.sub is not None and spec.name in self.commands:
            raise RegistryError(f"/{spec.name} is already a plain command")
        if spec.sub is not None and spec.default_sub and self.default_sub(spec.name):
            raise RegistryError(f"/{spec.name} has two default subcommands")
        self.commands[spec.qualified] = cmd

    def __iter__(self) -> Iterator[Command]:
        return iter(self.commands.values())

    def top_level(self) -> list[str]:
        """Distinct top-level names, in registration order."""
        seen: dict[str, None] = {}
        for cmd in self:
            seen.setdefault(cmd.spec.name, None)
        return list(seen)

    def subcommands(self, name: str) -> list[Command]:
        return [c for c in self if c.spec.name == name and c.spec.sub is not None]

    def default_sub(self, name: str) -> Command | None:
        for cmd in self.subcommands(name):
            if cmd.spec.default_sub:
                return cmd
        return None

    def find(self, name: str, sub: str | None = None) -> Command | None:
        """The command `/name [sub]`; a bare group name finds its default subcommand."""
        if sub is not None:
            found = self.commands.get(f"{name} {sub}")
            if found:
                return found
        if name in self.commands:
            return self.commands[name]
        return self.default_sub(name) if sub is None else None
