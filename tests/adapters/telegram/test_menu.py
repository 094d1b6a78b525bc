"""The Telegram menu: names, localized descriptions, scopes, JSON form and its digest."""

from __future__ import annotations

import json
from pathlib import Path

from bot.adapters.telegram.menu import build_menus, build_scoped_menus, menu_payload
from bot.core import Cog, Invocation, Registry, Where, command
from bot.services.i18n import I18n

PO = """msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"

msgid "commands.remember.description"
msgstr "{remember}"

msgid "commands.farewell.description"
msgstr "{farewell}"

msgid "commands.persona.description"
msgstr "{persona}"
"""


class MenuCog(Cog):
    name = "menu_test"

    @command("remember", where=Where.DM)
    async def remember(self, inv: Invocation) -> None: ...

    @command("farewell", where=Where.GROUP)
    async def farewell(self, inv: Invocation) -> None: ...

    @command("persona", sub="show", default_sub=True, where=Where.DM)
    async def persona_show(self, inv: Invocation) -> None: ...

    @command("persona", sub="share", where=Where.BOTH)
    async def persona_share(self, inv: Invocation) -> None: ...

    @command("debug", hidden=True)
    async def debug(self, inv: Invocation) -> None: ...


def _i18n(tmp_path: Path) -> I18n:
    texts = {
        "en": {"remember": "Keep a memory", "farewell": "Share a farewell", "persona": "x" * 300},
        "zh_Hans": {"remember": "记住一件事", "farewell": "分享告别", "persona": "人设"},
    }
    for locale, words in texts.items():
        folder = tmp_path / locale / "LC_MESSAGES"
        folder.mkdir(parents=True)
        (folder / "menu.po").write_text(PO.format(**words), encoding="utf-8")
    return I18n.load(tmp_path)


def _registry() -> Registry:
    registry = Registry()
    registry.add_cog(MenuCog())
    return registry


def test_menus_per_language_with_fixed_names(tmp_path: Path) -> None:
    menus = build_menus(_registry(), _i18n(tmp_path))
    assert set(menus) == {"default", "en", "zh"}
    names = ["farewell", "persona", "remember"]
    assert [n for n, _ in menus["zh"]] == [n for n, _ in menus["en"]] == names
    zh = dict(menus["zh"])
    assert zh["remember"] == "记住一件事"
    assert dict(menus["en"])["remember"] == "Keep a memory"
    assert "debug" not in zh  # hidden commands stay out of the menu
    # A subcommand group is one menu entry; long descriptions are cut to Telegram's 256.
    persona = dict(menus["en"])["persona"]
    assert len(persona) == 256 and persona.endswith("…")


def test_scopes_follow_where(tmp_path: Path) -> None:
    scoped = build_scoped_menus(_registry(), _i18n(tmp_path), default_locale="zh_Hans")
    private = [n for n, _ in scoped["all_private_chats"]["en"]]
    group = [n for n, _ in scoped["all_group_chats"]["en"]]
    assert "remember" in private and "remember" not in group
    assert "farewell" in group and "farewell" not in private
    assert "persona" in group  # one of its subcommands runs in groups
    # The operator's default language drives the fallback list.
    assert dict(scoped["default"]["default"])["remember"] == "记住一件事"


def test_payload_is_json_and_hash_tracks_changes(tmp_path: Path) -> None:
    i18n = _i18n(tmp_path)
    payload = menu_payload(_registry(), i18n)
    again = json.loads(json.dumps(payload, ensure_ascii=False))
    assert again["menus"]["zh"][0].keys() == {"command", "description"}
    assert set(again["scopes"]) == {"default", "all_private_chats", "all_group_chats"}
    assert set(again["profile"]) == {"default", "en", "zh"}
    assert payload["hash"] == menu_payload(_registry(), i18n)["hash"]
    registry = _registry()

    class Extra(Cog):
        @command("extra")
        async def extra(self, inv: Invocation) -> None: ...

    registry.add_cog(Extra())
    assert menu_payload(registry, i18n)["hash"] != payload["hash"]
