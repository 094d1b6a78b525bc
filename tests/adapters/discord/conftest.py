"""A sample cog covering every command shape, an App around it, and an offline Discord client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.discord.client import AfterglowClient, DiscordAdapter
from bot.app import App
from bot.core import Cog, Invocation, Option, OptionType, Where, command
from bot.core.commands import Registry, on_button, on_message
from bot.core.context import ButtonContext, MessageContext
from bot.core.models import Button
from bot.core.router import Router
from bot.core.streaming import render_stream
from bot.services.i18n import Catalog, I18n
from bot.settings import Settings
from tests.adapters.discord.fakes import FakeDiscord

SAMPLE_EN = {
    "commands.remember.description": "Keep a memory (direct messages only)",
    "commands.remember.options.text.description": "What to remember",
    "commands.remember.options.file.description": "A file to keep",
    "commands.memories.description": "Show your memories",
    "commands.echo.description": "Say it back",
    "commands.echo.options.text.description": "The text",
    "commands.count.description": "Count something",
    "commands.count.options.n.description": "How many",
    "commands.count.options.loud.description": "Shout it",
    "commands.count.options.times.description": "How often",
    "commands.purge.description": "Clear the wall (admins)",
    "commands.wall.description": "The memorial wall",
    "commands.wall.show.description": "Show the wall",
    "commands.wall.post.description": "Post a farewell",
    "commands.wall.post.options.image.description": "The screenshot",
    "commands.ask.description": "Ask before doing it",
    "commands.pages.description": "Page through things",
    "commands.quiet.description": "Do nothing visible",
    "commands.story.description": "Tell a story, streamed",
}
SAMPLE_ZH = {
    **{key: "中文：" + text for key, text in SAMPLE_EN.items()},
    "commands.remember.name": "记住",
    "commands.remember.options.text.name": "内容",
    "commands.wall.name": "纪念墙",
    "commands.wall.show.name": "查看",
    "commands.count.options.n.name": "数量",
    # Discord refuses upper case and spaces: the English name must be kept.
    "commands.echo.name": "Echo Back",
}


class SampleCog(Cog):
    """Commands of every shape; records what reached it."""

    name = "sample"

    def __init__(self) -> None:
        self.calls: list[
            tuple[str, Invocation | MessageContext | ButtonContext, dict[str, Any]]
        ] = []
        self.observer: Any = None
        self.confirm_timeout = 0.05

    def _seen(self, name: str, ctx: Any, **options: Any) -> None:
        if self.observer is not None:
            self.observer(name)
        self.calls.append((name, ctx, options))

    @command(
        "remember",
        where=Where.DM,
        personal=True,
        options=[
            Option("text", OptionType.STRING, required=True),
            Option("file", OptionType.ATTACHMENT),
        ],
    )
    async def remember(self, inv: Invocation, text: str, file: Any = None) -> None:
        self._seen("remember", inv, text=text, file=file)
        await inv.reply("kept")

    @command("memories", personal=True)
    async def memories(self, inv: Invocation) -> None:
        self._seen("memories", inv)
        await inv.reply("your memories: @everyone")

    @command("echo", options=[Option("text", OptionType.STRING, required=True)])
    async def echo(self, inv: Invocation, text: str) -> None:
        self._seen("echo", inv, text=text)
        await inv.reply(text)

    @command(
        "count",
        options=[
            Option("n", OptionType.INTEGER, required=True, min_value=1, max_value=10),
            Option("loud", OptionType.BOOLEAN),
            Option("times", OptionType.INTEGER, min_value=2),
        ],
    )
    async def count(self, inv: Invocation, n: int, loud: bool = False, times: int = 2) -> None:
        self._seen("count", inv, n=n, loud=loud)
        await inv.reply(str(n))

    @command("purge", where=Where.GROUP, admin=True)
    async def purge(self, inv: Invocation) -> None:
        self._seen("purge", inv)
        await inv.reply("purged")

    @command("wall", sub="show", where=Where.GROUP, default_sub=True)
    async def wall_show(self, inv: Invocation) -> None:
        self._seen("wall show", inv)
        await inv.reply("the wall")

    @command(
        "wall",
        sub="post",
        options=[Option("image", OptionType.ATTACHMENT, required=True)],
    )
    async def wall_post(self, inv: Invocation, image: Any) -> None:
        self._seen("wall post", inv, image=image)
        await inv.reply("posted")

    @command("ask")
    async def ask(self, inv: Invocation) -> None:
        answer = await inv.replier.confirm(
            "Sure?", yes="Yes", no="No", timeout=self.confirm_timeout
        )
        self._seen("ask", inv, answer=answer)

    @command("pages")
    async def pages(self, inv: Invocation) -> None:
        self._seen("pages", inv)
        await inv.replier.paginate(["one", "two", "three"], ephemeral=False)

    @command("story")
    async def story(self, inv: Invocation) -> None:
        self._seen("story", inv)

        async def chunks() -> AsyncIterator[str]:
            for word in ("Once ", "upon ", "a time @everyone"):
                yield word

        await render_stream(chunks(), inv.replier)

    @command("quiet")
    async def quiet(self, inv: Invocation) -> None:
        self._seen("quiet", inv)

    @on_button("like")
    async def like(self, ctx: ButtonContext) -> None:
        self._seen("like", ctx, payload=ctx.payload)
        ctx.notice = "liked " + ctx.payload
        await ctx.replier.edit(
            ctx.handle, "1 like", buttons=[Button("Like (1)", "like:" + ctx.payload)]
        )

    @on_message(Where.DM)
    async def chat(self, ctx: MessageContext) -> None:
        self._seen("chat", ctx)

        async def chunks() -> AsyncIterator[str]:
            for word in ("hello ", "@everyone ", "https://example.invalid/x"):
                yield word

        await render_stream(chunks(), ctx.replier)


def merged_i18n() -> I18n:
    """The shipped catalogs plus the sample cog's keys."""
    base = I18n.load()
    catalogs = {}
    for locale, extra in (("en", SAMPLE_EN), ("zh_Hans", SAMPLE_ZH)):
        cat: Catalog = base.catalogs[locale]
        catalogs[locale] = replace(cat, messages={**cat.messages, **extra})
    return I18n(catalogs)


@pytest.fixture(scope="session")
def sample_i18n() -> I18n:
    return merged_i18n()


@pytest.fixture
async def sample_app(tmp_path: Path, sample_i18n: I18n) -> AsyncIterator[tuple[App, SampleCog]]:
    settings = Settings.load(
        {"AFTERGLOW_DATA_DIR": str(tmp_path / "data"), "DISCORD_TOKEN": "x.y.z"}
    )
    cog = SampleCog()
    async with App(settings, i18n=sample_i18n) as app:
        # Only the sample cog: other features' commands and chat handlers must not interfere.
        app.registry = Registry()
        app.registry.add_cog(cog)
        app.router = Router(app.registry, sample_i18n, app.users, app.users)
        yield app, cog


@pytest.fixture
async def discord_env(
    sample_app: tuple[App, SampleCog],
) -> AsyncIterator[tuple[DiscordAdapter, AfterglowClient, FakeDiscord, SampleCog]]:
    """An adapter whose client is compiled and 'logged in' against the recorder."""
    app, cog = sample_app
    adapter = DiscordAdapter(app)
    client = adapter.client = AfterglowClient(adapter)
    fake = FakeDiscord(client)
    await client._async_setup_hook()  # what login() does first: bind the running loop
    try:
        await adapter.setup(client)  # the first start syncs the commands (recorded)
        fake.calls.clear()
        yield adapter, client, fake, cog
    finally:
        fake.close()
