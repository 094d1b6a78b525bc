"""The Discord connection: a `discord.Client` with the compiled command tree.

Slash commands are deferred first (Discord's 3-second window), then run through the router; a
command whose long-text `modal` option was left empty answers with a form instead, and runs
when it is submitted.
Direct messages go to the chat path; in servers the bot only sees messages that mention it
(no privileged message-content intent), and answers those with a pointer to DMs unless a
group handler takes them. Commands are synced only when their compiled payload changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from bot.adapters.discord.compile import (
    build_tree,
    compile_into,
    payload_hash,
    quiet_voice_warnings,
    tree_payloads,
)
from bot.adapters.discord.convert import (
    chat_of,
    convert_options,
    strip_mentions,
    to_attachment,
    user_ref,
)
from bot.adapters.discord.modal import LongTextModal
from bot.adapters.discord.replier import (
    NO_MENTIONS,
    ChannelReplier,
    ChannelResolver,
    InteractionReplier,
    PersistentButton,
    channel_send,
)
from bot.adapters.discord.translator import CatalogTranslator
from bot.core.commands import Command, Registry
from bot.core.models import Attachment, ChatRef, IncomingMessage, MessageHandle
from bot.core.router import Router
from bot.core.streaming import split_text
from bot.services.delivery import DeliveryUnavailable
from bot.services.i18n import I18n, normalize_locale

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

HASH_FILE = "discord-commands.sha256"
LOGIN_TIMEOUT = 30.0
LOCALE_MEMORY = 10_000
CHAT_MESSAGE_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})


def bot_intents() -> discord.Intents:
    """The default intents: no members, no presences and, above all, no message content."""
    intents = discord.Intents.default()
    # Safety checklist C4: the bot must never read server messages not addressed to it.
    if intents.message_content or intents.members or intents.presences:
        raise RuntimeError("Afterglow must not request privileged Discord intents")
    return intents


class OriginalResponse:
    """Edits the message a pressed button sits on (works for ephemeral messages too)."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction

    async def edit(self, **kwargs: Any) -> None:
        await self.interaction.edit_original_response(**kwargs)


