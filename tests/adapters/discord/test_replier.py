"""ChannelReplier on a real DMChannel: splitting, throttled streaming, mentions, files, targets."""

from __future__ import annotations

import pytest

from bot.adapters.discord.client import AfterglowClient, DiscordAdapter
from bot.adapters.discord.replier import ChannelReplier, PersistentButton
from bot.core.errors import UserError
from bot.core.models import Button, OutFile
from bot.core.streaming import StreamRenderer
from tests.adapters.discord.conftest import SampleCog
from tests.adapters.discord.fakes import DM_CHANNEL_ID, OWNER_ID, SUPPRESS_EMBEDS, FakeDiscord

Env = tuple[DiscordAdapter, AfterglowClient, FakeDiscord, SampleCog]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def replier(discord_env: Env) -> ChannelReplier:
    adapter, _, fake, _ = discord_env
    return ChannelReplier(
        fake.dm_channel(),
        i18n=adapter.i18n,
        locale="en",
        owner_id=OWNER_ID,
        resolve_channel=adapter.resolve_channel,
    )


def posts(fake: FakeDiscord) -> list[str]:
    return [
        c.payload.get("content") or ""
        for c in fake.calls
        if c.method == "POST" and c.path.endswith("/messages")
    ]


async def test_long_text_is_split_at_2000_characters(
    discord_env: Env, replier: ChannelReplier
) -> None:
    fake = discord_env[2]
    paragraph = ("word " * 300).strip()  # 1499 characters
    text = "\n\n".join([paragraph] * 3)
    handle = await replier.send(text)
    sent = posts(fake)
    assert len(sent) >= 3
    assert all(0 < len(piece) <= 2000 for piece in sent)
    assert "".join(sent).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )
    for call in fake.calls:
        assert call.payload["allowed_mentions"] == {"parse": []}
        assert call.flags & SUPPRESS_EMBEDS
    assert handle.chat_id == str(DM_CHANNEL_ID)


async def test_streaming_edits_at_most_every_1_2_seconds(
    discord_env: Env, replier: ChannelReplier
) -> None:
    fake = discord_env[2]
    clock = FakeClock()
    renderer = StreamRenderer(replier, clock=clock)
    for i in range(20):  # a chunk every 0.25 s for 5 s
        await renderer.feed(f"t{i} ")
        clock.now += 0.25
    final = await renderer.close()
    sends = [c for c in fake.calls if c.method == "POST"]
    edits = [c for c in fake.calls if c.method == "PATCH"]
    assert len(sends) == 1
    # 5 s of stream at >= 1.2 s apart: at most 4 throttled edits plus the final one.
    assert 3 <= len(edits) <= 5
    assert edits[-1].payload["content"] == final.strip() or edits[-1].payload["content"] == final
    for edit in edits:
        assert edit.payload["allowed_mentions"] == {"parse": []}
        assert edit.flags & SUPPRESS_EMBEDS  # edits keep link previews off


async def test_everyone_in_a_dm_reply_pings_no_one(
    discord_env: Env, replier: ChannelReplier
) -> None:
    fake = discord_env[2]
    await replier.send("@everyone @here <@123> hello")
    (call,) = fake.calls
    assert call.payload["content"] == "@everyone @here <@123> hello"
    assert call.payload["allowed_mentions"] == {"parse": []}


async def test_files_buttons_typing_and_targets(discord_env: Env, replier: ChannelReplier) -> None:
    fake = discord_env[2]
    await replier.send("export", files=[OutFile(b"{}", "afterglow-export.json")])
    assert fake.calls[-1].files == ["afterglow-export.json"]

    await replier.send("a card", buttons=[Button("Light a candle", "candle:42")])
    (row,) = fake.calls[-1].payload["components"]
    assert row["components"][0]["custom_id"] == "candle:42"
    assert row["components"][0]["label"] == "Light a candle"

    await replier.typing()
    assert fake.calls[-1].path.endswith(f"/channels/{DM_CHANNEL_ID}/typing")

    await replier.send("to the wall", target="5500")  # fetched by id, then posted to
    assert fake.calls[-1].path.endswith("/channels/5500/messages")
    assert fake.calls[-1].payload["allowed_mentions"] == {"parse": []}


def test_persistent_button_template_matches_neutral_ids_only() -> None:
    template = PersistentButton.__discord_ui_compiled_template__
    assert template.fullmatch("candle:42")
    assert template.fullmatch("like:card-9")
    # Interactive views (confirm, pages) get library-generated ids without a colon prefix.
    assert not template.fullmatch("0f3c9a1e2b4d5c6e7f8091a2b3c4d5e6")


async def test_targets_accept_channel_mentions_and_explain_failures(
    discord_env: Env, replier: ChannelReplier
) -> None:
    fake = discord_env[2]
    await replier.send("card", target="<#5500>")
    assert fake.calls[-1].path.endswith("/channels/5500/messages")
    with pytest.raises(UserError) as bad:
        await replier.send("card", target="memorial")
    assert bad.value.key == "discord.bad_channel"
    fake.forbidden_channels.add(6600)
    with pytest.raises(UserError) as denied:
        await replier.send("card", target="6600")
    assert denied.value.key == "discord.cannot_post"
    assert denied.value.params == {"channel": "<#6600>"}
