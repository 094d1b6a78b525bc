"""Plain messages: DMs reach the chat path, servers only when the bot is addressed; capped downloads."""

from __future__ import annotations

from collections.abc import AsyncIterator

import discord
import pytest
from aiohttp import web

from bot.adapters.discord.client import AfterglowClient, DiscordAdapter
from bot.adapters.discord.convert import to_attachment
from bot.core.errors import UserError
from tests.adapters.discord.conftest import SampleCog
from tests.adapters.discord.fakes import BOT_ID, OWNER_ID, FakeDiscord, user_payload

Env = tuple[DiscordAdapter, AfterglowClient, FakeDiscord, SampleCog]
MIB = 1024 * 1024


def attachment_payload(url: str, size: int, name: str = "letter.txt") -> dict[str, object]:
    return {
        "id": "31",
        "filename": name,
        "size": size,
        "url": url,
        "proxy_url": url,
        "content_type": "text/plain",
    }


async def test_a_dm_goes_to_the_chat_path_and_streams_a_reply(discord_env: Env) -> None:
    _, client, fake, cog = discord_env
    message = fake.message(fake.dm_channel(), "I miss you")
    await client.on_message(message)
    name, ctx, _ = cog.calls[0]
    assert name == "chat"
    assert ctx.message.text == "I miss you"
    assert ctx.message.key == f"discord:{message.id}"
    assert ctx.chat.kind == "dm" and ctx.user.id == str(OWNER_ID)
    shown = [c for c in fake.calls if c.method in ("POST", "PATCH") and "/messages" in c.path]
    assert shown and shown[-1].payload["content"].startswith("hello @everyone")
    assert all(c.payload["allowed_mentions"] == {"parse": []} for c in shown)


async def test_a_redelivered_dm_is_answered_once(discord_env: Env) -> None:
    _, client, fake, cog = discord_env
    message = fake.message(fake.dm_channel(), "again")
    await client.on_message(message)
    await client.on_message(message)
    assert [c[0] for c in cog.calls] == ["chat"]


async def test_server_messages_not_addressed_to_the_bot_are_ignored(discord_env: Env) -> None:
    adapter, client, fake, cog = discord_env
    channel = fake.guild_channel()
    await client.on_message(fake.message(channel, ""))  # no content intent: text is empty
    await client.on_message(fake.message(channel, "hi", author_id=BOT_ID, bot=True))
    assert fake.calls == [] and cog.calls == []
    assert adapter.bridge.incoming(fake.message(channel, "x", bot=True), BOT_ID) is None


async def test_a_mention_in_a_server_gets_a_pointer_to_dms(discord_env: Env) -> None:
    adapter, client, fake, cog = discord_env
    channel = fake.guild_channel()
    bot = user_payload(BOT_ID, "afterglow", bot=True)
    message = fake.message(channel, f"<@{BOT_ID}> are you there?", mentions=[bot])
    incoming = adapter.bridge.incoming(message, BOT_ID)
    assert incoming is not None
    assert incoming.text == "are you there?" and incoming.addressed
    assert incoming.chat.kind == "group" and incoming.chat.title == "Lantern #memorial"
    await client.on_message(message)
    assert cog.calls == []  # the sample's chat handler is DM-only
    (reply,) = fake.calls
    assert reply.payload["content"] == adapter.i18n.t("en", "core.dm_pointer", bot="")
    assert reply.payload["allowed_mentions"] == {"parse": []}


async def test_dm_attachments_are_converted(discord_env: Env) -> None:
    _, client, fake, cog = discord_env
    att = attachment_payload("http://127.0.0.1:9/x", 2048)
    await client.on_message(fake.message(fake.dm_channel(), "", attachments=[att]))
    (file,) = cog.calls[0][1].message.attachments
    assert (file.filename, file.size, file.content_type) == ("letter.txt", 2048, "text/plain")


@pytest.fixture
async def file_server() -> AsyncIterator[tuple[str, list[str]]]:
    hits: list[str] = []

    async def big(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        response = web.StreamResponse()  # chunked: no Content-Length to trust
        await response.prepare(request)
        for _ in range(8):
            await response.write(b"x" * (256 * 1024))
        await response.write_eof()
        return response

    async def small(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=b"a letter")

    app = web.Application()
    app.router.add_get("/big", big)
    app.router.add_get("/small", small)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", hits
    finally:
        await runner.cleanup()


async def test_declared_size_over_the_cap_downloads_nothing(
    discord_env: Env, file_server: tuple[str, list[str]]
) -> None:
    fake = discord_env[2]
    base, hits = file_server
    message = fake.message(
        fake.dm_channel(), "", attachments=[attachment_payload(f"{base}/big", 5 * MIB)]
    )
    att = to_attachment(message.attachments[0])
    with pytest.raises(UserError) as err:
        await att.fetch(1 * MIB)
    assert err.value.key == "errors.file_too_large" and err.value.params == {"limit_mb": 1}
    assert hits == []


async def test_a_body_larger_than_declared_is_cut_off_at_the_cap(
    discord_env: Env, file_server: tuple[str, list[str]]
) -> None:
    fake = discord_env[2]
    base, hits = file_server
    lying = attachment_payload(f"{base}/big", 100)  # claims 100 bytes, sends 2 MiB
    att = to_attachment(fake.message(fake.dm_channel(), "", attachments=[lying]).attachments[0])
    with pytest.raises(UserError):
        await att.fetch(1 * MIB)
    assert hits == ["/big"]
    honest = attachment_payload(f"{base}/small", 8)
    ok = to_attachment(fake.message(fake.dm_channel(), "", attachments=[honest]).attachments[0])
    assert await ok.fetch(1 * MIB) == b"a letter"


async def test_a_reply_to_the_bot_in_a_server_counts_as_addressed(discord_env: Env) -> None:
    adapter, _, fake, _ = discord_env
    channel = fake.guild_channel()
    bot = user_payload(BOT_ID, "afterglow", bot=True)
    state = discord_env[1]._connection
    data = fake.message_payload(channel.id, "thank you", guild_id=channel.guild.id)
    data["type"] = 19  # a reply
    data["member"] = {
        "roles": [],
        "joined_at": "2026-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
    }
    data["message_reference"] = {"message_id": "1", "channel_id": str(channel.id)}
    data["referenced_message"] = fake.message_payload(
        channel.id, "a card", author=bot, message_id=1
    )
    reply = discord.Message(state=state, channel=channel, data=data)
    incoming = adapter.bridge.incoming(reply, BOT_ID)
    assert incoming is not None and incoming.addressed and incoming.text == "thank you"
    data["referenced_message"] = fake.message_payload(channel.id, "hi", message_id=2)
    other = discord.Message(state=state, channel=channel, data=data)
    assert adapter.bridge.incoming(other, BOT_ID) is None  # a reply to someone else
