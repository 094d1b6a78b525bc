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
from typing import TYPE_CHECKING, Any, Protocol

from bot.core.commands import Cog, Registry
from bot.core.context import Replier
from bot.core.models import ChatRef
from bot.core.router import Router
from bot.services.delivery import DurableRouter
from bot.services.health import WalWatch
from bot.services.i18n import I18n
from bot.services.limits import Limits, LimitsConfig
from bot.services.storage import Database
from bot.services.storage.outbox import Outbox, TurnStore
from bot.services.storage.usage import UsageStore
from bot.services.storage.users import Users
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.services.memorial import MemorialPersonalData

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 8.0
# Docker sends SIGKILL 10 s after SIGTERM; everything after the grace period must fit before it.
SHUTDOWN_DEADLINE = 9.5

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
        self.turns = TurnStore(self.db)
        self.outbox = Outbox(self.db)
        self.limits = Limits(LimitsConfig.from_section(settings.section("limits")), UsageStore(self.db))
        self.registry = Registry()
        self.jobs: list[BackgroundJob] = []
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._build_services()
        for cog in self._build_cogs():
            self.registry.add_cog(cog)
        # The durable router journals turns (inbox/outbox); adapters see it as a plain Router.
        self.durable = DurableRouter(
            self.registry,
            self.i18n,
            self.users,
            self.turns,
            self.outbox,
            limits=self.limits,
            people=self.users,
            is_crisis=_crisis_screen(),
        )
        self.router: Router = self.durable
        self.jobs.append(self.durable.outbox_job)
        self.jobs.append(WalWatch(self.db).job)
        self._add_backup_job()

    def _build_services(self) -> None:
        """Create feature services (each feature adds its own lines here)."""
        self._build_memory()
        self._build_companion()
        self._build_memorial()
        self._build_care()

    def _build_care(self) -> None:
        """Care (issue 8): crisis screen, honesty timing, hotlines, anniversaries."""
        from bot.services.care import Care, CareConfig
        from bot.services.scheduler import AnniversaryScheduler, DirectRouter, TemplateWriter
        from bot.services.storage.care import CareStore

        section = self.settings.section("care")
        config = CareConfig.from_section(section)
        self.care = Care(store=CareStore(self.db), users=self.users, i18n=self.i18n, config=config)
        self.care_operators = frozenset(str(o) for o in section.get("operators", ()))
        # Adapters with `send_dm` are attached in run(); anniversaries go out through it.
        self.direct = DirectRouter()
        scheduler = AnniversaryScheduler(
            self.care.store, self.direct, TemplateWriter(self.i18n), hour=config.anniversary_hour
        )
        self.jobs.append(scheduler.job)

    def _build_memory(self) -> None:
        """Personas, memories, exports and privacy (issue 4); DM handlers only."""
        from bot.services.care import CareConfig
        from bot.services.memory_stack import MemoryStack, embedder_from_settings
        from bot.services.scheduler import next_occurrence
        from bot.services.storage.care import CarePersonalData
        from bot.services.storage.conversations import ConversationPersonalData
        from bot.services.storage.outbox import ReliabilityPersonalData

        hour = CareConfig.from_section(self.settings.section("care")).anniversary_hour
        # Care settings and anniversaries travel with /export and go with /forget all.
        care_data = CarePersonalData(
            self.db, lambda month, day, tz, after: next_occurrence(month, day, tz, hour, after)
        )
        # Embeddings are off unless `[memory] embeddings = true`.
        embedding, client = embedder_from_settings(self.settings)
        if client is not None:
            self._closers.append(client.aclose)
        # The memorial wall's posts too (issue 7): listed by /export, removed by /forget all.
        memorial_data = self._memorial_data()
        # Companion chats travel with /export and go with /forget all, as does the delivery
        # journal's copy of the person's messages (inbox/outbox) and their token counts.
        chats = ConversationPersonalData(self.db)
        self.memory_stack = MemoryStack.build(
            self.db,
            self.users,
            sections=(care_data, memorial_data, chats),
            holders=(care_data, memorial_data, chats, ReliabilityPersonalData()),
            settings=embedding.settings if embedding else None,
            embedder=embedding.embedder if embedding else None,
        )
        self.memory = self.memory_stack.memory
        self.personas = self.memory_stack.persona

    def _build_companion(self) -> None:
        """Companion chats: the model client and the conversation service (None without a model)."""
        from bot.services.companion import Companion, CompanionTuning
        from bot.services.llm import LLMClient
        from bot.services.storage.conversations import Conversations

        self.conversations = Conversations(self.db)
        self.llm_config = self.settings.llm()
        tuning = CompanionTuning.from_section(self.settings.section("companion"))
        self.companion: Companion | None = None
        if self.llm_config is not None:
            self.companion = Companion(
                llm=LLMClient(self.llm_config),
                config=self.llm_config,
                conversations=self.conversations,
                users=self.users,
                i18n=self.i18n,
                # The persona and memory services (issue 4) plug in here once built above.
                personas=getattr(self, "personas", None),
                memory=getattr(self, "memory", None),
                tuning=tuning,
            )
            self._closers.append(self.companion.aclose)

    def _memorial_data(self) -> MemorialPersonalData:
        """The memorial wall's storage (built before the memory stack, which lists its rows)."""
        from bot.services.images import ImageStore
        from bot.services.memorial import MemorialPersonalData
        from bot.services.storage.memorial import MemorialRepo

        self.memorial_repo = MemorialRepo(self.db)
        self.images = ImageStore(self.settings.data_dir / "images")
        self.memorial_data = MemorialPersonalData(self.memorial_repo, self.images)
        return self.memorial_data

    def _build_memorial(self) -> None:
        """The memorial wall (issue 7): offline OCR and the wall service."""
        from bot.services.memorial import MemorialService
        from bot.services.ocr import OcrEngine, RapidOcrEngine, RapidOcrSettings, VisionOcrEngine

        section = self.settings.section("memorial")
        # The engine loads its bundled models lazily, on the first screenshot.
        threads = max(1, int(section.get("ocr_threads", 1)))
        ocr: OcrEngine | None = (
            RapidOcrEngine(RapidOcrSettings(threads=threads)) if section.get("ocr", True) else None
        )
        vision_model = section.get("vision_model")
        if vision_model and self.llm_config is not None:
            # Operator opt-in: a configured vision model reads screenshots; local OCR backs it up.
            from bot.services.llm import LLMClient
            from bot.services.vision import LlmImageReader

            client = LLMClient(self.llm_config)
            self._closers.append(client.aclose)
            ocr = VisionOcrEngine(LlmImageReader(client, str(vision_model)), ocr)
        self.memorial = MemorialService(self.memorial_repo, self.users, self.images, self.i18n, ocr)
        self.jobs.append(self.memorial.run_ocr)

    async def on_joined_group(self, chat: ChatRef, replier: Replier) -> None:
        """Adapters call this when the bot is added to a group: introduce it there, once."""
        await self.memorial.on_joined_group(chat, replier, getattr(replier, "locale", None))

    def _build_cogs(self) -> list[Cog]:
        """The cogs, in help order; group-capable cogs never receive memory services."""
        from cogs.companion import CompanionChat
        from cogs.help import Help
        from cogs.language import Language

        cogs: list[Cog] = [Help(self.registry), Language(self.users), CompanionChat(self.companion, self.care)]
        from cogs.memorial import Memorial

        # The group-side wall gets the memorial service only; /keep (DM only) bridges to memories.
        cogs.append(Memorial(self.memorial))
        memory, personas = getattr(self, "memory", None), getattr(self, "personas", None)
        if memory is not None and personas is not None:
            from bot.services.keepsake import MemoryKeepsake
            from cogs.keepsake import Keepsake

            cogs.append(Keepsake(self.memorial, MemoryKeepsake(memory, personas)))
        cogs.extend(self._memory_cogs())
        from cogs.care import CareCommands, CareGroup, CareInfo

        # The group crisis reply gets the screen, hotlines and counters only (no memory, persona).
        care = self.care
        cogs.append(CareGroup(care.screen, care.hotlines, self.users, care.record_screen, self.direct))
        cogs.append(CareInfo(care, self.users))
        cogs.append(
            CareCommands(care, self.users, getattr(self, "personas", None), self.care_operators, self.direct)
        )
        return cogs

    def _memory_cogs(self) -> list[Cog]:
        """The direct-message-only cogs that hold memory, persona and privacy services."""
        from cogs.memories import Memories
        from cogs.persona import PersonaCog
        from cogs.privacy import Privacy

        stack = self.memory_stack
        return [
            PersonaCog(stack.persona),
            Memories(
                stack.memory,
                stack.persona,
                stack.exporter,
                stack.privacy,
                max_upload_bytes=self.settings.max_upload_bytes,
            ),
            Privacy(stack.memory, stack.exporter, stack.privacy),
        ]

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

    async def run(
        self,
        stop: asyncio.Event | None = None,
        *,
        main: Coroutine[Any, Any, object] | None = None,
    ) -> int:
        """Serve until SIGINT/SIGTERM (or `stop`, or `main` ending), then shut down gracefully.

        Without `main`, every configured platform adapter runs; with it (the console session),
        no adapter starts and `main` is the only intake. Replies left pending by a previous run
        are delivered first. Shutdown: stop intake, give in-flight turns SHUTDOWN_GRACE seconds,
        mark the rest pending, stop adapters and jobs; `close()` then closes the database, all
        within SHUTDOWN_DEADLINE seconds of the signal.
        """
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        adapters = self.adapters() if main is None else []
        started: list[Adapter] = []
        for adapter in adapters:
            try:
                await adapter.start()
                started.append(adapter)
                send_dm = getattr(adapter, "send_dm", None)
                if send_dm is not None:
                    self.direct.attach(adapter.name, send_dm)
                log.info("%s adapter started", adapter.name)
            except Exception as exc:
                # One platform being down must not keep the other from serving people.
                log.error("%s adapter failed to start: %s", adapter.name, type(exc).__name__)
        if adapters and not started:
            log.error("no adapter could start")
            return 1
        tasks = self.start_jobs(stop)
        recovery = asyncio.create_task(self._recover(), name="recovery")
        stopped = asyncio.create_task(stop.wait(), name="stop")
        waiters: set[asyncio.Task[Any]] = {stopped}
        main_task: asyncio.Task[object] | None = None
        if main is not None:
            # The console shows the recovered answers before it takes a new line.
            await asyncio.wait({recovery, stopped}, return_when=asyncio.FIRST_COMPLETED)
            main_task = asyncio.create_task(main, name="main")
            waiters.add(main_task)
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        deadline = loop.time() + SHUTDOWN_DEADLINE
        log.info("shutting down")
        await self.durable.drain(SHUTDOWN_GRACE)
        for task in (main_task, recovery):
            if task is not None and not task.done():
                task.cancel()
        await asyncio.gather(*(t for t in (main_task, recovery) if t), return_exceptions=True)
        for adapter in reversed(started):
            try:
                budget = max(0.1, deadline - loop.time() - 1.0)
                await asyncio.wait_for(adapter.stop(), timeout=budget)
            except Exception as exc:
                log.warning("%s adapter stop: %s", adapter.name, type(exc).__name__)
        stop.set()
        for waiter in waiters:
            waiter.cancel()
        await self.stop_jobs(tasks, grace=max(0.1, min(2.0, deadline - loop.time() - 0.5)))
        return 0

    async def _recover(self) -> None:
        """Deliver replies and answer messages a previous run left behind."""
        try:
            await self.durable.recover()
        except Exception as exc:
            log.error("recovery failed: %s", type(exc).__name__)

    def _add_backup_job(self) -> None:
        """Schedule backups when `[backup] schedule = true`."""
        from bot.services.backup import BackupConfig, BackupScheduler

        config = BackupConfig.from_section(self.settings.section("backup"), self.settings.data_dir)
        if config.schedule:
            self.jobs.append(BackupScheduler(config).job)

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


def _crisis_screen() -> Callable[[str], bool] | None:
    """The care feature's crisis screen as a yes/no test (crisis messages skip limits)."""
    try:
        from bot.services.safety.screen import CrisisScreen
    except ModuleNotFoundError:
        return None
    screen = CrisisScreen()
    return lambda text: screen.screen(text).flagged
