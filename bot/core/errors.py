"""The bot's error tree; the router turns each into one localized reply.

    BotError                  anything the router knows how to explain
    ├── UserError             bad input or a state the person can fix; carries a catalog key
    │   ├── NotFound          the thing named does not exist (or is not theirs)
    │   ├── WrongPlace        the command runs only in direct messages, or only in groups
    │   ├── PermissionDenied  the command is for group admins
    │   └── RateLimited       too many requests; carries when to come back
    └── ServiceUnavailable    a dependency (the model, the disk) failed; the data is saved

Anything else reaching the router is a bug: it is logged with its traceback (never with message
text) and the person gets a generic apology.
"""

from __future__ import annotations

from typing import Any


class BotError(Exception):
    """Base of every error the router turns into a localized reply."""

    key = "errors.generic"

    def __init__(self, key: str | None = None, /, **params: Any) -> None:
        self.key = key or type(self).key
        self.params = params
        super().__init__(self.key)


class UserError(BotError):
    """Input or state the person can fix; `key` names the catalog message."""

    key = "errors.bad_input"


class NotFound(UserError):
    """The item does not exist, or does not belong to the person asking."""

    key = "errors.not_found"


class WrongPlace(UserError):
    """A direct-message command used in a group, or the other way round."""

    key = "errors.dm_only"


class PermissionDenied(UserError):
    """The command is limited to group administrators."""

    key = "errors.admin_only"


class RateLimited(UserError):
    """The person has sent too much too fast; `seconds` says when to retry."""

    key = "errors.rate_limited"


class ServiceUnavailable(BotError):
    """A dependency failed after the person's data was saved."""

    key = "errors.unavailable"


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the setting (start-up only)."""
