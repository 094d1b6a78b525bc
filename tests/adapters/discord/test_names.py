"""Localized command names must pass Discord's name rule, or the whole sync is refused."""

from __future__ import annotations

import re

import pytest
from discord import Locale, app_commands
from discord.app_commands import TranslationContextLocation as Where

from bot.adapters.discord.translator import CatalogTranslator, valid_name
from bot.services.i18n import I18n

NAME_KEY = re.compile(r"^commands\.[a-z0-9_]+(\.[a-z0-9_]+)?(\.options\.[a-z0-9_]+)?\.name$")


def test_every_localized_command_and_option_name_in_the_catalogs_is_valid(i18n: I18n) -> None:
    checked = 0
    for locale, catalog in i18n.catalogs.items():
        for key, text in catalog.messages.items():
            if key.startswith("commands.") and key.endswith(".name"):
                assert NAME_KEY.match(key), f"{locale}: odd command-name key {key}"
                assert valid_name(text), f"{locale}: {key} = {text!r} is not a valid Discord name"
                checked += 1
    assert checked >= 3  # help, about, language at least


@pytest.mark.parametrize(
    "name", ["上传记忆", "帮助", "memory", "for-get", "it's", "名字_2", "a" * 32]
)
def test_valid_names(name: str) -> None:
    assert valid_name(name)


@pytest.mark.parametrize(
    "name", ["", "Echo", "two words", "a" * 33, "emoji😀", "semi;colon", "中文！"]
)
def test_invalid_names(name: str) -> None:
    assert not valid_name(name)


def test_translator_serves_zh_and_leaves_english_to_the_default(i18n: I18n) -> None:
    translator = CatalogTranslator(i18n)
    name = app_commands.locale_str("help", key="commands.help.name")
    desc = app_commands.locale_str("whatever", key="commands.help.description")
    zh_name = i18n.raw("zh_Hans", "commands.help.name")
    assert translator.lookup(name, Locale.chinese, Where.command_name) == zh_name
    assert translator.lookup(name, Locale.taiwan_chinese, Where.command_name) == zh_name
    assert translator.lookup(desc, Locale.chinese, Where.command_description) == i18n.raw(
        "zh_Hans", "commands.help.description"
    )
    for other in (Locale.american_english, Locale.british_english, Locale.japanese):
        assert translator.lookup(name, other, Where.command_name) is None
    # No key in the extras, or a key the catalog lacks: keep the default.
    assert (
        translator.lookup(app_commands.locale_str("help"), Locale.chinese, Where.command_name)
        is None
    )
    missing = app_commands.locale_str("x", key="commands.nope.name")
    assert translator.lookup(missing, Locale.chinese, Where.command_name) is None
