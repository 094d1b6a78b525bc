"""The composition root: builds every service once, hands them to cogs, runs the adapters.

Construction is synchronous and touches nothing on disk, so `afterglow commands` can compile
the registry without a database; `open()` opens the database and network clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from bot.core.commands import Cog, Registry
from bot.core.router import Router
from bot.services.i18n import I18n
from bot.services.storage import Database
from bot.services.storage.users import Users
from bot.settings import Settings

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 8.0

BackgroundJob = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


class Adapter(Protocol):
    """A platform connection that `afterglow run` starts and stops."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class App:
    """Every service, cog and the router, wired once."""

    def __init__(self, settings: Settings, *, i18n: I18n | None = None) -> None:
        self.settings = settings
        self.i18n = i18n or I18n.load()
        self.db = Database.in_dir(settings.data_dir)
        self.users = Users(self.db)
        self.registry = Registry()
        self.jobs: list[BackgroundJob] = []
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._build_services()
        for cog in self._build_cogs():
            self.registry.add_cog(cog)
        self.router = Router(self.registry, self.i18n, self.users, self.users)

    def _build_services(self) -> None:
        """Create feature services (each feature adds its own lines here)."""

    def _build_cogs(self) -> list[Cog]:
        """The cogs, in help order; group-capable cogs never receive memory services."""
        from cogs.help import Help
        from cogs.language import Language

        cogs: list[Cog] = [Help(self.registry), Language(self.users)]
        return cogs

    async def open(self) -> None:
        """Open the database (applying migrations)."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        await self.db.open()

    async def close(self) -> None:
        """Close network clients, then the database."""
        for closer in reversed(self._closers):
            try:
                await closer()
            except Exception as exc:
                log.warning("closing a service failed: %s", type(exc).__name__)
        await self.db.close()

    async def __aenter__(self) -> App:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def adapters(self) -> list[Adapter]:
        """The platform adapters whose tokens are configured."""
        found: list[Adapter] = []
        if self.settings.discord_token:
            from bot.adapters.discord import DiscordAdapter

            found.append(DiscordAdapter(self))
        if self.settings.telegram_token:
            from bot.adapters.telegram import TelegramAdapter

            found.append(TelegramAdapter(self))
        return found

    async def run(self, stop: asyncio.Event | None = None) -> int:
        """Run every configured adapter and background job until SIGINT/SIGTERM (or `stop`)."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        adapters = self.adapters()
        started: list[Adapter] = []
        for adapter in adapters:
            try:
                await adapter.start()
                started.append(adapter)
                log.info("%s adapter started", adapter.name)
            except Exception as exc:
                # One platform being down must not keep the other from serving people.
                log.error("%s adapter failed to start: %s", adapter.name, type(exc).__name__)
        if adapters and not started:
            log.error("no adapter could start")
            return 1
        tasks = self.start_jobs(stop)
        await stop.wait()
        log.info("shutting down")
        for adapter in reversed(started):
            try:
                await asyncio.wait_for(adapter.stop(), timeout=SHUTDOWN_GRACE)
            except Exception as exc:
                log.warning("%s adapter stop: %s", adapter.name, type(exc).__name__)
        await self.stop_jobs(tasks)
        return 0

    def start_jobs(self, stop: asyncio.Event) -> list[asyncio.Task[None]]:
        """Start every background job (schedulers, OCR queue, backups); they end when `stop` is set."""
        return [asyncio.create_task(job(stop), name=f"job-{i}") for i, job in enumerate(self.jobs)]

    @staticmethod
    async def stop_jobs(tasks: list[asyncio.Task[None]], grace: float = 2.0) -> None:
        """Give jobs `grace` seconds to notice the stop event, then cancel what is left."""
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