class DiscordBridge:
    """Turns Discord events into router calls; holds no connection of its own."""

    def __init__(
        self,
        router: Router,
        i18n: I18n,
        *,
        resolve_channel: ChannelResolver | None = None,
    ) -> None:
        self.router = router
        self.i18n = i18n
        self.resolve_channel = resolve_channel
        # Messages carry no language; remember each person's client language from commands.
        self._hints: OrderedDict[str, str] = OrderedDict()

    def remember_locale(self, user_id: str, locale: str) -> None:
        self._hints[user_id] = locale
        self._hints.move_to_end(user_id)
        while len(self._hints) > LOCALE_MEMORY:
            self._hints.popitem(last=False)

    def locale_hint(self, user_id: str) -> str | None:
        return self._hints.get(user_id)

    @staticmethod
    def is_admin(interaction: discord.Interaction) -> bool:
        if interaction.guild_id is None:
            return True
        perms = interaction.permissions
        return bool(perms.administrator or perms.manage_guild)

    async def run_command(
        self, interaction: discord.Interaction, cmd: Command, options: dict[str, Any]
    ) -> None:
        """Defer at once, then run the neutral command with the person's language.

        A command whose `modal` option was left empty first answers with a form for it
        (a modal must be the first response, so it cannot follow a defer).
        """
        name = cmd.spec.modal
        chat = chat_of(interaction.channel_id, interaction.guild, interaction.channel)
        # In the wrong place the router's refusal comes at once, not after a long form.
        if name is not None and not options.get(name) and cmd.spec.allowed_in(chat.kind):
            await self._ask_in_modal(interaction, cmd, options, name)
            return
        await self._run(interaction, cmd, options)

    async def _ask_in_modal(
        self, interaction: discord.Interaction, cmd: Command, options: dict[str, Any], name: str
    ) -> None:
        """Answer with a multi-line form; its submission runs the command as a slash call."""
        user = user_ref(interaction.user)
        chat = chat_of(interaction.channel_id, interaction.guild, interaction.channel)
        hint = str(interaction.locale.value)
        self.remember_locale(user.id, hint)
        locale = await self.router.locale_for(user, chat, hint)

        async def submit(submitted: discord.Interaction, text: str) -> None:
            await self._run(submitted, cmd, {**options, name: text})

        form = LongTextModal(
            title=self.i18n.t(locale, "discord.modal_title", command=cmd.spec.qualified),
            label=self.i18n.t(locale, f"{cmd.spec.key}.options.{name}.description"),
            submit=submit,
        )
        await interaction.response.send_modal(form)

    async def _run(
        self, interaction: discord.Interaction, cmd: Command, options: dict[str, Any]
    ) -> None:
        in_guild = interaction.guild_id is not None
        personal = cmd.spec.personal and in_guild
        await interaction.response.defer(thinking=True, ephemeral=personal)
        user = user_ref(interaction.user)
        chat = chat_of(interaction.channel_id, interaction.guild, interaction.channel)
        hint = str(interaction.locale.value)
        self.remember_locale(user.id, hint)
        locale = await self.router.locale_for(user, chat, hint)
        replier = InteractionReplier(
            interaction,
            i18n=self.i18n,
            locale=locale,
            personal=personal,
            public_placeholder=not personal,
            resolve_channel=self.resolve_channel,
        )
        neutral = convert_options(options)
        inv = self.router.invocation(
            cmd, user, chat, locale, replier, neutral, self.is_admin(interaction)
        )
        inv.attachments = tuple(v for v in neutral.values() if isinstance(v, Attachment))
        try:
            await self.router.invoke(cmd, inv)
        finally:
            if not replier.sent:
                # Nothing was said: do not leave "thinking…" hanging for 15 minutes.
                with contextlib.suppress(discord.HTTPException):
                    await interaction.delete_original_response()

    async def press(self, interaction: discord.Interaction, custom_id: str) -> None:
        """A persistent button: acknowledge, route to its handler, show any notice privately."""
        await interaction.response.defer()
        user = user_ref(interaction.user)
        chat = chat_of(interaction.channel_id, interaction.guild, interaction.channel)
        hint = str(interaction.locale.value)
        locale = await self.router.locale_for(user, chat, hint)
        replier = InteractionReplier(
            interaction,
            i18n=self.i18n,
            locale=locale,
            personal=False,
            public_placeholder=False,
            resolve_channel=self.resolve_channel,
        )
        message_id = str(interaction.message.id) if interaction.message else "0"
        handle = MessageHandle(
            str(interaction.channel_id or 0),
            message_id,
            extra={"editor": OriginalResponse(interaction)},
        )
        notice = await self.router.press(
            user,
            chat,
            custom_id,
            handle,
            replier,
            locale_hint=hint,
            is_admin=self.is_admin(interaction),
        )
        if notice:
            await interaction.followup.send(notice, ephemeral=True, allowed_mentions=NO_MENTIONS)

    def incoming(self, message: discord.Message, bot_id: int) -> IncomingMessage | None:
        """A DM, or a server message addressed to the bot, as a neutral message (else None)."""
        if message.author.bot or message.type not in CHAT_MESSAGE_TYPES:
            return None
        in_guild = message.guild is not None
        addressed = not in_guild or any(m.id == bot_id for m in message.mentions)
        ref = message.reference
        if in_guild and not addressed and ref is not None:
            resolved = ref.resolved
            addressed = isinstance(resolved, discord.Message) and resolved.author.id == bot_id
        if not addressed:
            return None
        user = user_ref(message.author)
        return IncomingMessage(
            user=user,
            chat=chat_of(message.channel.id, message.guild, message.channel),
            text=strip_mentions(message.content, bot_id) if in_guild else message.content,
            key=f"discord:{message.id}",
            attachments=tuple(to_attachment(a) for a in message.attachments),
            locale_hint=self.locale_hint(user.id),
            addressed=True,
        )

    async def on_message(self, message: discord.Message, bot_id: int) -> None:
        msg = self.incoming(message, bot_id)
        if msg is None:
            return
        locale = await self.router.locale_for(msg.user, msg.chat, msg.locale_hint)
        replier = ChannelReplier(
            message.channel,
            i18n=self.i18n,
            locale=locale,
            owner_id=message.author.id,
            resolve_channel=self.resolve_channel,
        )
        await self.router.handle_message(msg, replier)


class AfterglowClient(discord.Client):
    """A thin client: every event is handed to the adapter."""

    def __init__(self, adapter: DiscordAdapter) -> None:
        with quiet_voice_warnings():
            super().__init__(intents=bot_intents(), allowed_mentions=NO_MENTIONS)
        self.adapter = adapter
        self.tree = build_tree(self)

    async def setup_hook(self) -> None:
        await self.adapter.setup(self)

    async def on_message(self, message: discord.Message) -> None:
        if self.user is not None:
            await self.adapter.bridge.on_message(message, self.user.id)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.adapter.joined_guild(guild)

    async def press_button(self, interaction: discord.Interaction, custom_id: str) -> None:
        await self.adapter.bridge.press(interaction, custom_id)


