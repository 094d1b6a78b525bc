"""The client: intents, sync only on change, clear failures, direct messages, joining a server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from aiohttp import web

from bot.adapters.discord import DiscordAdapter
from bot.adapters.discord.client import HASH_FILE, AfterglowClient, bot_intents
from bot.adapters.discord.compile import command_payloads
from bot.app import App
from bot.core.models import ChatRef
from tests.adapters.discord.conftest import SampleCog
from tests.adapters.discord.fakes import CHANNEL_ID, DM_CHANNEL_ID, GUILD_ID, FakeDiscord

Env = tuple[DiscordAdapter, AfterglowClient, FakeDiscord, SampleCog]
TOKEN = "MTIz.secret-token-value.abc"


def test_no_privileged_intents() -> None:
    intents = bot_intents()
    assert not intents.message_content
    assert not intents.members and not intents.presences
    assert intents.dm_messages and intents.guild_messages  # DMs and mentions still arrive


def test_the_running_client_uses_them_and_start_up_refuses_privileged_ones(
    discord_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = discord_env[1]
    assert not client.intents.message_content and not client.intents.members
    monkeypatch.setattr(discord.Intents, "default", classmethod(lambda cls: cls.all()))
    with pytest.raises(RuntimeError, match="privileged"):
        AfterglowClient(discord_env[0])


async def test_sync_happens_only_when_the_compiled_payload_changes(
    sample_app: tuple[App, SampleCog],
) -> None:
    app, _ = sample_app

    async def setup_once() -> list[Any]:
        adapter = DiscordAdapter(app)
        client = adapter.client = AfterglowClient(adapter)
        fake = FakeDiscord(client)
        try:
            await adapter.setup(client)
        finally:
            fake.close()
        return [c for c in fake.calls if c.method == "PUT" and c.path.endswith("/commands")]

    (first,) = await setup_once()
    expected = await command_payloads(app.registry, app.i18n)
    assert first.path.endswith("/applications/1234/commands")
    assert first.payload == expected  # exactly what `afterglow commands` prints
    marker = app.settings.data_dir / HASH_FILE
    assert marker.read_text().startswith("1234:")
    assert await setup_once() == []  # unchanged: no sync on restart

    app.i18n.catalogs["en"].messages["commands.echo.description"] = "Say it back, changed"
    try:
        (again,) = await setup_once()
    finally:
        app.i18n.catalogs["en"].messages["commands.echo.description"] = "Say it back"
    echo = next(p for p in again.payload if p["name"] == "echo")
    assert echo["description"] == "Say it back, changed"


async def test_a_refused_sync_is_logged_and_retried_next_start(
    sample_app: tuple[App, SampleCog], caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = sample_app
    adapter = DiscordAdapter(app)
    client = adapter.client = AfterglowClient(adapter)
    fake = FakeDiscord(client)
    fake.fail_sync = True
    try:
        await adapter.setup(client)  # must not raise: DMs keep working with stale commands
    finally:
        fake.close()
    assert "command sync failed (HTTP 400)" in caplog.text
    assert not (app.settings.data_dir / HASH_FILE).exists()


async def test_direct_message_for_scheduled_check_ins(discord_env: Env) -> None:
    adapter, _, fake, _ = discord_env
    assert await adapter.send_dm("4200", "a" * 2500 + " @everyone")
    sent = [
        c
        for c in fake.calls
        if c.method == "POST" and c.path.endswith(f"/channels/{DM_CHANNEL_ID}/messages")
    ]
    assert len(sent) == 2
    assert all(c.payload["allowed_mentions"] == {"parse": []} for c in sent)
    # The scheduler's DirectSender port: other platforms and bad ids are refused, not raised.
    assert await adapter.send_direct("discord", "4200", "happy anniversary")
    assert not await adapter.send_direct("telegram", "4200", "x")
    assert not await adapter.send_direct("discord", "not-a-number", "x")


async def test_joining_a_server_calls_the_introduction_hook(discord_env: Env) -> None:
    adapter, client, fake, _ = discord_env
    seen: list[ChatRef] = []

    async def on_joined_group(chat: ChatRef, replier: Any) -> None:
        seen.append(chat)
        await replier.send("hello, group")

    adapter.app.on_joined_group = on_joined_group  # type: ignore[attr-defined]
    await client.on_guild_join(fake.guild())
    assert seen == [ChatRef("discord", str(GUILD_ID), "group", "Lantern")]
    assert fake.calls[-1].path.endswith(f"/channels/{CHANNEL_ID}/messages")
    seen.clear()
    await client.on_guild_join(fake.guild(can_send=False))
    assert seen == []  # nowhere to speak: stay quiet


@pytest.fixture
async def discord_api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[str]]:
    """A loopback stand-in for discord.com that rejects every token."""
    hits: list[str] = []

    async def reject(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)

    api = web.Application()
    api.router.add_route("*", "/{tail:.*}", reject)
    runner = web.AppRunner(api)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{port}/api/v10")
    try:
        yield hits
    finally:
        await runner.cleanup()


async def test_a_bad_token_is_reported_clearly_without_the_token(
    sample_app: tuple[App, SampleCog],
    discord_api: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, _ = sample_app
    object.__setattr__(app.settings, "discord_token", TOKEN)
    adapter = DiscordAdapter(app)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(discord.LoginFailure):
        await adapter.start()
    assert discord_api == ["/api/v10/users/@me"]
    assert "token was rejected" in caplog.text
    assert TOKEN not in caplog.text and "secret-token-value" not in caplog.text
    await adapter.stop()  # safe after a failed start


async def test_an_outage_is_reported_and_does_not_hang(
    sample_app: tuple[App, SampleCog],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    unused_tcp_port: int,
) -> None:
    app, _ = sample_app
    object.__setattr__(app.settings, "discord_token", TOKEN)
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{unused_tcp_port}/api/v10")
    adapter = DiscordAdapter(app)
    with pytest.raises(OSError):
        await adapter.start()
    assert "cannot reach Discord" in caplog.text
    assert TOKEN not in caplog.text
