"""Routes commands, plain messages and button presses to cogs; turns errors into replies.

This is the one place where a `BotError` becomes a localized message and where an unexpected
exception is logged (by type and command, never with message text) and apologised for.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from bot.core.commands import Command, OptionType, Registry, Where
from bot.core.context import ButtonContext, Invocation, MessageContext, Replier
from bot.core.errors import BotError, PermissionDenied, ServiceUnavailable, WrongPlace
from bot.core.models import Attachment, ChatRef, IncomingMessage, MessageHandle, UserRef
from bot.core.parsing import parse_command
from bot.logging_setup import log_failure
from bot.services.i18n import DEFAULT_LOCALE, I18n, normalize_locale

log = logging.getLogger(__name__)


class LocaleStore(Protocol):
    """Stored language choices (a person's `/language`, a group's default)."""

    async def user_locale(self, platform: str, platform_user_id: str) -> str | None: ...

    async def chat_locale(self, platform: str, chat_id: str) -> str | None: ...


class Inbox(Protocol):
    """Records inbound events so a re-delivered one is not answered twice."""

    async def record_inbound(self, platform: str, key: str) -> bool: ...


class Router:
    """Dispatches neutral events to the registry's handlers."""

    def __init__(
        self,
        registry: Registry,
        i18n: I18n,
        locales: LocaleStore,
        inbox: Inbox | None = None,
        *,
        bot_username: str = "",
    ) -> None:
        self.registry = registry
        self.i18n = i18n
        self.locales = locales
        self.inbox = inbox
        self.bot_username = bot_username

    async def locale_for(self, user: UserRef, chat: ChatRef, hint: str | None) -> str:
        """The user's stored choice, then the platform hint, then the chat default, then English."""
        stored = await self.locales.user_locale(user.platform, user.id)
        for candidate in (stored, hint):
            loc = normalize_locale(candidate)
            if loc:
                return loc
        if not chat.is_dm:
            loc = normalize_locale(await self.locales.chat_locale(chat.platform, chat.id))
            if loc:
                return loc
        return DEFAULT_LOCALE

    async def run_text(
        self,
        user: UserRef,
        chat: ChatRef,
        text: str,
        replier: Replier,
        *,
        attachments: Sequence[Attachment] = (),
        locale_hint: str | None = None,
        is_admin: bool = False,
    ) -> bool:
        """Parse and run a `/command` line from a text platform; False if it is no known command."""
        locale = await self.locale_for(user, chat, locale_hint)
        try:
            parsed = parse_command(self.registry, text)
        except BotError as err:
            await self._reply_error(replier, locale, err)
            return True
        if parsed is None:
            return False
        options = dict(parsed.options)
        inv = self.invocation(parsed.command, user, chat, locale, replier, options, is_admin)
        inv.attachments = tuple(attachments)
        self._bind_attachments(parsed.command, options, inv.attachments)
        await self.invoke(parsed.command, inv)
        return True

    def invocation(
        self,
        cmd: Command,
        user: UserRef,
        chat: ChatRef,
        locale: str,
        replier: Replier,
        options: dict[str, Any],
        is_admin: bool,
    ) -> Invocation:
        """Build the Invocation a command handler receives."""
        return Invocation(
            command=cmd.spec.qualified,
            user=user,
            chat=chat,
            locale=locale,
            replier=replier,
            i18n=self.i18n,
            options=options,
            is_admin=is_admin,
            personal=cmd.spec.personal and not chat.is_dm,
            bot_username=self.bot_username,
        )

    @staticmethod
    def _bind_attachments(
        cmd: Command, options: dict[str, Any], attachments: Sequence[Attachment]
    ) -> None:
        # Text platforms carry files beside the command; hand them to attachment options in order.
        slots = [o for o in cmd.spec.options if o.type is OptionType.ATTACHMENT]
        for opt, att in zip(slots, attachments, strict=False):
            options.setdefault(opt.name, att)

    async def invoke(self, cmd: Command, inv: Invocation) -> None:
        """Check where and who, then run the command; every error becomes a reply here."""
        try:
            if not cmd.spec.allowed_in(inv.chat.kind):
                raise WrongPlace(
                    "errors.dm_only" if inv.chat.kind == "group" else "errors.group_only"
                )
            if cmd.spec.admin and not inv.chat.is_dm and not inv.is_admin:
                raise PermissionDenied()
            await cmd.callback(inv, **inv.options)
        except BotError as err:
            # Errors of personal commands stay private. Others are private only where the
            # platform has truly private replies (Discord); on Telegram an "ephemeral" group
            # reply would be a detour through private chat.
            private = inv.personal or bool(getattr(inv.replier, "private_errors", False))
            await self._reply_error(inv.replier, inv.locale, err, ephemeral=private)
        except Exception as exc:
            log_failure(log, f"command /{cmd.spec.qualified} failed", exc)
            await self._reply_error(inv.replier, inv.locale, unexpected(exc))

    async def handle_message(self, msg: IncomingMessage, replier: Replier) -> None:
        """Route a plain message: DMs to the chat path; in groups only messages addressed to the bot."""
        if self.inbox is not None and not await self.inbox.record_inbound(
            msg.user.platform, msg.key
        ):
            log.info("dropped re-delivered message %s", msg.key)
            return
        if not msg.chat.is_dm and not msg.addressed:
            return
        locale = await self.locale_for(msg.user, msg.chat, msg.locale_hint)
        ctx = MessageContext(msg, locale, replier, self.i18n, bot_username=self.bot_username)
        for route in self.registry.messages:
            if route.spec.where & _where_of(msg.chat):
                try:
                    await route.callback(ctx)
                except BotError as err:
                    await self._reply_error(replier, locale, err)
                except Exception as exc:
                    log_failure(log, "message handler failed", exc)
                    await self._reply_error(replier, locale, unexpected(exc))
                return
        key = "core.chat_not_ready" if msg.chat.is_dm else "core.dm_pointer"
        await replier.send(self.i18n.t(locale, key, bot=self.bot_username))

    async def press(
        self,
        user: UserRef,
        chat: ChatRef,
        custom_id: str,
        handle: MessageHandle,
        replier: Replier,
        *,
        locale_hint: str | None = None,
        is_admin: bool = False,
    ) -> str | None:
        """Run the handler of a persistent button; returns a short notice for the presser."""
        prefix, _, payload = custom_id.partition(":")
        route = self.registry.buttons.get(prefix)
        locale = await self.locale_for(user, chat, locale_hint)
        if route is None:
            return self.i18n.t(locale, "errors.button_expired")
        ctx = ButtonContext(user, chat, payload, handle, locale, replier, self.i18n, is_admin)
        try:
            await route.callback(ctx)
        except BotError as err:
            return self.i18n.t(locale, err.key, **err.params)
        except Exception as exc:
            log_failure(log, f"button {prefix} failed", exc)
            return self.i18n.t(locale, unexpected(exc).key)
        return ctx.notice

    async def _reply_error(
        self, replier: Replier, locale: str, err: BotError, *, ephemeral: bool = True
    ) -> None:
        try:
            await replier.send(self.i18n.t(locale, err.key, **err.params), ephemeral=ephemeral)
        except Exception as exc:
            log.warning("could not deliver error reply: %s", type(exc).__name__)


def unexpected(exc: Exception) -> BotError:
    """The reply for an exception no handler expected: a full disk is named, the rest apologised for."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return ServiceUnavailable("reliability.disk_full")
    return BotError("errors.internal")


def _where_of(chat: ChatRef) -> Where:
    return Where.DM if chat.is_dm else Where.GROUP
