"""Raw gateway events through discord.py's own dispatch: buttons and confirmations end to end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.adapters.discord.client import AfterglowClient, DiscordAdapter
from bot.adapters.discord.replier import ChannelReplier
from bot.core.models import Button
from tests.adapters.discord.conftest import SampleCog
from tests.adapters.discord.fakes import EPHEMERAL, OTHER_ID, OWNER_ID, FakeDiscord, slash

Env = tuple[DiscordAdapter, AfterglowClient, FakeDiscord, SampleCog]


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out waiting"
        await asyncio.sleep(0.005)


def press(fake: FakeDiscord, message: dict, index: int, *, user_id: int, guild: bool) -> dict:
    button = message["components"][0]["components"][index]
    return fake.interaction_payload(
        {"custom_id": button["custom_id"], "component_type": 2},
        guild=guild,
        kind=3,
        message=message,
        user_id=user_id,
    )


async def test_a_persistent_button_press_reaches_its_handler(discord_env: Env) -> None:
    adapter, client, fake, cog = discord_env
    replier = ChannelReplier(fake.guild_channel(), i18n=adapter.i18n, locale="en", owner_id=None)
    await replier.send("a card", buttons=[Button("Like", "like:card-9")])
    card = fake.last_message()
    # A fresh client state would find the button the same way: by its custom id pattern.
    client._connection.parse_interaction_create(press(fake, card, 0, user_id=OTHER_ID, guild=True))
    await until(lambda: any(c[0] == "like" for c in cog.calls))
    await until(lambda: any("liked" in str(c.payload.get("content")) for c in fake.calls))
    notice = next(c for c in fake.calls if "liked" in str(c.payload.get("content")))
    assert notice.flags & EPHEMERAL
    assert cog.calls[-1][2] == {"payload": "card-9"}


async def test_only_the_invoker_can_answer_a_confirmation(discord_env: Env) -> None:
    _, client, fake, cog = discord_env
    cog.confirm_timeout = 5.0
    state = client._connection
    state.parse_interaction_create(fake.interaction_payload(slash("ask"), guild=True))
    await until(lambda: bool(fake.last_message().get("components")))
    question = fake.last_message()
    assert question["content"] == "Sure?"

    state.parse_interaction_create(press(fake, question, 0, user_id=OTHER_ID, guild=True))
    await until(lambda: any(c.payload.get("type") == 4 for c in fake.calls))
    refusal = next(c for c in fake.calls if c.payload.get("type") == 4)
    assert refusal.flags & EPHEMERAL
    assert refusal.payload["data"]["content"] == "These buttons belong to the person who asked."
    assert cog.calls == []  # still waiting for the right person

    state.parse_interaction_create(press(fake, question, 0, user_id=OWNER_ID, guild=True))
    await until(lambda: bool(cog.calls))
    assert cog.calls[0][2] == {"answer": True}
    update = next(c for c in fake.calls if c.payload.get("type") == 7)
    assert update.payload["data"]["components"] == []  # the buttons are gone once answered
