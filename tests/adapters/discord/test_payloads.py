"""The compiled command tree, as Discord would receive it at sync time (no network)."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.discord.compile import command_payloads, payload_hash
from bot.app import App
from bot.cli import main as cli_main
from bot.core.commands import Registry
from bot.services.i18n import I18n
from bot.settings import Settings
from tests.adapters.discord.conftest import SampleCog

ZH = ("zh-CN", "zh-TW")


def by_name(payloads: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in payloads}


def option(payload: dict[str, Any], name: str) -> dict[str, Any]:
    return next(o for o in payload["options"] if o["name"] == name)


@pytest.fixture
async def sample_payloads(sample_i18n: I18n) -> dict[str, dict[str, Any]]:
    registry = Registry()
    registry.add_cog(SampleCog())
    return by_name(await command_payloads(registry, sample_i18n))


async def test_every_shipped_command_is_listed_with_zh_cn_localizations(
    tmp_path: Path, i18n: I18n
) -> None:
    app = App(Settings.load({"AFTERGLOW_DATA_DIR": str(tmp_path)}), i18n=i18n)
    payloads = by_name(await command_payloads(app.registry, i18n))
    assert list(payloads) == app.registry.top_level()
    for core in ("help", "about", "language"):
        assert payloads[core]["name_localizations"]["zh-CN"]
        assert payloads[core]["description_localizations"]["zh-CN"]
    for name, payload in payloads.items():
        assert payload["integration_types"] == [0], name  # server install only
        assert 1 <= len(payload["description"]) <= 100
        en = i18n.raw("en", f"commands.{name}.description")
        zh = i18n.raw("zh_Hans", f"commands.{name}.description")
        if en is not None:
            assert payload["description"] == en
        if zh is not None and zh != en:
            for loc in ZH:
                assert payload["description_localizations"][loc] == zh[:100], name
        zh_name = i18n.raw("zh_Hans", f"commands.{name}.name")
        if zh_name is not None:
            assert payload["name_localizations"] == {"zh-CN": zh_name, "zh-TW": zh_name}
        for sub in payload["options"]:
            zh_sub = i18n.raw("zh_Hans", f"commands.{name}.{sub['name']}.description")
            if sub["type"] == 1 and zh_sub:  # a subcommand: its own description, localized
                assert sub["description_localizations"]["zh-CN"] == zh_sub[:100], name
    # English clients get the default text: no en-* localization is sent.
    assert all(
        not k.startswith("en") for p in payloads.values() for k in p["description_localizations"]
    )


async def test_sample_command_shapes(sample_payloads: dict[str, dict[str, Any]]) -> None:
    remember = sample_payloads["remember"]
    assert remember["contexts"] == [1]  # bot DMs only
    assert remember["name_localizations"] == {"zh-CN": "记住", "zh-TW": "记住"}
    assert (
        remember["description_localizations"]["zh-CN"]
        == "中文：Keep a memory (direct messages only)"
    )
    text, file = remember["options"]
    assert (text["name"], text["type"], text["required"]) == ("text", 3, True)
    assert text["name_localizations"] == {"zh-CN": "内容", "zh-TW": "内容"}
    assert text["description_localizations"]["zh-CN"] == "中文：What to remember"
    assert (file["name"], file["type"], file["required"]) == ("file", 11, False)

    count = sample_payloads["count"]
    n = option(count, "n")
    assert (n["type"], n["min_value"], n["max_value"], n["required"]) == (4, 1, 10, True)
    assert n["name_localizations"]["zh-CN"] == "数量"
    assert option(count, "loud")["type"] == 5
    times = option(count, "times")
    assert (times["type"], times["required"], times["min_value"]) == (4, False, 2)
    assert "max_value" not in times
    assert count["contexts"] == [0, 1] and count["default_member_permissions"] is None

    purge = sample_payloads["purge"]
    assert purge["contexts"] == [0]  # servers only
    assert purge["default_member_permissions"] == 8  # administrator


async def test_subcommands_become_a_group_with_the_union_of_contexts(
    sample_payloads: dict[str, dict[str, Any]],
) -> None:
    wall = sample_payloads["wall"]
    assert wall["type"] == 1
    assert wall["name_localizations"]["zh-CN"] == "纪念墙"
    assert wall["contexts"] == [0, 1]  # show is server-only, post runs anywhere
    subs = {o["name"]: o for o in wall["options"]}
    assert set(subs) == {"show", "post"}
    assert all(o["type"] == 1 for o in subs.values())
    assert subs["show"]["name_localizations"]["zh-CN"] == "查看"
    image = subs["post"]["options"][0]
    assert (image["name"], image["type"], image["required"]) == ("image", 11, True)


async def test_a_name_discord_would_refuse_falls_back_to_english(
    sample_payloads: dict[str, dict[str, Any]],
) -> None:
    echo = sample_payloads["echo"]
    assert echo["name"] == "echo"
    assert echo["name_localizations"] == {}
    assert echo["description_localizations"]["zh-CN"] == "中文：Say it back"


async def test_choices_keep_their_values(i18n: I18n, tmp_path: Path) -> None:
    app = App(Settings.load({"AFTERGLOW_DATA_DIR": str(tmp_path)}), i18n=i18n)
    language = by_name(await command_payloads(app.registry, i18n))["language"]
    code = option(language, "code")
    assert [c["value"] for c in code["choices"]] == ["en", "zh"]


async def test_payload_hash_is_stable_and_notices_changes(sample_i18n: I18n) -> None:
    registry = Registry()
    registry.add_cog(SampleCog())
    first = await command_payloads(registry, sample_i18n)
    second = await command_payloads(registry, sample_i18n)
    assert payload_hash(first) == payload_hash(second)
    first[0]["description"] += "!"
    assert payload_hash(first) != payload_hash(second)


def test_cli_prints_the_discord_payloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERGLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli_main(["commands", "--platform", "discord", "--json"]) == 0
    payloads = by_name(json.loads(out.getvalue()))
    assert payloads["help"]["name_localizations"]["zh-CN"]
    assert "zh-CN" in payloads["language"]["description_localizations"]
    assert not (tmp_path / "data").exists()  # offline: nothing opened, nothing written


async def test_choice_labels_are_localized(i18n: I18n, tmp_path: Path) -> None:
    app = App(Settings.load({"AFTERGLOW_DATA_DIR": str(tmp_path)}), i18n=i18n)
    language = by_name(await command_payloads(app.registry, i18n))["language"]
    en, zh = option(language, "code")["choices"]
    assert (en["name"], en["value"]) == ("English", "en")
    assert en["name_localizations"]["zh-CN"] == "英文 (English)"
    assert (zh["name"], zh["value"]) == ("中文 (Chinese)", "zh")


async def test_option_names_that_are_not_python_identifiers_still_work(sample_i18n: I18n) -> None:
    from bot.adapters.discord.compile import Compiler
    from bot.core import Cog, Invocation, Option, OptionType, command

    seen: list[dict[str, Any]] = []

    class Odd(Cog):
        @command(
            "since", options=[Option("from", OptionType.STRING), Option("2fa", OptionType.INTEGER)]
        )
        async def since(self, inv: Invocation, **options: Any) -> None: ...

    async def dispatch(interaction: Any, cmd: Any, options: dict[str, Any]) -> None:
        seen.append(options)

    registry = Registry()
    registry.add_cog(Odd())
    (compiled,) = Compiler(sample_i18n, dispatch).compile(registry)
    assert [p.display_name for p in compiled.parameters] == ["from", "2fa"]
    await compiled.callback(None, option_from="monday", option_2fa=7)  # as discord.py calls it
    assert seen == [{"from": "monday", "2fa": 7}]