class DiscordAdapter:
    """Starts and stops the Discord side of `afterglow run`."""

    name = "discord"

    def __init__(self, app: App) -> None:
        self.app = app
        self.registry: Registry = app.registry
        self.i18n: I18n = app.i18n
        self.data_dir = Path(app.settings.data_dir)
        self.token = app.settings.discord_token
        self.client: AfterglowClient | None = None
        self._task: asyncio.Task[None] | None = None
        self.bridge = DiscordBridge(
            app.router,
            app.i18n,
            resolve_channel=self.resolve_channel,
        )

    async def resolve_channel(self, channel_id: int) -> discord.abc.Messageable:
        """A channel (memorial channel, DM) by id, from the cache or the API."""
        client = self._require_client()
        channel = client.get_channel(channel_id)
        if channel is None:
            channel = await client.fetch_channel(channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            raise RuntimeError(f"channel {channel_id} cannot receive messages")
        return channel

    def _require_client(self) -> AfterglowClient:
        if self.client is None:
            raise RuntimeError("the Discord adapter is not started")
        return self.client

    async def setup(self, client: AfterglowClient) -> None:
        """Compile the commands, register persistent buttons, sync if the payload changed."""
        translator = CatalogTranslator(self.i18n)
        await client.tree.set_translator(translator)
        compile_into(client.tree, self.registry, self.i18n, self.bridge.run_command)
        client.add_dynamic_items(PersistentButton)
        payloads = await tree_payloads(client.tree, translator)
        digest = f"{client.application_id}:{payload_hash(payloads)}"
        marker = self.data_dir / HASH_FILE
        with contextlib.suppress(OSError):
            if marker.read_text(encoding="utf-8").strip() == digest:
                log.info("discord: %d commands unchanged, no sync", len(payloads))
                return
        try:
            await client.tree.sync()
        except discord.HTTPException as exc:
            # Stale commands are better than no bot: DMs and existing commands keep working.
            log.error("discord: command sync failed (HTTP %s); will retry next start", exc.status)
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(digest + "\n", encoding="utf-8")
        log.info("discord: synced %d commands", len(payloads))

    async def start(self) -> None:
        """Log in (raising on a bad token or an outage) and keep the gateway running."""
        if not self.token:
            raise RuntimeError("DISCORD_TOKEN is not set")
        client = self.client = AfterglowClient(self)
        try:
            await asyncio.wait_for(client.login(self.token), LOGIN_TIMEOUT)
        except discord.LoginFailure:
            log.error("discord: the token was rejected; check DISCORD_TOKEN")
            await client.close()
            raise
        except (TimeoutError, OSError, aiohttp.ClientError, discord.HTTPException) as exc:
            log.error("discord: cannot reach Discord (%s); Discord stays off", type(exc).__name__)
            await client.close()
            raise
        self._task = asyncio.create_task(self._connect(client), name="discord-gateway")
        # Recovery and the outbox reach Discord chats through `deliver`.
        self.app.durable.register_deliverer("discord", self)

    async def _connect(self, client: AfterglowClient) -> None:
        try:
            await client.connect(reconnect=True)
        except discord.PrivilegedIntentsRequired:
            log.error("discord: a privileged intent was requested; Afterglow needs none")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error(
                "discord: gateway stopped (%s); other platforms keep running", type(exc).__name__
            )

    async def stop(self) -> None:
        """Close the gateway and the HTTP session."""
        if self.client is not None:
            await self.client.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def deliver(self, platform: str, chat_id: str, text: str) -> None:
        """The `Deliverer` for recovery and the outbox: post `text` into a channel or DM by id."""
        if self.client is None:
            raise DeliveryUnavailable(chat_id)
        try:
            channel = await self.resolve_channel(int(chat_id))
            for piece in split_text(text, 2000):
                await channel_send(channel, piece)
        except (ValueError, RuntimeError, discord.Forbidden, discord.NotFound) as exc:
            raise DeliveryUnavailable(chat_id) from exc

    async def send_direct(self, platform: str, platform_user_id: str, text: str) -> bool:
        """The scheduler's `DirectSender` port: False for other platforms or undeliverable DMs."""
        if platform != "discord" or self.client is None:
            return False
        return await self.send_dm(platform_user_id, text)

    async def send_dm(self, platform_user_id: str, text: str) -> bool:
        """Send a direct message (scheduled check-ins); False when it cannot be delivered."""
        client = self._require_client()
        try:
            uid = int(platform_user_id)
            user = client.get_user(uid) or await client.fetch_user(uid)
            channel = user.dm_channel or await user.create_dm()
            for piece in split_text(text, 2000):
                await channel_send(channel, piece)
        except discord.Forbidden:
            log.info("discord: DMs closed for user %s", platform_user_id)
            return False
        except (ValueError, discord.HTTPException) as exc:
            log.warning("discord: DM to user %s failed: %s", platform_user_id, type(exc).__name__)
            return False
        return True

    async def joined_guild(self, guild: discord.Guild) -> None:
        """Introduce the bot in a server it was just added to (if the app has a hook)."""
        hook = getattr(self.app, "on_joined_group", None)
        channel = _intro_channel(guild)
        if hook is None or channel is None:
            return
        chat = ChatRef("discord", str(guild.id), "group", guild.name)
        locale = normalize_locale(str(guild.preferred_locale.value)) or "en"
        replier = ChannelReplier(
            channel,
            i18n=self.i18n,
            locale=locale,
            owner_id=None,
            resolve_channel=self.resolve_channel,
        )
        try:
            await hook(chat, replier)
        except Exception as exc:
            log.warning("discord: group introduction failed: %s", type(exc).__name__)


def _intro_channel(guild: discord.Guild) -> discord.TextChannel | None:
    me = guild.me
    candidates = [guild.system_channel, *guild.text_channels]
    for channel in candidates:
        if channel is not None and me is not None and channel.permissions_for(me).send_messages:
            return channel
    return None
