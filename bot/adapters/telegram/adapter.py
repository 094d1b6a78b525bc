"""The Telegram adapter: python-telegram-bot run by hand inside the bot's one event loop.

Lifecycle: `initialize → (publish the menu if it changed) → start → updater.start_polling`, and
the reverse on stop; never `run_polling`, which would try to own the loop. Updates are processed
concurrently, one at a time per person (a lock per user id).

What reaches the neutral core:
- every registry command, through a `CommandHandler` (text parsed by the router), also when
  written as the caption of a photo or document, or sent as a reply to one (the file comes along);
- `/start` with a deep-link payload (`/start support`, `/start link_CODE`);
- private messages → the companion path; in groups only replies to the bot's own messages
  (privacy mode stays on, so the bot does not even receive the rest);
- inline-keyboard presses (confirmations, pages, persistent buttons);
- the bot being added to a group → the app's `on_joined_group` hook.

Every update is recorded in the inbox (raw JSON included) as soon as getUpdates returns it, before
the offset moves (`inbox.RecordingRequest`); a handler claims it exactly once, so a re-delivered
one is dropped, and one fetched but never claimed (a crash) is replayed on the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import json
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from telegram import (
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeDefault,
    Message,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.adapters.telegram.files import CLOUD_DOWNLOAD_CAP, Downloader
from bot.adapters.telegram.inbox import RecordingRequest, update_key
from bot.adapters.telegram.menu import publish_menus
from bot.adapters.telegram.replier import (
    CONFIRM_PREFIX,
    PAGE_PREFIX,
    ChatPacer,
    Interactions,
    ReplierDeps,
    TelegramReplier,
    page_markup,
)
from bot.core.commands import NAME_RE, Registry
from bot.core.context import Replier
from bot.core.errors import ConfigError
from bot.core.models import Attachment, ChatKind, ChatRef, IncomingMessage, MessageHandle, UserRef
from bot.core.router import Router
from bot.services.delivery import DeliveryUnavailable
from bot.services.i18n import I18n
from bot.services.storage.users import Users
from bot.settings import Settings

log = logging.getLogger(__name__)

PLATFORM = "telegram"
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
ADMIN_CACHE_SECONDS = 300.0
#: Deep-link payloads that name a feature rather than a command: the first existing command wins.
START_ALIASES: dict[str, tuple[str, ...]] = {
    "support": ("support", "care", "resources", "crisis", "hotline"),
}
_JOINED = (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
_GONE = (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED)

Callback = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]
TgApplication = Application[Any, Any, Any, Any, Any, Any]


class AppLike(Protocol):
    """What the adapter needs from `bot.app.App` (an optional `on_joined_group` hook too)."""

    settings: Settings
    registry: Registry
    router: Router
    i18n: I18n
    users: Users


@dataclass(frozen=True, slots=True)
class TelegramOptions:
    """Tunables; the defaults follow Telegram's published limits (tests shrink the waits)."""

    poll_timeout: float = 10.0
    chat_gap: float = 1.0
    overall_per_second: float = 25.0
    group_per_minute: float = 20.0
    group_period: float = 60.0
    draft_idle_commit: float = 8.0
    album_wait: float = 1.2
    reconnect_delay: float = 5.0


@dataclass
class Album:
    """The messages of one media group seen so far (Telegram sends each photo separately)."""

    members: dict[int, tuple[bool, list[Attachment]]] = field(default_factory=dict)

    def add(self, message_id: int, captioned: bool, attachments: list[Attachment]) -> None:
        self.members[message_id] = (captioned, attachments)

    def leader(self) -> int:
        """The message that answers for the album: the captioned one, else the first."""
        captioned = [mid for mid, (cap, _) in self.members.items() if cap]
        return min(captioned or self.members)

    def attachments(self) -> list[Attachment]:
        return [a for mid in sorted(self.members) for a in self.members[mid][1]]


