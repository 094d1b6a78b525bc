"""Long persona fields on Discord: a modal first when the text was left out, else the old path.

A real App (real SQLite, real persona cog) behind an offline Discord client; the modal's
submission is fed back through discord.py's own INTERACTION_CREATE parsing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.adapters.discord.client import AfterglowClient, DiscordAdapter
from bot.adapters.discord.modal import LABEL_MAX, clip
from bot.app import App
from bot.core.models import UserRef
from bot.settings import Settings
from tests.adapters.discord.fakes import OWNER_ID, FakeDiscord, slash

ANN = UserRef("discord", str(OWNER_ID), "ann")
MODAL = 9
DEFERRED = 5

Env = tuple[App, AfterglowClient, FakeDiscord]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    settings = Settings.load(
        {"AFTERGLOW_DATA_DIR": str(tmp_path / "data"), "DISCORD_TOKEN": "x.y.z"}
    )
    async with App(settings) as app:
        adapter = DiscordAdapter(app)
        client = adapter.client = AfterglowClient(adapter)
        fake = FakeDiscord(client)
        await client._async_setup_hook()
        try:
            await adapter.setup(client)
            await app.personas.create(ANN, "Echo", personality="quiet")
            fake.calls.clear()
            yield app, client, fake
        finally:
            fake.close()


async def edit(env: Env, **options: Any) -> None:
    _, client, fake = env
    command = slash("persona", sub="edit", **options)
    await client.tree._call(fake.interaction(command, guild=False, locale="zh-CN"))


def text_inputs(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for c in components:
        if c["type"] == 4:
            found.append(c)
        found += text_inputs(c.get("components") or ([c["component"]] if "component" in c else []))
    return found


async def test_edit_without_a_value_answers_with_a_modal_and_no_defer(env: Env) -> None:
    app, _, fake = env
    await edit(env, field="personality")
    (call,) = fake.calls  # the modal is the one and only response
    assert call.path.endswith("/callback") and call.payload["type"] == MODAL
    data = call.payload["data"]
    assert data["title"] == app.i18n.t("zh_Hans", "discord.modal_title", command="persona edit")
    (field,) = text_inputs(data["components"])
    assert field["style"] == discord.TextStyle.paragraph.value
    assert field["max_length"] == 4000
    label = app.i18n.t("zh_Hans", "commands.persona.edit.options.value.description")
    assert field["label"] == clip(label, LABEL_MAX)
    assert (await app.personas.get(ANN)).personality == "quiet"  # nothing ran yet


async def test_submitting_the_modal_runs_the_command_and_stores_the_field(env: Env) -> None:
    app, client, fake = env
    await edit(env, field="personality")
    data = fake.calls[0].payload["data"]
    (field,) = text_inputs(data["components"])
    modal = client._connection._view_store._modals[data["custom_id"]]
    text = "Warm and teasing.\nAlways asks about my day."
    submitted = {
        "custom_id": data["custom_id"],
        "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": field["custom_id"], "value": text}]}
        ],
    }
    fake.calls.clear()
    client._connection.parse_interaction_create(
        fake.interaction_payload(submitted, guild=False, locale="zh-CN", kind=5)  # type: ignore[arg-type]
    )
    assert await asyncio.wait_for(modal.wait(), 5) is False  # finished, not timed out
    assert fake.calls[0].path.endswith("/callback")
    assert fake.calls[0].payload["type"] == DEFERRED
    assert (await app.personas.get(ANN)).personality == text
    replies = [c for c in fake.calls if c.method == "POST" and "/webhooks/" in c.path]
    assert any("Echo" in r.payload["content"] for r in replies)  # the localized "updated"


async def test_edit_with_a_value_defers_and_runs_as_before(env: Env) -> None:
    app, _, fake = env
    await edit(env, field="personality", value="Bright")
    assert fake.calls[0].payload["type"] == DEFERRED
    assert all(c.payload.get("type") != MODAL for c in fake.calls if c.path.endswith("/callback"))
    assert (await app.personas.get(ANN)).personality == "Bright"
