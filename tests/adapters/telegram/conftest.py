"""A running Telegram adapter (the real python-telegram-bot) against the fake Bot API server."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.telegram import TelegramAdapter, TelegramOptions
from bot.core import (
    ButtonContext,
    Cog,
    Invocation,
    MessageContext,
    Option,
    OptionType,
    Registry,
    Where,
    command,
    on_button,
    on_message,
)
from bot.core.models import Button
from bot.core.router import Router
from bot.core.streaming import render_stream
from bot.services.i18n import I18n
from bot.services.storage import Database
from bot.services.storage.users import Users
from bot.settings import Settings
from cogs.help import Help
from cogs.language import Language
from tests.fakes.telegram_server import FakeTelegram

MB = 1024 * 1024
STREAM = ["Hello", ", I remember", " our talks", " in spring."]


class Probe(Cog):
    """Test-only commands that exercise every Replier path the adapter offers."""

    name = "probe"

    def __init__(self) -> None:
        self.joined: list[str] = []

    @command("upload", options=[Option("file", OptionType.ATTACHMENT)])
    async def upload(self, inv: Invocation, file: Any = None) -> None:
        if file is None:
            await inv.reply("no file")
            return
        data = await file.fetch(30 * MB)
        await inv.reply(f"got {len(data)} bytes in {len(inv.attachments)} file(s)")

    @command("echo", options=[Option("text")])
    async def echo(self, inv: Invocation, text: str = "") -> None:
        await inv.reply(f"echo: {text}")

    @command("support", where=Where.DM)
    async def support(self, inv: Invocation) -> None:
        await inv.reply("support resources")

    @command("link", where=Where.DM, options=[Option("code")])
    async def link(self, inv: Invocation, code: str | None = None) -> None:
        await inv.reply(f"linking {code}")

    @command("ask")
    async def ask(self, inv: Invocation) -> None:
        answer = await inv.replier.confirm("Sure?", yes="Yes", no="No", timeout=5)
        await inv.reply(f"answer {answer}")

    @command("pages")
    async def pages(self, inv: Invocation) -> None:
        await inv.replier.paginate(["page one", "page two", "page three"])

    @command("mine", personal=True)
    async def mine(self, inv: Invocation) -> None:
        await inv.reply("your private notes")

    @command("card")
    async def card(self, inv: Invocation) -> None:
        await inv.reply("a card", buttons=[Button("Light a candle", "probe:candle")])

    @on_button("probe")
    async def pressed(self, ctx: ButtonContext) -> None:
        ctx.notice = f"pressed {ctx.payload}"

    @on_message(where=Where.BOTH, priority=100)
    async def chat(self, ctx: MessageContext) -> None:
        async def chunks() -> AsyncIterator[str]:
            for piece in STREAM:
                yield piece

        ticks = itertools.count()
        # Each chunk is 10 "seconds" after the last, so every chunk becomes a draft or an edit.
        await render_stream(chunks(), ctx.replier, clock=lambda: next(ticks) * 10.0)

    async def on_joined_group(self, chat: Any, replier: Any) -> None:
        self.joined.append(chat.id)
        await replier.send("introduction")


@dataclass
class MiniApp:
    """The slice of `bot.app.App` the adapter uses, built from real parts."""

    settings: Settings
    registry: Registry
    router: Router
    i18n: I18n
    users: Users
    db: Database
    probe: Probe

    async def on_joined_group(self, chat: Any, replier: Any) -> None:
        await self.probe.on_joined_group(chat, replier)


FAST = TelegramOptions(poll_timeout=1, chat_gap=0.0, draft_idle_commit=3.0, album_wait=0.3)


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


async def make_app(tmp_path: Path, server: FakeTelegram, **env: str) -> MiniApp:
    settings = Settings(
        data_dir=tmp_path,
        telegram_token=server.token,
        telegram_base_url=server.url,
        env=env,
    )
    db = Database.in_dir(tmp_path)
    await db.open()
    users = Users(db)
    i18n = I18n.load()
    registry = Registry()
    probe = Probe()
    for cog in (Help(registry), Language(users), probe):
        registry.add_cog(cog)
    router = Router(registry, i18n, users, users, bot_username="afterglow_test_bot")
    return MiniApp(settings, registry, router, i18n, users, db, probe)


@pytest.fixture
async def mini(tmp_path: Path, server: FakeTelegram) -> AsyncIterator[MiniApp]:
    app = await make_app(tmp_path, server)
    yield app
    await app.db.close()


@pytest.fixture
async def adapter(mini: MiniApp) -> AsyncIterator[TelegramAdapter]:
    tg = TelegramAdapter(mini, options=FAST)
    await tg.start()
    yield tg
    await tg.stop()
