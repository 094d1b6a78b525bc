"""Durable turns: nothing a person says is lost to a crash, a restart or a platform outage.

`DurableRouter` is the router the App uses. For every plain message it

1. records the message in the inbox (with the chat and, while unanswered, the text) *before*
   handling it — a re-delivered key is dropped, so nothing is answered twice;
2. wraps the adapter's replier in a `JournaledReplier`, which writes each complete reply to the
   outbox as pending before its final send; the row is marked sent when the turn settles;
3. settles the turn in one transaction: `answered`, or `pending` when the handler was cancelled
   (shutdown), a send failed, or the model was unavailable (`ServiceUnavailable`).

On start, `recover()` delivers pending outbox rows once and answers every unanswered message,
preceded by a short localized apology for the delay, through the `Deliverer` each adapter
registers ("send this text to that chat"). `drain()` is the graceful-shutdown half: stop taking
new work, give in-flight turns a grace period, cancel the rest (they become `pending`).

A re-delivered message is never answered twice. A reply is delivered at least once: a crash in
the few milliseconds between a final send and the turn's settle shows it again after the restart
(with the apology); every other path delivers exactly once. A turn that fails three recoveries is
given up with a kind message instead of looping. Per-person limits (`Limits`) are applied here, before a message reaches a
handler, with crisis messages exempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.core.commands import Registry
from bot.core.context import Replier
from bot.core.errors import BotError, ServiceUnavailable
from bot.core.models import Button, ChatRef, IncomingMessage, MessageHandle, OutFile, UserRef
from bot.core.router import LocaleStore, Router
from bot.services.i18n import I18n
from bot.services.limits import Limits
from bot.services.storage.outbox import OpenTurn, Outbox, OutboxRow, TurnStore

log = logging.getLogger(__name__)

# A turn that failed this many times is given up (with a kind message), not retried forever.
MAX_TURN_ATTEMPTS = 3
MAX_DELIVERY_ATTEMPTS = 5
OUTBOX_RETRY_SECONDS = 60.0
# Budget for recording outcomes of cancelled turns after the grace period ended.
CANCEL_SETTLE_SECONDS = 1.0


class DeliveryUnavailable(Exception):
    """The deliverer cannot reach that chat right now (the row stays pending, uncounted)."""


class Deliverer(Protocol):
    """An adapter's way to put a text into a chat outside any live event (after a restart).

    Implementations split texts longer than the platform limit themselves, send them without
    mentions or link previews, and raise `DeliveryUnavailable` for a chat they cannot reach.
    """

    async def deliver(self, platform: str, chat_id: str, text: str) -> None: ...


class PersonResolver(Protocol):
    """Maps a platform account to the person id limits are counted against."""

    async def resolve(
        self, platform: str, platform_user_id: str, display_name: str = ""
    ) -> int: ...


class ReplierDeliverer:
    """Delivers through one replier to a fixed set of chats (the console, tests)."""

    def __init__(self, replier: Replier, chat_ids: Iterable[str]) -> None:
        self.replier = replier
        self.chat_ids = set(chat_ids)

    async def deliver(self, platform: str, chat_id: str, text: str) -> None:
        if chat_id not in self.chat_ids:
            raise DeliveryUnavailable(chat_id)
        await self.replier.send(text)


class JournaledReplier:
    """Wraps a live replier so every complete reply passes through the outbox.

    A streamed message's settled text is recorded as a pending *final* row before `finish`
    and marked sent when the turn settles (in the same transaction as the turn's outcome, to keep
    commits per turn low). A failed send leaves the turn pending, so it is answered again as a
    whole after a restart. Ephemeral and cross-chat messages cannot be re-delivered later, so they
    pass through unrecorded.
    """

    def __init__(self, inner: Replier, outbox: Outbox, platform: str, chat_id: str, key: str):
        self.inner = inner
        self.outbox = outbox
        self.platform = platform
        self.chat_id = chat_id
        self.key = key
        self.max_length = inner.max_length
        self.edit_interval = inner.edit_interval
        self.deferred = False
        self.send_failed = False
        self.sent_rows: list[int] = []
        self.failed_rows: list[int] = []
        self._live: set[str] = set()

    async def send(
        self,
        text: str,
        *,
        ephemeral: bool = False,
        buttons: Sequence[Button] = (),
        files: Sequence[OutFile] = (),
        target: str | None = None,
    ) -> MessageHandle:
        if ephemeral or target is not None:
            return await self.inner.send(
                text, ephemeral=ephemeral, buttons=buttons, files=files, target=target
            )
        try:
            handle = await self.inner.send(text, buttons=buttons, files=files)
        except Exception:
            self.send_failed = True
            raise
        self._live.add(handle.message_id)
        return handle

    async def edit(
        self, handle: MessageHandle, text: str, *, buttons: Sequence[Button] | None = None
    ) -> None:
        await self.inner.edit(handle, text, buttons=buttons)

    async def finish(self, handle: MessageHandle, text: str) -> MessageHandle:
        if handle.message_id not in self._live:
            return await self.inner.finish(handle, text)
        row = await self.outbox.add(self.platform, self.chat_id, text, inbox_key=self.key)
        try:
            settled = await self.inner.finish(handle, text)
        except Exception:
            self.failed_rows.append(row)
            raise
        self.sent_rows.append(row)
        self._live.add(settled.message_id)
        return settled

    async def typing(self) -> None:
        await self.inner.typing()

    async def confirm(self, text: str, *, yes: str, no: str, timeout: float = 180.0) -> bool:
        return await self.inner.confirm(text, yes=yes, no=no, timeout=timeout)

    async def paginate(self, pages: Sequence[str], *, ephemeral: bool = False) -> None:
        await self.inner.paginate(pages, ephemeral=ephemeral)


@dataclass
class _Buffered:
    text: str
    final: bool = False


class BufferedReplier:
    """Collects what a handler says while a turn is answered again after a restart.

    Nothing reaches the chat until the whole answer is known; the texts then go to the outbox
    in the same transaction that marks the turn answered.
    """

    max_length = 100_000
    edit_interval = 0.0

    def __init__(self) -> None:
        self.deferred = False
        self.messages: list[_Buffered] = []

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.messages if m.text.strip()]

    async def send(
        self,
        text: str,
        *,
        ephemeral: bool = False,
        buttons: Sequence[Button] = (),
        files: Sequence[OutFile] = (),
        target: str | None = None,
    ) -> MessageHandle:
        if target is not None:
            # Never redirect a recovered answer anywhere but the chat it belongs to.
            return MessageHandle("buffer", "-1")
        self.messages.append(_Buffered(text))
        return MessageHandle("buffer", str(len(self.messages) - 1))

    def _at(self, handle: MessageHandle) -> _Buffered | None:
        index = int(handle.message_id)
        return self.messages[index] if 0 <= index < len(self.messages) else None

    async def edit(
        self, handle: MessageHandle, text: str, *, buttons: Sequence[Button] | None = None
    ) -> None:
        item = self._at(handle)
        if item is not None:
            item.text = text

    async def finish(self, handle: MessageHandle, text: str) -> MessageHandle:
        item = self._at(handle)
        if item is not None:
            item.text, item.final = text, True
        return handle

    async def typing(self) -> None:
        return None

    async def confirm(self, text: str, *, yes: str, no: str, timeout: float = 180.0) -> bool:
        # Nobody is there to answer a question during recovery: treat it as "no".
        return False

    async def paginate(self, pages: Sequence[str], *, ephemeral: bool = False) -> None:
        self.messages.extend(_Buffered(p, True) for p in pages)


@dataclass
class RecoveryReport:
    """What `recover()` did (counts only)."""

    delivered: int = 0
    answered: int = 0
    still_pending: int = 0
    given_up: int = 0
    undeliverable: int = 0
    turns: list[str] = field(default_factory=list)


class DurableRouter(Router):
    """The router with the inbox/outbox journal, per-person limits and graceful draining."""

    def __init__(
        self,
        registry: Registry,
        i18n: I18n,
        locales: LocaleStore,
        turns: TurnStore,
        outbox: Outbox,
        *,
        limits: Limits | None = None,
        people: PersonResolver | None = None,
        is_crisis: Callable[[str], bool] | None = None,
        bot_username: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(registry, i18n, locales, None, bot_username=bot_username)
        self.turns = turns
        self.outbox = outbox
        self.limits = limits
        self.people = people
        self.is_crisis = is_crisis
        self.clock = clock
        self.deliverers: dict[str, Deliverer] = {}
        self.started_at = clock()
        self._accepting = True
        self._inflight: set[asyncio.Task[object]] = set()
        self._inflight_keys: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ live turns

    def register_deliverer(self, platform: str, deliverer: Deliverer) -> None:
        """Let recovery and the outbox job reach chats on `platform`."""
        self.deliverers[platform] = deliverer

    @property
    def accepting(self) -> bool:
        return self._accepting

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    async def handle_message(self, msg: IncomingMessage, replier: Replier) -> None:
        """Record, then answer (or park) one plain message; a re-delivered key is dropped."""
        addressed = msg.chat.is_dm or msg.addressed
        status = "received" if addressed and self._accepting else "pending"
        if not addressed:
            status = "ignored"
        if not await self.turns.record(msg, status=status, keep_text=addressed):
            log.info("dropped re-delivered message")
            return
        if not addressed:
            return
        if not self._accepting:
            await self._notify_restarting(msg, replier)
            return
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        turn_key = (msg.chat.platform, msg.key)
        self._inflight_keys.add(turn_key)
        journal = JournaledReplier(replier, self.outbox, msg.chat.platform, msg.chat.id, msg.key)
        outcome = "pending"
        try:
            if await self._admit(msg, journal):
                await super().handle_message(msg, journal)
            outcome = self._outcome(journal)
        finally:
            if task is not None:
                self._inflight.discard(task)
            self._inflight_keys.discard(turn_key)
            # Shielded: a cancelled turn must still be recorded as pending before the DB closes.
            await asyncio.shield(self._settle(msg, journal, outcome))

    async def _notify_restarting(self, msg: IncomingMessage, replier: Replier) -> None:
        # Best effort: the message is already saved; this only tells the person why we are quiet.
        try:
            locale = await self.locale_for(msg.user, msg.chat, msg.locale_hint)
            await replier.send(self.i18n.t(locale, "reliability.shutting_down"))
        except Exception as exc:
            log.info("could not say we are restarting: %s", type(exc).__name__)

    def _outcome(self, journal: JournaledReplier) -> str:
        # A failed final send is still an answer (the outbox delivers it); a failed first send
        # or "the model is down" leaves the turn to be answered again as a whole.
        return "pending" if journal.deferred or journal.send_failed else "answered"

    async def _settle(self, msg: IncomingMessage, journal: JournaledReplier, outcome: str) -> None:
        dropped = journal.failed_rows if outcome == "pending" else []
        await self.turns.settle(
            msg.chat.platform, msg.key, outcome, sent=journal.sent_rows, dropped=dropped
        )

    async def _admit(self, msg: IncomingMessage, replier: Replier) -> bool:
        """Apply per-person limits; False (after a kind reply) when the person must wait."""
        if self.limits is None or self.people is None:
            return True
        crisis = self.is_crisis(msg.text) if self.is_crisis is not None else False
        person = await self.people.resolve(msg.user.platform, msg.user.id, msg.user.name)
        try:
            await self.limits.check(person, crisis=crisis)
        except BotError as err:
            locale = await self.locale_for(msg.user, msg.chat, msg.locale_hint)
            await self._reply_error(replier, locale, err, ephemeral=False)
            return False
        return True

    async def _reply_error(
        self, replier: Replier, locale: str, err: BotError, *, ephemeral: bool = True
    ) -> None:
        # "The model is down, your message is saved": the turn stays open and is answered later.
        if isinstance(err, ServiceUnavailable) and isinstance(
            replier, JournaledReplier | BufferedReplier
        ):
            replier.deferred = True
        await super()._reply_error(replier, locale, err, ephemeral=ephemeral)

    # ------------------------------------------------------------------ shutdown

    def stop_intake(self) -> None:
        """From now on new messages are only recorded (pending), not handled."""
        self._accepting = False

    async def drain(self, grace: float) -> tuple[int, int]:
        """Stop intake, wait up to `grace` s for in-flight turns, cancel the rest.

        Returns (finished, cancelled). Cancelled turns record themselves as pending.
        """
        self.stop_intake()
        tasks = set(self._inflight)
        if not tasks:
            return 0, 0
        log.info("waiting for %d in-flight turns", len(tasks))
        done, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=CANCEL_SETTLE_SECONDS)
            log.warning("%d turns did not finish in time and stay pending", len(pending))
        return len(done), len(pending)

    # ------------------------------------------------------------------ recovery

    async def recover(self) -> RecoveryReport:
        """Deliver pending replies once, then answer messages left unanswered, oldest first."""
        report = RecoveryReport()
        platforms = list(self.deliverers)
        if not platforms:
            return report
        open_turns = await self.turns.open_turns(platforms, before=self.started_at)
        if self.is_crisis is not None:
            # A person in crisis is answered first; the rest keep their order (sort is stable).
            screen = self.is_crisis
            open_turns.sort(key=lambda t: not screen(t.text))
        open_keys = {(t.platform, t.key) for t in open_turns}
        for row in await self.outbox.pending(platforms):
            if (row.platform, row.inbox_key) in open_keys:
                continue  # handled together with its turn below
            if await self._deliver(row):
                report.delivered += 1
            else:
                report.undeliverable += 1
        for turn in open_turns:
            deliverer = self.deliverers[turn.platform]
            if isinstance(deliverer, ReplierDeliverer) and turn.chat_id not in deliverer.chat_ids:
                continue  # another console user's turn: answered when they are back
            try:
                await self._recover_turn(turn, report)
            except DeliveryUnavailable:
                report.undeliverable += 1
            except Exception as exc:
                log.exception("recovering a turn failed: %s", type(exc).__name__)
                report.still_pending += 1
        if open_turns or report.delivered:
            log.info(
                "recovery: answered=%d delivered=%d pending=%d given_up=%d undeliverable=%d",
                report.answered,
                report.delivered,
                report.still_pending,
                report.given_up,
                report.undeliverable,
            )
        return report

    async def _recover_turn(self, turn: OpenTurn, report: RecoveryReport) -> None:
        deliverer = self.deliverers[turn.platform]
        user = UserRef(turn.platform, turn.user_id, turn.user_name)
        chat = ChatRef(turn.platform, turn.chat_id, "group" if turn.chat_kind == "group" else "dm")
        locale = await self.locale_for(user, chat, turn.locale_hint)
        rows = await self.outbox.for_turn(turn.platform, turn.key)
        await self.outbox.mark([r.id for r in rows if not r.final], "dropped")
        finals = [r for r in rows if r.final]
        apology = self.i18n.t(locale, "reliability.sorry_for_delay")
        if finals:
            # The answer was complete but its send was never confirmed: deliver it, not a new one.
            queued = await self.turns.answer_with(turn, [apology])
            await self._deliver_all(
                [
                    OutboxRow(queued[0], turn.platform, turn.chat_id, turn.key, apology, True, 0),
                    *finals,
                ],
                deliverer,
            )
            report.answered += 1
            report.turns.append(turn.key)
            return
        if turn.attempts >= MAX_TURN_ATTEMPTS or not turn.text.strip():
            text = self.i18n.t(locale, "reliability.gave_up")
            ids = await self.turns.answer_with(turn, [text])
            await self.turns.finish(turn.platform, turn.key, "failed")
            await self._deliver_all(
                [OutboxRow(ids[0], turn.platform, turn.chat_id, turn.key, text, True, 0)], deliverer
            )
            report.given_up += 1
            return
        await self.turns.bump_attempt(turn.platform, turn.key)
        buffer = BufferedReplier()
        msg = IncomingMessage(user, chat, turn.text, turn.key, locale_hint=turn.locale_hint)
        await Router.handle_message(self, msg, buffer)
        if buffer.deferred:
            await self.turns.finish(turn.platform, turn.key, "pending")
            report.still_pending += 1
            return
        texts = [apology, *buffer.texts]
        ids = await self.turns.answer_with(turn, texts)
        await self._deliver_all(
            [
                OutboxRow(i, turn.platform, turn.chat_id, turn.key, t, True, 0)
                for i, t in zip(ids, texts, strict=True)
            ],
            deliverer,
        )
        report.answered += 1
        report.turns.append(turn.key)

    async def _deliver_all(self, rows: Sequence[OutboxRow], deliverer: Deliverer) -> None:
        for row in rows:
            if not await self._deliver(row, deliverer):
                break  # keep the order: the rest wait for the next outbox pass

    async def _deliver(self, row: OutboxRow, deliverer: Deliverer | None = None) -> bool:
        target = deliverer or self.deliverers.get(row.platform)
        if target is None:
            return False
        try:
            await target.deliver(row.platform, row.chat_id, row.text)
        except DeliveryUnavailable:
            return False
        except Exception as exc:
            attempts = await self.outbox.bump_attempt(row.id)
            log.warning("outbox delivery failed (%d): %s", attempts, type(exc).__name__)
            if attempts >= MAX_DELIVERY_ATTEMPTS:
                await self.outbox.mark([row.id], "failed")
            return False
        await self.outbox.mark_sent(row.id)
        return True

    async def flush_outbox(self) -> int:
        """Try every pending outbox row once; returns how many were delivered."""
        delivered = 0
        for row in await self.outbox.pending(self.deliverers):
            if row.inbox_key is not None and not row.final:
                continue  # a half-streamed message: its turn is re-answered on restart instead
            if (row.platform, row.inbox_key) in self._inflight_keys:
                continue  # its live turn is sending it right now
            if await self._deliver(row):
                delivered += 1
        return delivered

    async def outbox_job(self, stop: asyncio.Event) -> None:
        """Background job: retry undelivered replies every minute until `stop`."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=OUTBOX_RETRY_SECONDS)
            if stop.is_set():
                return
            try:
                await self.flush_outbox()
            except Exception as exc:
                log.warning("outbox retry failed: %s", type(exc).__name__)