class TelegramAdapter:
    """Connects the router to Telegram through python-telegram-bot."""

    name = PLATFORM

    def __init__(self, app: AppLike, *, options: TelegramOptions | None = None) -> None:
        settings = app.settings
        if not settings.telegram_token:
            raise ValueError("TELEGRAM_TOKEN is not set")
        self.app = app
        self.options = options or TelegramOptions()
        self.token = settings.telegram_token
        self.base_url = _server_root(settings.telegram_base_url)
        self.local_mode = str(settings.env.get("TELEGRAM_LOCAL_MODE", "")).lower() in (
            "1",
            "true",
            "yes",
        )
        self.application: TgApplication | None = None
        self.bot_id = 0
        self.username = ""
        self.interactions = Interactions()
        self.pacer = ChatPacer(self.options.chat_gap)
        self._http: httpx.AsyncClient | None = None
        self._deps: ReplierDeps | None = None
        self._downloader: Downloader | None = None
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._admins: dict[int, tuple[float, frozenset[int]]] = {}
        self._albums: OrderedDict[str, Album] = OrderedDict()
        self._reconnect: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def build_application(self) -> TgApplication:
        """The PTB application: concurrent updates, rate limited, pointed at the configured server."""
        builder = (
            Application.builder()
            .token(self.token)
            .concurrent_updates(True)
            .rate_limiter(
                AIORateLimiter(
                    overall_max_rate=self.options.overall_per_second,
                    overall_time_period=1,
                    group_max_rate=self.options.group_per_minute,
                    group_time_period=self.options.group_period,
                    max_retries=1,
                )
            )
            .get_updates_request(
                RecordingRequest(
                    self.app.users,
                    PLATFORM,
                    connection_pool_size=1,
                    read_timeout=self.options.poll_timeout + 10,
                )
            )
        )
        if self.base_url:
            builder = builder.base_url(f"{self.base_url}/bot").base_file_url(
                f"{self.base_url}/file/bot"
            )
        if self.local_mode:
            builder = builder.local_mode(True)
        return builder.build()

    async def start(self) -> None:
        """Connect, publish the menu when it changed, and start polling.

        A rejected token raises `ConfigError`. When Telegram cannot be reached at all, this
        returns anyway and keeps connecting in the background (with growing pauses), so an
        outage at boot does not keep the bot off Telegram until the next restart.
        """
        _quiet_http_loggers()
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0))
        try:
            await self._connect()
        except NetworkError as err:
            if isinstance(err, BadRequest):
                await self.stop()
                raise
            log.warning("telegram unreachable (%s); retrying in the background", type(err).__name__)
            await self._drop_application()
            self._reconnect = asyncio.create_task(self._connect_later(), name="telegram-connect")
        except BaseException:
            await self.stop()
            raise

    async def _connect(self) -> None:
        application = self.build_application()
        try:
            await application.initialize()
        except InvalidToken:
            # PTB's message quotes the token itself; say which setting is wrong instead.
            raise ConfigError("TELEGRAM_TOKEN was rejected by the Telegram server") from None
        except BaseException:
            with contextlib.suppress(Exception):
                await application.shutdown()
            raise
        self.application = application
        bot = application.bot
        self.bot_id = bot.id
        self.username = bot.username or ""
        assert self._http is not None
        self._deps = ReplierDeps(
            bot=bot,
            i18n=self.app.i18n,
            pacer=self.pacer,
            interactions=self.interactions,
            bot_username=self.username,
            draft_idle_commit=self.options.draft_idle_commit,
        )
        cap = None if self.local_mode else CLOUD_DOWNLOAD_CAP
        self._downloader = Downloader(bot, self._http, platform_cap=cap)
        self._add_handlers(application)
        register = getattr(self.app.router, "register_deliverer", None)
        if callable(register):
            register(PLATFORM, self)  # recovery and the outbox reach Telegram chats through us
        await self.publish_menu()
        await application.start()
        await self._replay_unclaimed(application)
        assert application.updater is not None
        await application.updater.start_polling(
            timeout=dtm.timedelta(seconds=self.options.poll_timeout),
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
        )
        log.info("telegram connected as bot %d", self.bot_id)

    async def _replay_unclaimed(self, application: TgApplication) -> None:
        """Queue updates fetched before a crash but never claimed by a handler.

        They go through the same queue as polled ones, so `_record` claims each exactly once
        even when Telegram delivers it again.
        """
        replayed = 0
        for key, raw in await self.app.users.unclaimed_inbound(PLATFORM):
            try:
                update = Update.de_json(json.loads(raw), application.bot)
            except (ValueError, TypeError, KeyError) as err:
                log.warning("telegram update %s not replayable: %s", key, type(err).__name__)
                continue
            await application.update_queue.put(update)
            replayed += 1
        if replayed:
            log.info("replaying %d telegram updates fetched before a restart", replayed)

    async def _connect_later(self) -> None:
        delay = self.options.reconnect_delay
        while True:
            await asyncio.sleep(delay)
            try:
                await self._connect()
                return
            except NetworkError as err:
                log.warning("telegram still unreachable: %s", type(err).__name__)
            except Exception as exc:
                log.error("telegram cannot start: %s", type(exc).__name__)
                return
            await self._drop_application()
            delay = min(delay * 2, 300.0)

    async def _drop_application(self) -> None:
        application, self.application = self.application, None
        self._deps = None
        if application is None:
            return
        try:
            if application.updater is not None and application.updater.running:
                await application.updater.stop()
            if application.running:
                await application.stop()
        finally:
            await application.shutdown()

    async def deliver(self, platform: str, chat_id: str, text: str) -> None:
        """The `Deliverer` for recovery and the outbox: put `text` into a chat, no live update."""
        if self._deps is None:
            raise DeliveryUnavailable(chat_id)
        target = int(chat_id)
        replier = TelegramReplier(
            self._deps, chat_id=target, is_private=target > 0, user_id=target, locale="en"
        )
        try:
            await replier.send_now(text)
        except Forbidden as err:
            raise DeliveryUnavailable(chat_id) from err
        except BadRequest as err:
            if "chat not found" in err.message.lower():
                raise DeliveryUnavailable(chat_id) from err
            raise

    async def send_dm(self, platform_user_id: str, text: str) -> bool:
        """The app's direct-message port (anniversaries, /notify): False when it can't reach them.

        A Telegram private chat's id is the person's user id; a person who never opened the
        chat or blocked the bot cannot be written to, and that is not an error.
        """
        try:
            await self.deliver("telegram", platform_user_id, text)
        except (DeliveryUnavailable, ValueError):
            log.info("telegram: direct message to user %s not delivered", platform_user_id)
            return False
        return True

    async def publish_menu(self) -> bool:
        """Publish the `/` menus if they changed since the last start; failures only warn."""
        assert self.application is not None
        try:
            return await publish_menus(
                self.application.bot,
                self.app.registry,
                self.app.i18n,
                self.app.settings.data_dir,
                default_locale=self.app.settings.default_locale,
                scope_objects={
                    "default": BotCommandScopeDefault(),
                    "all_private_chats": BotCommandScopeAllPrivateChats(),
                    "all_group_chats": BotCommandScopeAllGroupChats(),
                },
            )
        except TelegramError as err:
            log.warning("telegram menu not published: %s", type(err).__name__)
            return False

    async def stop(self) -> None:
        """Stop polling, let running handlers finish, close the HTTP clients (idempotent)."""
        if self._reconnect is not None:
            self._reconnect.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnect
            self._reconnect = None
        for choice in list(self.interactions.choices.values()):
            # A pending confirmation would hold shutdown for minutes; treat it as "no".
            if not choice.future.done():
                choice.future.set_result(False)
        # deliver() then reports chats unreachable instead of using a closed bot.
        await self._drop_application()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- handlers --------------------------------------------------------------------------------

    def _add_handlers(self, application: TgApplication) -> None:
        msgs = filters.UpdateType.MESSAGE
        application.add_handler(TypeHandler(Update, self._record), group=-1)
        names = [n for n in self.app.registry.top_level() if n != "start"]
        if "start" not in self.app.registry.top_level():
            application.add_handler(CommandHandler("start", self._locked(self._on_start), msgs))
        else:
            names.insert(0, "start")
        if names:
            application.add_handler(CommandHandler(names, self._locked(self._on_command), msgs))
        caption_command = msgs & filters.CaptionRegex(r"^/[A-Za-z0-9_]")
        application.add_handler(MessageHandler(caption_command, self._locked(self._on_caption)))
        private = msgs & filters.ChatType.PRIVATE
        application.add_handler(
            MessageHandler(private & filters.COMMAND, self._locked(self._on_unknown))
        )
        application.add_handler(
            MessageHandler(private & ~filters.COMMAND, self._locked(self._on_private))
        )
        application.add_handler(
            MessageHandler(
                msgs & filters.ChatType.GROUPS & filters.REPLY & ~filters.COMMAND,
                self._locked(self._on_group_reply),
            )
        )
        application.add_handler(CallbackQueryHandler(self._on_callback))
        application.add_handler(
            ChatMemberHandler(self._on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER)
        )
        application.add_error_handler(self._on_error)

    def _locked(self, fn: Callback) -> Callback:
        """Run `fn` holding the sender's lock: one person's updates are handled in order."""

        async def run(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            message = update.message
            # Outside the lock, so the album's other photos are noted meanwhile.
            album_part = message is not None and message.media_group_id
            if album_part and message is not None and not await self._album_leader(message):
                return
            user = update.effective_user
            key = user.id if user else 0
            lock = self._locks.get(key)
            if lock is None:
                lock = asyncio.Lock()
                self._locks[key] = lock
            async with lock:
                await fn(update, context)

        return run

    async def _record(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Group -1, before any handler: claim the update (a re-delivery is dropped); note albums."""
        if not await self.app.users.claim_inbound(PLATFORM, update_key(update.update_id)):
            log.info("dropped re-delivered telegram update %d", update.update_id)
            raise ApplicationHandlerStop
        msg = update.message
        if msg is not None and msg.media_group_id and self._downloader is not None:
            album = self._albums.get(msg.media_group_id)
            if album is None:
                album = Album()
                self._albums[msg.media_group_id] = album
                while len(self._albums) > 256:
                    self._albums.popitem(last=False)
            album.add(msg.message_id, bool(msg.caption), self._downloader.attachments(msg))

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        err = context.error
        update_id = update.update_id if isinstance(update, Update) else None
        # Type and update id only: exception texts can quote what people wrote.
        log.error("telegram update %s failed: %s", update_id, type(err).__name__)

    # -- context -------------------------------------------------------------------------------

    def _refs(self, message: Message) -> tuple[UserRef, ChatRef]:
        sender = message.from_user
        chat = message.chat
        user = UserRef(
            PLATFORM, str(sender.id if sender else 0), sender.full_name if sender else ""
        )
        kind: ChatKind = "dm" if chat.type == ChatType.PRIVATE else "group"
        return user, ChatRef(PLATFORM, str(chat.id), kind, chat.title or "")

    async def _replier(self, message: Message) -> tuple[UserRef, ChatRef, TelegramReplier]:
        assert self._deps is not None
        user, chat = self._refs(message)
        hint = message.from_user.language_code if message.from_user else None
        locale = await self.app.router.locale_for(user, chat, hint)
        replier = TelegramReplier(
            self._deps,
            chat_id=message.chat.id,
            is_private=chat.is_dm,
            user_id=int(user.id),
            locale=locale,
            reply_to=message.message_id,
            thread_id=message.message_thread_id if message.is_topic_message else None,
        )
        return user, chat, replier

    async def _is_admin(self, message: Message) -> bool:
        """Whether the sender administers this group (cached for a few minutes)."""
        if message.chat.type == ChatType.PRIVATE:
            return True
        if message.sender_chat is not None and message.sender_chat.id == message.chat.id:
            return True  # an anonymous admin speaking as the group
        if message.from_user is None or self.application is None:
            return False
        now = time.monotonic()
        cached = self._admins.get(message.chat.id)
        if cached is None or cached[0] < now:
            try:
                members = await self.application.bot.get_chat_administrators(message.chat.id)
            except TelegramError as err:
                log.warning("could not read group admins: %s", type(err).__name__)
                return False
            ids = frozenset(m.user.id for m in members)
            cached = (now + ADMIN_CACHE_SECONDS, ids)
            self._admins[message.chat.id] = cached
        return message.from_user.id in cached[1]

    def _attachments(self, message: Message) -> list[Attachment]:
        """This message's files (the whole album when it is one), else the files it replies to."""
        assert self._downloader is not None
        album = self._albums.get(message.media_group_id) if message.media_group_id else None
        found = album.attachments() if album else self._downloader.attachments(message)
        reply = message.reply_to_message
        if not found and reply is not None:
            album = self._albums.get(reply.media_group_id) if reply.media_group_id else None
            found = album.attachments() if album else self._downloader.attachments(reply)
        return found

    async def _album_leader(self, message: Message) -> bool:
        """For an album's message: wait for the rest; True only for the one that answers for all."""
        await asyncio.sleep(self.options.album_wait)
        album = self._albums.get(message.media_group_id or "")
        return album is None or album.leader() == message.message_id

    # -- commands --------------------------------------------------------------------------------

    async def _run_command(
        self, message: Message, text: str, attachments: list[Attachment]
    ) -> bool:
        user, chat, replier = await self._replier(message)
        try:
            return await self.app.router.run_text(
                user,
                chat,
                text,
                replier,
                attachments=attachments,
                locale_hint=message.from_user.language_code if message.from_user else None,
                is_admin=await self._is_admin(message),
            )
        finally:
            await replier.close()

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or not message.text:
            return
        log.info("telegram command in a %s chat (update %d)", message.chat.type, update.update_id)
        await self._run_command(message, message.text, self._attachments(message))

    async def _on_caption(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        # CommandHandler reads only `text`; a photo captioned "/farewell" lands here.
        message = update.message
        if message is None or not message.caption:
            return
        head = message.caption.split(maxsplit=1)[0]
        addressee = head.partition("@")[2]
        if addressee and addressee.lower() != self.username.lower():
            return  # a command for another bot in the group
        handled = await self._run_command(message, message.caption, self._attachments(message))
        if not handled and message.chat.type == ChatType.PRIVATE:
            await self._on_private(update, context)

    async def _on_unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None:
            return
        _, _, replier = await self._replier(message)
        await replier.send(replier.t("errors.unknown_command"))
        await replier.close()

    async def _on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/start [payload]`: a welcome, then the deep link's command if there is one."""
        message = update.message
        if message is None:
            return
        user, chat, replier = await self._replier(message)
        try:
            if not chat.is_dm:
                link = f"https://t.me/{self.username}"
                await replier.send(replier.t("telegram.start.group", link=link))
                return
            await replier.send(replier.t("telegram.start.welcome", name=user.name))
            payload = (message.text or "").partition(" ")[2].strip()
            line = self.start_command(payload)
            if line is not None:
                log.info("telegram deep link to /%s", line.split()[0][1:])
                await self.app.router.run_text(
                    user,
                    chat,
                    line,
                    replier,
                    locale_hint=message.from_user.language_code if message.from_user else None,
                    is_admin=True,
                )
        finally:
            await replier.close()

    def start_command(self, payload: str) -> str | None:
        """The command line a deep-link payload stands for (`link_AB12` → `/link AB12`)."""
        if not payload:
            return None
        registry = self.app.registry
        names = registry.top_level()
        for alias in START_ALIASES.get(payload.lower(), ()):
            if alias in names:
                return f"/{alias}"
        lowered = payload.lower()
        if NAME_RE.match(lowered) and lowered in names:
            return f"/{lowered}"
        for sep in ("_", "-"):
            head, found, rest = payload.partition(sep)
            if found and head.lower() in names and rest:
                return f"/{head.lower()} {rest}"
        return None

    # -- plain messages --------------------------------------------------------------------------

    async def _to_router(self, message: Message, text: str, attachments: list[Attachment]) -> None:
        user, chat, replier = await self._replier(message)
        incoming = IncomingMessage(
            user=user,
            chat=chat,
            text=text,
            key=f"m{message.chat.id}:{message.message_id}",
            attachments=tuple(attachments),
            locale_hint=message.from_user.language_code if message.from_user else None,
            addressed=True,
        )
        try:
            await self.app.router.handle_message(incoming, replier)
        finally:
            await replier.close()

    async def _on_private(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None:
            return
        text = message.text or message.caption or ""
        attachments = self._attachments(message) if not message.text else []
        if not text and not attachments:
            return  # stickers, locations, …: nothing the companion can read
        await self._to_router(message, text, attachments)

    async def _on_group_reply(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or message.reply_to_message is None:
            return
        author = message.reply_to_message.from_user
        if author is None or author.id != self.bot_id:
            return  # only replies to the bot's own messages are for the bot
        assert self._downloader is not None
        text = message.text or message.caption or ""
        await self._to_router(message, text, self._downloader.attachments(message))

    # -- buttons ---------------------------------------------------------------------------------

    async def _on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or self._deps is None:
            return
        data = query.data or ""
        message = query.message if isinstance(query.message, Message) else None
        presser = query.from_user
        user = UserRef(PLATFORM, str(presser.id), presser.full_name)
        chat_kind: ChatKind = (
            "dm" if message is None or message.chat.type == ChatType.PRIVATE else "group"
        )
        chat_id = message.chat.id if message else presser.id
        chat = ChatRef(
            PLATFORM, str(chat_id), chat_kind, message.chat.title or "" if message else ""
        )
        locale = await self.app.router.locale_for(user, chat, presser.language_code)
        replier = TelegramReplier(
            self._deps,
            chat_id=chat_id,
            is_private=chat.is_dm,
            user_id=presser.id,
            locale=locale,
        )
        prefix, _, rest = data.partition(":")
        if prefix == CONFIRM_PREFIX:
            nonce, _, answer = rest.partition(":")
            choice = self.interactions.choices.get(nonce)
            if choice is None:
                await query.answer(replier.t("errors.button_expired"))
            elif choice.owner != presser.id:
                await query.answer(replier.t("core.not_yours"), show_alert=True)
            else:
                if not choice.future.done():
                    choice.future.set_result(answer == "y")
                await query.answer()
            return
        if prefix == PAGE_PREFIX:
            await self._turn_page(query, rest, replier, message)
            return
        notice = await self.app.router.press(
            user,
            chat,
            data,
            MessageHandle(str(chat_id), str(message.message_id if message else 0)),
            replier,
            locale_hint=presser.language_code,
            is_admin=chat.is_dm
            or (message is not None and await self._presser_is_admin(chat_id, presser.id)),
        )
        await replier.close()
        await query.answer(notice or None)

    async def _presser_is_admin(self, chat_id: int, user_id: int) -> bool:
        assert self.application is not None
        try:
            member = await self.application.bot.get_chat_member(chat_id, user_id)
        except TelegramError:
            return False
        return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)

    async def _turn_page(
        self, query: Any, rest: str, replier: TelegramReplier, message: Message | None
    ) -> None:
        nonce, _, index_text = rest.partition(":")
        entry = self.interactions.pages.get(nonce)
        if entry is None or message is None or not index_text.isdigit():
            await query.answer(replier.t("errors.button_expired"))
            return
        if entry.owner != query.from_user.id:
            await query.answer(replier.t("core.not_yours"), show_alert=True)
            return
        index = min(int(index_text), len(entry.pages) - 1)
        try:
            await message.edit_text(
                entry.pages[index],
                reply_markup=page_markup(nonce, index, len(entry.pages), replier),
            )
        except TelegramError as err:
            log.info("page turn not applied: %s", type(err).__name__)
        await query.answer()

    # -- membership ------------------------------------------------------------------------------

    async def _on_my_chat_member(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        change = update.my_chat_member
        if change is None or self._deps is None:
            return
        chat = change.chat
        if chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
            return
        if not (
            change.old_chat_member.status in _GONE and change.new_chat_member.status in _JOINED
        ):
            return
        await self.app.users.ensure_chat(PLATFORM, str(chat.id), "group")
        inviter = change.from_user
        user = UserRef(PLATFORM, str(inviter.id), inviter.full_name)
        ref = ChatRef(PLATFORM, str(chat.id), "group", chat.title or "")
        locale = await self.app.router.locale_for(user, ref, inviter.language_code)
        replier = TelegramReplier(
            self._deps, chat_id=chat.id, is_private=False, user_id=inviter.id, locale=locale
        )
        hook: Callable[[ChatRef, Replier], Awaitable[None]] | None = getattr(
            self.app, "on_joined_group", None
        )
        log.info("telegram bot added to a group")
        try:
            if hook is not None:
                await hook(ref, replier)
            else:
                await replier.send(replier.t("telegram.joined_group", bot=self.username))
        finally:
            await replier.close()


def _server_root(url: str | None) -> str | None:
    """`TELEGRAM_BASE_URL` is the server root; tolerate a copied `/bot` suffix."""
    if not url:
        return None
    root = url.rstrip("/")
    return root[: -len("/bot")] if root.endswith("/bot") else root


def _quiet_http_loggers() -> None:
    # httpx logs every request URL at INFO, and Bot API URLs contain the token.
    for name in ("httpx", "httpcore", "telegram"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING or logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
