"""The neutral core: what a cog author writes against, independent of any platform."""

from bot.core.commands import (
    Cog,
    Option,
    OptionType,
    Registry,
    Where,
    command,
    on_button,
    on_message,
)
from bot.core.context import ButtonContext, Invocation, MessageContext, Replier
from bot.core.errors import BotError, NotFound, PermissionDenied, UserError, WrongPlace
from bot.core.models import Attachment, Button, ChatRef, IncomingMessage, OutFile, UserRef

__all__ = [
    "Attachment",
    "BotError",
    "Button",
    "ButtonContext",
    "ChatRef",
    "Cog",
    "IncomingMessage",
    "Invocation",
    "MessageContext",
    "NotFound",
    "Option",
    "OptionType",
    "OutFile",
    "PermissionDenied",
    "Registry",
    "Replier",
    "UserError",
    "UserRef",
    "Where",
    "WrongPlace",
    "command",
    "on_button",
    "on_message",
]
