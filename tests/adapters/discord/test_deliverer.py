"""The Discord `Deliverer`: recovery and the outbox post into a chat by id, without pings."""

from __future__ import annotations

import pytest

from bot.adapters.discord.client import AfterglowClient, DiscordAdapter
from bot.services.delivery import DeliveryUnavailable
from tests.adapters.discord.conftest import SampleCog
from tests.adapters.discord.fakes import DM_CHANNEL_ID, FakeDiscord

Env = tuple[DiscordAdapter, AfterglowClient, FakeDiscord, SampleCog]


async def test_deliver_posts_pieces_without_mentions(discord_env: Env) -> None:
    adapter, _, fake, _ = discord_env
    await adapter.deliver("discord", str(DM_CHANNEL_ID), "b" * 2500 + " @everyone")
    sent = [
        c
        for c in fake.calls
        if c.method == "POST" and c.path.endswith(f"/channels/{DM_CHANNEL_ID}/messages")
    ]
    assert len(sent) == 2
    assert all(c.payload["allowed_mentions"] == {"parse": []} for c in sent)


async def test_deliver_reports_unreachable_chats(discord_env: Env) -> None:
    adapter, _, _, _ = discord_env
    with pytest.raises(DeliveryUnavailable):
        await adapter.deliver("discord", "not-a-channel", "x")
    adapter.client = None
    with pytest.raises(DeliveryUnavailable):
        await adapter.deliver("discord", str(DM_CHANNEL_ID), "x")
