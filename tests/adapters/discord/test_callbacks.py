"""Slash commands driven through the real command tree with real Interaction objects.

Only the network edge is fake (see fakes.py): discord.py parses the options, our callbacks
defer, build the invocation and reach the cog, and every HTTP payload is inspected.
"""

from __future__ import annotations

from typing import Any

from bot.adapters.discord.client import AfterglowClient, DiscordAdapter
from bot.core.models import Attachment as NeutralAttachment
from tests.adapters.discord.conftest import SampleCog
from tests.adapters.discord.fakes import (
    EPHEMERAL,
    OTHER_ID,
    SUPPRESS_EMBEDS,
    Attachment,
    FakeDiscord,
    slash,
)

Env = tuple[DiscordAdapter, AfterglowClient, FakeDiscord, SampleCog]


async def run(env: Env, command: dict[str, Any], **kwargs: Any) -> None:
    _, client, fake, _ = env
    interaction = fake.interaction(command, **kwargs)
    await client.tree._call(interaction)


def followups(fake: FakeDiscord) -> list[Any]:
    return [c for c in fake.calls if c.method == "POST" and "/webhooks/" in c.path]


async def test_personal_command_in_a_server_defers_first_and_answers_ephemerally(
    discord_env: Env,
) -> None:
    _, _, fake, cog = discord_env
    seen_at: list[int] = []
    cog.observer = lambda name: seen_at.append(len(fake.calls))
    await run(discord_env, slash("memories"), guild=True, locale="zh-CN")

    first = fake.calls[0]
    assert first.path.endswith("/callback")
    assert first.payload["type"] == 5  # deferred "thinking…"
    assert first.flags & EPHEMERAL
    assert seen_at == [1]  # the cog ran only after the defer went out
    (reply,) = followups(fake)
    assert reply.flags & EPHEMERAL
    assert reply.payload["allowed_mentions"] == {"parse": []}
    name, inv, _ = cog.calls[0]
    assert name == "memories"
    assert inv.chat.kind == "group" and inv.personal
    assert inv.locale == "zh_Hans"  # from the interaction's locale


async def test_personal_command_in_dms_is_not_ephemeral(discord_env: Env) -> None:
    _, _, fake, cog = discord_env
    await run(discord_env, slash("memories"), guild=False)
    assert not fake.calls[0].flags & EPHEMERAL
    assert cog.calls[0][1].chat.kind == "dm"
    assert not cog.calls[0][1].personal


async def test_model_text_with_everyone_pings_no_one_and_links_do_not_preview(
    discord_env: Env,
) -> None:
    _, _, fake, cog = discord_env
    text = "@everyone look https://example.invalid/beacon.png <@&1>"
    await run(discord_env, slash("echo", text=text), guild=True)
    assert not fake.calls[0].flags & EPHEMERAL  # a public command: public thinking
    (reply,) = followups(fake)
    assert reply.payload["content"] == text  # shown literally
    assert reply.payload["allowed_mentions"] == {"parse": []}
    assert reply.flags & SUPPRESS_EMBEDS
    assert not reply.flags & EPHEMERAL
    assert cog.calls[0][2] == {"text": text}


async def test_typed_options_arrive_as_python_values(discord_env: Env) -> None:
    _, _, _, cog = discord_env
    await run(discord_env, slash("count", n=3, loud=True), guild=False)
    await run(discord_env, slash("count", n=4), guild=False)
    assert [c[2] for c in cog.calls] == [{"n": 3, "loud": True}, {"n": 4, "loud": False}]


async def test_subcommand_reaches_its_handler(discord_env: Env) -> None:
    _, _, _, cog = discord_env
    await run(discord_env, slash("wall", sub="show"), guild=True)
    assert [c[0] for c in cog.calls] == ["wall show"]
    assert cog.calls[0][1].command == "wall show"


async def test_wrong_place_error_is_private_even_after_a_public_defer(discord_env: Env) -> None:
    _, _, fake, cog = discord_env
    # `wall show` is server-only; the group allows DMs because `wall post` runs there.
    await run(discord_env, slash("wall", sub="show"), guild=False, locale="zh-CN")
    assert cog.calls == []
    (reply,) = followups(fake)
    app_i18n = discord_env[0].i18n
    assert reply.payload["content"] == app_i18n.t("zh_Hans", "errors.group_only")


