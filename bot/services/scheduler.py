"""Anniversary scheduler: on the day, one in-persona message in the person's DM, exactly once.
Its poll also deletes expired 24-hour risk windows.

`next_fire_at` lives in the database, so a restart neither skips a day nor repeats it: each due
row is *claimed* (moved to next year) in one transaction before its message is sent. The clock is
injected, and sending goes through the `DirectSender` port that each adapter implements.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.services.i18n import I18n
from bot.services.storage.care import Anniversary, CareStore

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class DirectSender(Protocol):
    """Sends a message to a person's direct messages on one platform (an adapter port).

    Returns False when the DM cannot be delivered (DMs closed, bot blocked); it must not raise
    for that case. The console adapter prints.
    """

    async def send_direct(self, platform: str, platform_user_id: str, text: str) -> bool: ...


DirectSend = Callable[[str, str], Awaitable[bool]]


class DirectRouter:
    """The app's `DirectSender`: routes to the adapter serving each platform.

    Adapters with a `send_dm(platform_user_id, text) -> bool` are attached when they start;
    the console prints. A platform with no attached adapter reports "not delivered".
    """

    def __init__(self, console: Callable[[str], None] | None = print) -> None:
        self._senders: dict[str, DirectSend] = {}
        self._console = console

    def attach(self, platform: str, send: DirectSend) -> None:
        self._senders[platform] = send

    async def send_direct(self, platform: str, platform_user_id: str, text: str) -> bool:
        if platform == "console" and self._console is not None:
            self._console(text)
            return True
        send = self._senders.get(platform)
        if send is None:
            log.info("no direct-message route for %s", platform)
            return False
        return await send(platform_user_id, text)


class AnniversaryWriter(Protocol):
    """Writes the day's message in the persona's voice."""

    async def write(self, anniversary: Anniversary) -> str: ...


class TemplateWriter:
    """The built-in writer: a short catalog message signed with the persona's name."""

    def __init__(self, i18n: I18n) -> None:
        self.i18n = i18n

    async def write(self, anniversary: Anniversary) -> str:
        return self.i18n.t(anniversary.locale, "care.anniversary.message",
                           persona=anniversary.persona_name, label=anniversary.label)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def next_occurrence(month: int, day: int, tz: str, hour: int, after: float) -> float:
    """The first `month`-`day` at `hour`:00 local time strictly after `after` (Unix seconds).

    29 February falls on 28 February in years without it.
    """
    zone_info = zone(tz)
    start = datetime.fromtimestamp(after, zone_info)
    for year in range(start.year, start.year + 3):
        last = calendar.monthrange(year, month)[1]
        candidate = datetime(year, month, min(day, last), hour, tzinfo=zone_info)
        if candidate.timestamp() > after:
            return candidate.timestamp()
    raise ValueError("no next occurrence")  # unreachable: some year within 3 always matches


class AnniversaryScheduler:
    """Polls for due anniversaries and sends each one once."""

    def __init__(
        self,
        store: CareStore,
        sender: DirectSender,
        writer: AnniversaryWriter,
        *,
        hour: int = 10,
        poll_seconds: float = 60.0,
        clock: Clock = time.time,
    ) -> None:
        self.store = store
        self.sender = sender
        self.writer = writer
        self.hour = hour
        self.poll_seconds = poll_seconds
        self.clock = clock

    async def run_due(self) -> int:
        """Send every due anniversary; returns how many messages went out."""
        now = self.clock()
        sent = 0
        for item in await self.store.due_anniversaries(now):
            following = next_occurrence(item.month, item.day, item.tz, self.hour,
                                        max(now, item.next_fire_at))
            if not await self.store.claim_anniversary(item.id, item.next_fire_at, following, now):
                continue
            if now - item.next_fire_at > timedelta(days=1).total_seconds():
                # Down for more than the day itself: a late "happy anniversary" helps no one.
                log.info("anniversary %d skipped: missed its day", item.id)
                continue
            state = await self.store.get(item.person_id)
            if state.stopped_at is not None and not state.reminders_opt_in:
                log.info("anniversary %d skipped: person stopped messages", item.id)
                continue
            text = await self.writer.write(item)
            try:
                ok = await self.sender.send_direct(item.platform, item.platform_user_id, text)
            except Exception as exc:
                log.warning("anniversary %d not delivered: %s", item.id, type(exc).__name__)
                continue
            sent += int(ok)
        return sent

    async def tick(self) -> int:
        """One poll: delete expired risk windows (A8: gone on expiry), then send what is due."""
        await self.store.purge_expired_risk(self.clock())
        return await self.run_due()

    async def job(self, stop: asyncio.Event) -> None:
        """Background job for `App.jobs`: poll until `stop` is set."""
        while not stop.is_set():
            try:
                await self.tick()
            except Exception as exc:
                log.error("anniversary scheduler: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
