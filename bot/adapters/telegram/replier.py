"""How the bot answers in one Telegram chat: drafts, edits, splits, keyboards, flood control.

Private chats stream through `sendMessageDraft`. A plain `send` is held back for a moment: if
an edit follows, it was the start of a stream and becomes a draft that edits animate; `finish`
(or anything sent after it, the end of the update, or a few idle seconds, since drafts vanish
after 30 s) turns it into one real message. A reply that is never edited goes out as one normal
message, so plain answers cost one API call. Groups get one message and edits at most every
3 seconds. Model output goes out as plain text with link previews off.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import itertools
import logging
import secrets
import time
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.core.models import Button, MessageHandle, OutFile
from bot.core.streaming import split_text
from bot.services.i18n import I18n

log = logging.getLogger(__name__)

MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
PRIVATE_EDIT_INTERVAL = 1.0
GROUP_EDIT_INTERVAL = 3.0
#: A draft not updated for this long becomes a real message (Telegram drops drafts after 30 s).
DRAFT_IDLE_COMMIT = 8.0
#: A plain reply not followed by a stream update within this time is sent as it is.
DEFER_IDLE_COMMIT = 2.0
#: Internal callback prefixes; `~` cannot start a cog's button prefix (`[a-z0-9_]`).
CONFIRM_PREFIX = "~c"
PAGE_PREFIX = "~p"
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)

T = TypeVar("T")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def split_message(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces that each fit one Telegram message, split at natural boundaries."""
    pieces: list[str] = []
    for piece in split_text(text, limit):
        if utf16_len(piece) <= limit:
            pieces.append(piece)
        else:
            # Astral characters (emoji) count twice; half the limit in code points always fits.
            pieces.extend(split_text(piece, limit // 2))
    return pieces


def fit(text: str, limit: int = MAX_TEXT) -> str:
    """`text` cut to at most `limit` UTF-16 units (for edits, which cannot split)."""
    if utf16_len(text) <= limit:
        return text
    cut = text[:limit]
    while utf16_len(cut) > limit:
        cut = cut[: -max(1, (utf16_len(cut) - limit) // 2)]
    return cut


def retry_seconds(err: RetryAfter) -> float:
    """`RetryAfter.retry_after` as seconds (PTB 22 gives an int or a timedelta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value: Any = err.retry_after
    if isinstance(value, dtm.timedelta):
        return value.total_seconds()
    return float(value)


def is_not_modified(err: TelegramError) -> bool:
    return isinstance(err, BadRequest) and "not modified" in err.message.lower()


@dataclass
class Choice:
    """A pending confirmation: who may answer, and the future that receives the answer."""

    owner: int
    future: asyncio.Future[bool]


@dataclass
class Pages:
    """A paginated message: who may page it, and its pages."""

    owner: int
    pages: list[str]


@dataclass
class Interactions:
    """Keyboards waiting for a press, shared by every replier of one adapter (bounded)."""

    choices: dict[str, Choice] = field(default_factory=dict)
    pages: OrderedDict[str, Pages] = field(default_factory=OrderedDict)
    max_pages: int = 500

    def remember_pages(self, owner: int, pages: list[str]) -> str:
        nonce = secrets.token_hex(6)
        self.pages[nonce] = Pages(owner, pages)
        while len(self.pages) > self.max_pages:
            self.pages.popitem(last=False)
        return nonce


class ChatPacer:
    """Keeps sends to one chat apart (Telegram: about one message per second per chat).

    Groups are also limited to 20 a minute by the application's AIORateLimiter; this adds the
    per-chat spacing it lacks, and remembers a flood-control wait so nothing goes out early.
    """

    def __init__(self, min_gap: float = 1.0, *, clock: Callable[[], float] = time.monotonic):
        self.min_gap = min_gap
        self.clock = clock
        self._next: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def block(self, chat_id: str, seconds: float) -> None:
        """Nothing goes to `chat_id` for `seconds` (a 429 answer)."""
        self._next[chat_id] = max(self._next.get(chat_id, 0.0), self.clock() + seconds)

    def blocked_for(self, chat_id: str) -> float:
        return max(0.0, self._next.get(chat_id, 0.0) - self.clock())

    async def wait(self, chat_id: str) -> None:
        lock = self._locks.setdefault(chat_id, asyncio.Lock())
        async with lock:
            delay = self.blocked_for(chat_id)
            if delay > 0:
                await asyncio.sleep(delay)
            self._next[chat_id] = self.clock() + self.min_gap
        if len(self._locks) > 4096:
            self._prune()

    def _prune(self) -> None:
        now = self.clock()
        for key in [k for k, t in self._next.items() if t < now]:
            self._next.pop(key, None)
            lock = self._locks.get(key)
            if lock is not None and not lock.locked():
                del self._locks[key]


@dataclass
class ReplierDeps:
    """What every replier of one adapter shares."""

    bot: Bot
    i18n: I18n
    pacer: ChatPacer
    interactions: Interactions
    bot_username: str = ""
    # Random start: a draft id reused right after a restart would animate over an old draft.
    draft_ids: itertools.count[int] = field(
        default_factory=lambda: itertools.count(secrets.randbelow(2**30) + 1)
    )
    draft_idle_commit: float = DRAFT_IDLE_COMMIT
    defer_idle_commit: float = DEFER_IDLE_COMMIT
    use_drafts: bool = True


class TelegramReplier:
    """A `Replier` for one chat and one invoking user."""

    max_length = MAX_TEXT

    def __init__(
        self,
        deps: ReplierDeps,
        *,
        chat_id: int,
        is_private: bool,
        user_id: int,
        locale: str,
        reply_to: int | None = None,
        thread_id: int | None = None,
    ) -> None:
        self.deps = deps
        self.thread_id = thread_id
        self.bot = deps.bot
        self.chat_id = chat_id
        self.is_private = is_private
        self.user_id = user_id
        self.locale = locale
        self.reply_to = reply_to
        self.edit_interval = PRIVATE_EDIT_INTERVAL if is_private else GROUP_EDIT_INTERVAL
        self._use_drafts = deps.use_drafts and is_private
        self._draft: MessageHandle | None = None
        self._draft_timer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._private: TelegramReplier | None = None

    # -- plumbing ------------------------------------------------------------------------------

    def t(self, key: str, **params: Any) -> str:
        return self.deps.i18n.t(self.locale, key, **params)

    async def _call(
        self,
        chat_id: int,
        make: Callable[[], Awaitable[T]],
        *,
        retry: bool = True,
        pace: bool = True,
    ) -> T:
        """Run one API call to `chat_id`, paced; on flood control wait the full time, then retry.

        Drafts pass `pace=False`: they are not messages, the renderer already throttles them,
        and the final message must not wait a second behind the last draft.
        """
        key = str(chat_id)
        for attempt in range(3):
            if pace:
                await self.deps.pacer.wait(key)
            elif (delay := self.deps.pacer.blocked_for(key)) > 0:
                await asyncio.sleep(delay)
            try:
                return await make()
            except RetryAfter as err:
                seconds = retry_seconds(err)
                self.deps.pacer.block(key, seconds)
                log.warning("telegram flood control: retry after %.1fs", seconds)
                if not retry or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _thread(self, chat_id: int) -> int | None:
        # In a forum supergroup, answers stay in the topic the question was asked in.
        return self.thread_id if chat_id == self.chat_id else None

    def _reply_parameters(self, chat_id: int) -> ReplyParameters | None:
        if self.reply_to is None or chat_id != self.chat_id or self.is_private:
            return None
        return ReplyParameters(message_id=self.reply_to, allow_sending_without_reply=True)

    async def _send_text(
        self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> Message:
        pieces = split_message(text) if text.strip() else []
        if not pieces:
            raise ValueError("nothing to send")
        message: Message | None = None
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1

            async def send(piece: str = piece, last: bool = last, first: bool = i == 0) -> Message:
                return await self.bot.send_message(
                    chat_id=chat_id,
                    text=piece,
                    reply_markup=markup if last else None,
                    link_preview_options=NO_PREVIEW,
                    reply_parameters=self._reply_parameters(chat_id) if first else None,
                    message_thread_id=self._thread(chat_id),
                )

            message = await self._call(chat_id, send)
        assert message is not None
        return message

    async def _send_files(self, chat_id: int, files: Sequence[OutFile]) -> Message | None:
        last: Message | None = None
        for item in files:
            upload = InputFile(item.data, filename=item.filename)

            async def send(item: OutFile = item, upload: InputFile = upload) -> Message:
                if item.is_image:
                    return await self.bot.send_photo(
                        chat_id=chat_id, photo=upload, message_thread_id=self._thread(chat_id)
                    )
                return await self.bot.send_document(
                    chat_id=chat_id, document=upload, message_thread_id=self._thread(chat_id)
                )

            last = await self._call(chat_id, send)
        return last

    def _markup(self, buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
        if not buttons:
            return None
        row = []
        for b in buttons:
            if len(b.custom_id.encode("utf-8")) > MAX_CALLBACK_DATA:
                raise ValueError(f"button id longer than {MAX_CALLBACK_DATA} bytes")
            row.append(InlineKeyboardButton(b.label, callback_data=b.custom_id))
        # Up to three buttons side by side; more wrap into rows so labels stay readable.
        return InlineKeyboardMarkup([row[i : i + 3] for i in range(0, len(row), 3)])

    # -- Replier protocol ----------------------------------------------------------------------

    async def send(
        self,
        text: str,
        *,
        ephemeral: bool = False,
        buttons: Sequence[Button] = (),
        files: Sequence[OutFile] = (),
        target: str | None = None,
    ) -> MessageHandle:
        """Send a message; plain private text is held back briefly in case a stream follows."""
        if target is not None and int(target) != self.chat_id:
            chat_id = int(target)
            msg = await self._send_text(chat_id, text, self._markup(buttons)) if text else None
            sent = await self._send_files(chat_id, files)
            final = msg or sent
            return MessageHandle(str(chat_id), str(final.message_id if final else 0))
        if ephemeral and not self.is_private:
            return await self._send_privately(text, buttons=buttons, files=files)
        await self.commit()
        plain = text.strip() and not buttons and not files
        if self._use_drafts and plain and utf16_len(text) <= MAX_TEXT:
            return self._defer(text)
        markup = self._markup(buttons)
        handle = MessageHandle(str(self.chat_id), "0", {"text": text})
        if text.strip():
            msg = await self._send_text(self.chat_id, text, markup)
            handle.message_id = str(msg.message_id)
        sent = await self._send_files(self.chat_id, files)
        if handle.message_id == "0" and sent is not None:
            handle.message_id = str(sent.message_id)
        return handle

    async def send_now(self, text: str) -> None:
        """Send `text` at once as real messages (split as needed), bypassing drafts."""
        await self.commit()
        await self._send_text(self.chat_id, text)

    async def _send_privately(
        self, text: str, *, buttons: Sequence[Button], files: Sequence[OutFile]
    ) -> MessageHandle:
        # Telegram has no ephemeral messages: personal answers go to the person's private chat.
        if self._private is None:
            self._private = TelegramReplier(
                self.deps,
                chat_id=self.user_id,
                is_private=True,
                user_id=self.user_id,
                locale=self.locale,
            )
        try:
            handle = await self._private.send(text, buttons=buttons, files=files)
            await self._private.commit()
        except Forbidden:
            link = f"https://t.me/{self.deps.bot_username}?start=hi"
            await self.send(self.t("telegram.dm_blocked", link=link))
            return MessageHandle(str(self.chat_id), "0")
        await self.send(self.t("telegram.sent_privately"))
        return handle

    def _defer(self, text: str) -> MessageHandle:
        # Nothing is sent yet: a plain reply goes out as one message when the update ends (or
        # the next thing is sent); if an edit comes first, this was a stream and becomes a draft.
        # The id stays this placeholder for the handle's life (the outbox journal keys rows by
        # it); the Telegram message id, once there is one, lives in extra["tg_id"].
        placeholder = f"pending:{next(self.deps.draft_ids)}"
        handle = MessageHandle(str(self.chat_id), placeholder, {"text": text, "pending": True})
        self._draft = handle
        self._arm_timer(self.deps.defer_idle_commit)
        return handle

    def _arm_timer(self, delay: float) -> None:
        if self._draft_timer is not None:
            self._draft_timer.cancel()
        self._draft_timer = asyncio.get_running_loop().create_task(self._idle_commit(delay))

    async def _idle_commit(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._draft_timer = None
        try:
            await self.commit()
        except TelegramError as err:
            log.warning("could not settle a draft: %s", type(err).__name__)

    async def commit(self) -> None:
        """Send a deferred reply or settle a draft as one real message (the handle follows it)."""
        async with self._lock:
            handle, self._draft = self._draft, None
            timer, self._draft_timer = self._draft_timer, None
            if timer is not None and timer is not asyncio.current_task():
                timer.cancel()
            if handle is None:
                return
            text = str(handle.extra.get("text", ""))
            handle.extra.pop("draft", None)
            handle.extra.pop("pending", None)
            if text.strip():
                msg = await self._send_text(self.chat_id, text)
                handle.extra["tg_id"] = msg.message_id

    async def _update_draft(self, handle: MessageHandle, text: str) -> None:
        handle.extra["text"] = text
        if self.deps.pacer.blocked_for(handle.chat_id) > 0:
            return  # flood control: the final message carries the text; never retry early
        draft_id = handle.extra.get("draft")
        if not isinstance(draft_id, int):
            draft_id = next(self.deps.draft_ids)
        try:
            await self._call(
                self.chat_id,
                lambda: self.bot.send_message_draft(
                    chat_id=self.chat_id, draft_id=draft_id, text=fit(text)
                ),
                retry=False,
                pace=False,
            )
        except RetryAfter:
            return
        except TelegramError as err:
            # A server without drafts (older or self-hosted): settle now, then edit as in groups.
            log.warning("drafts unavailable (%s); using edits", type(err).__name__)
            self._use_drafts = False
            await self.commit()
            return
        handle.extra["draft"] = draft_id
        self._arm_timer(self.deps.draft_idle_commit)

    async def edit(
        self, handle: MessageHandle, text: str, *, buttons: Sequence[Button] | None = None
    ) -> None:
        """Update a draft or edit a sent message; "not modified" and flood control are skipped."""
        if handle is self._draft and buttons is None and self._use_drafts:
            await self._update_draft(handle, text)
            return
        if handle is self._draft:
            handle.extra["text"] = text
            await self.commit()
            if buttons is None:
                return
        await self._edit_message(handle, text, buttons)

    async def _edit_message(
        self, handle: MessageHandle, text: str, buttons: Sequence[Button] | None
    ) -> bool:
        """Edit a sent message; False when skipped (flood control) — never retried early."""
        tg_id = _tg_id(handle)
        if tg_id is None:
            return False
        if self.deps.pacer.blocked_for(handle.chat_id) > 0 and buttons is None:
            return False
        markup = self._markup(buttons) if buttons is not None else None
        try:
            await self._call(
                int(handle.chat_id),
                lambda: self.bot.edit_message_text(
                    chat_id=int(handle.chat_id),
                    message_id=tg_id,
                    text=fit(text),
                    reply_markup=markup,
                    link_preview_options=NO_PREVIEW,
                ),
                retry=False,
            )
        except RetryAfter:
            return False
        except BadRequest as err:
            if not is_not_modified(err):
                raise
        handle.extra["text"] = text
        return True

    async def finish(self, handle: MessageHandle, text: str) -> MessageHandle:
        """Settle a streamed message: a draft becomes one real message; a sent one is edited."""
        if handle is self._draft:
            handle.extra["text"] = text
            await self.commit()
            return handle
        if str(handle.extra.get("text", "")) == text:
            return handle
        if utf16_len(text) <= MAX_TEXT:
            # The final edit must land: wait out flood control instead of skipping it.
            wait = self.deps.pacer.blocked_for(handle.chat_id)
            if wait > 0:
                await asyncio.sleep(wait)
            await self._edit_message(handle, text, None)
            return handle
        head, *rest = split_message(text)
        await self._edit_message(handle, head, None)
        msg = await self._send_text(int(handle.chat_id), "\n".join(rest))
        return MessageHandle(handle.chat_id, str(msg.message_id), {"text": rest[-1]})

    async def typing(self) -> None:
        with contextlib.suppress(TelegramError):
            await self.bot.send_chat_action(chat_id=self.chat_id, action=ChatAction.TYPING)

    async def confirm(self, text: str, *, yes: str, no: str, timeout: float = 180.0) -> bool:
        """Ask with two inline buttons only the invoking person can press; False on timeout."""
        await self.commit()
        nonce = secrets.token_hex(6)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.deps.interactions.choices[nonce] = Choice(self.user_id, future)
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(yes, callback_data=f"{CONFIRM_PREFIX}:{nonce}:y"),
                    InlineKeyboardButton(no, callback_data=f"{CONFIRM_PREFIX}:{nonce}:n"),
                ]
            ]
        )
        msg = await self._send_text(self.chat_id, text, markup)
        try:
            answer = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            answer = False
        finally:
            self.deps.interactions.choices.pop(nonce, None)
        # Remove the buttons so nobody presses a question that is no longer asked.
        with contextlib.suppress(TelegramError):
            await self.bot.edit_message_reply_markup(
                chat_id=self.chat_id, message_id=msg.message_id, reply_markup=None
            )
        return answer

    async def paginate(self, pages: Sequence[str], *, ephemeral: bool = False) -> None:
        """Show the first page with ◀ ▶ buttons only the invoking person can use."""
        if ephemeral and not self.is_private:
            if self._private is None:
                self._private = TelegramReplier(
                    self.deps,
                    chat_id=self.user_id,
                    is_private=True,
                    user_id=self.user_id,
                    locale=self.locale,
                )
            try:
                await self._private.paginate(pages)
            except Forbidden:
                link = f"https://t.me/{self.deps.bot_username}?start=hi"
                await self.send(self.t("telegram.dm_blocked", link=link))
                return
            await self.send(self.t("telegram.sent_privately"))
            return
        await self.commit()
        items = [fit(p) for p in pages if p.strip()]
        if not items:
            return
        if len(items) == 1:
            await self._send_text(self.chat_id, items[0])
            return
        nonce = self.deps.interactions.remember_pages(self.user_id, items)
        await self._send_text(self.chat_id, items[0], page_markup(nonce, 0, len(items), self))

    async def close(self) -> None:
        """End of the update: anything still a draft becomes a real message."""
        await self.commit()
        if self._private is not None:
            await self._private.close()


def _tg_id(handle: MessageHandle) -> int | None:
    """The Telegram message id behind a handle (None while it is only a draft or deferred)."""
    value = handle.extra.get("tg_id")
    if isinstance(value, int):
        return value
    return int(handle.message_id) if handle.message_id.isdigit() else None


def page_markup(
    nonce: str, index: int, total: int, replier: TelegramReplier
) -> InlineKeyboardMarkup:
    """◀ n/total ▶ for page `index` (buttons only where there is somewhere to go)."""
    row = []
    if index > 0:
        row.append(
            InlineKeyboardButton(
                replier.t("core.previous"),
                callback_data=f"{PAGE_PREFIX}:{nonce}:{index - 1}",
            )
        )
    row.append(
        InlineKeyboardButton(
            replier.t("telegram.page.position", page=index + 1, total=total),
            callback_data=f"{PAGE_PREFIX}:{nonce}:{index}",
        )
    )
    if index < total - 1:
        row.append(
            InlineKeyboardButton(
                replier.t("core.next"), callback_data=f"{PAGE_PREFIX}:{nonce}:{index + 1}"
            )
        )
    return InlineKeyboardMarkup([row])