async def test_error_in_a_server_replaces_the_public_placeholder_with_a_private_reply(
    discord_env: Env,
) -> None:
    _, _, fake, cog = discord_env
    await run(discord_env, slash("purge"), guild=True, admin=False)
    assert cog.calls == []  # the router refused a non-admin
    methods = [(c.method, c.path.rsplit("/", 1)[-1]) for c in fake.calls]
    assert ("DELETE", "@original") in methods
    (reply,) = followups(fake)
    assert reply.flags & EPHEMERAL
    await run(discord_env, slash("purge"), guild=True, admin=True)
    assert [c[0] for c in cog.calls] == ["purge"]
    assert cog.calls[0][1].is_admin


async def test_stored_language_wins_over_the_client_language(discord_env: Env) -> None:
    adapter, _, _, cog = discord_env
    users = adapter.app.users
    person = await users.resolve("discord", "4200", "ann")
    await users.set_person_locale(person, "en")
    await run(discord_env, slash("echo", text="hi"), guild=False, locale="zh-CN")
    assert cog.calls[0][1].locale == "en"


async def test_attachment_option_becomes_a_neutral_attachment(discord_env: Env) -> None:
    _, _, _, cog = discord_env
    att = Attachment("77", "letter.txt", 12, "http://127.0.0.1:9/letter.txt")
    command = slash("remember", text="a letter", file=att)
    await run(discord_env, command, guild=False, resolved=att.resolved())
    name, inv, options = cog.calls[0]
    assert name == "remember"
    file = options["file"]
    assert isinstance(file, NeutralAttachment)
    assert (file.filename, file.size, file.content_type) == ("letter.txt", 12, "text/plain")
    assert inv.attachments == (file,)


async def test_a_command_that_says_nothing_removes_the_thinking_message(discord_env: Env) -> None:
    _, _, fake, cog = discord_env
    await run(discord_env, slash("quiet"), guild=True)
    assert cog.calls[0][0] == "quiet"
    assert fake.calls[-1].method == "DELETE" and fake.calls[-1].path.endswith("@original")


async def test_confirm_times_out_as_no_and_removes_the_buttons(discord_env: Env) -> None:
    _, _, fake, cog = discord_env
    await run(discord_env, slash("ask"), guild=False)
    assert cog.calls[0][2] == {"answer": False}
    (question,) = followups(fake)
    buttons = question.payload["components"][0]["components"]
    assert [b["label"] for b in buttons] == ["Yes", "No"]
    (edit,) = [c for c in fake.calls if c.method == "PATCH"]
    assert edit.payload["components"] == []


async def test_pages_show_a_footer_and_disabled_previous(discord_env: Env) -> None:
    _, _, fake, _ = discord_env
    await run(discord_env, slash("pages"), guild=True)
    (page,) = followups(fake)
    assert page.payload["content"].startswith("one")
    assert "1" in page.payload["content"].rsplit("\n", 1)[-1]
    prev, nxt = page.payload["components"][0]["components"]
    assert prev.get("disabled") is True and not nxt.get("disabled")


async def test_button_press_routes_to_the_handler_and_answers_privately(discord_env: Env) -> None:
    adapter, _, fake, cog = discord_env
    message = fake.message_payload(5500, "a memorial card")
    interaction = fake.interaction(
        {"custom_id": "like:card-9", "component_type": 2},
        guild=True,
        kind=3,
        message=message,
        user_id=OTHER_ID,
    )
    await adapter.bridge.press(interaction, "like:card-9")
    assert fake.calls[0].path.endswith("/callback") and fake.calls[0].payload["type"] == 6
    name, ctx, options = cog.calls[0]
    assert (name, options) == ("like", {"payload": "card-9"})
    assert ctx.handle.message_id == message["id"]
    # The card the button sits on is edited in place (works for ephemeral cards too).
    (edit,) = [c for c in fake.calls if c.method == "PATCH"]
    assert edit.path.endswith("/messages/@original")
    assert edit.payload["content"] == "1 like"
    assert edit.payload["allowed_mentions"] == {"parse": []}
    assert edit.payload["components"][0]["components"][0]["custom_id"] == "like:card-9"
    (notice,) = followups(fake)
    assert notice.payload["content"] == "liked card-9"
    assert notice.flags & EPHEMERAL


async def test_a_streamed_answer_fills_the_deferred_reply_and_is_edited_in_place(
    discord_env: Env,
) -> None:
    _, _, fake, _ = discord_env
    await run(discord_env, slash("story"), guild=True)
    (first,) = followups(fake)
    edits = [c for c in fake.calls if c.method == "PATCH"]
    assert first.payload["content"] == "Once "
    assert edits and edits[-1].payload["content"] == "Once upon a time @everyone"
    assert all(c.payload["allowed_mentions"] == {"parse": []} for c in [first, *edits])
    edited = {c.path.rsplit("/", 1)[-1] for c in edits}
    assert len(edited) == 1 and edited != {"@original"}  # one message, the follow-up
