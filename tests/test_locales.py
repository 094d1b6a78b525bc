"""Both catalogs carry the same keys, the same placeholders, and every command's metadata."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po

from bot.app import App
from bot.services.i18n import PLACEHOLDER_RE, I18n, default_locales_dir, normalize_locale
from bot.settings import Settings

DISCORD_NAME = re.compile(r"^[-_'\w]{1,32}$")


def _entries(locale: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted((default_locales_dir() / locale / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as fh:
            for msg in read_po(fh):
                if not msg.id:
                    continue
                key = msg.id[0] if isinstance(msg.id, tuple | list) else msg.id
                strings = list(msg.string) if isinstance(msg.string, tuple | list) else [msg.string]
                assert key not in out, f"{key} defined twice in {locale}"
                out[str(key)] = [str(s) for s in strings]
    return out


def test_catalogs_have_the_same_keys_and_placeholders() -> None:
    en, zh = _entries("en"), _entries("zh_Hans")
    # zh may add localized command names (`.name`) that English keeps as the ASCII name.
    zh_keys = {k for k in zh if not k.endswith(".name")}
    assert set(en) == zh_keys, set(en) ^ zh_keys
    for key, en_strings in en.items():
        want = set(PLACEHOLDER_RE.findall(" ".join(en_strings)))
        for s in zh[key]:
            assert s, f"{key} is untranslated in zh_Hans"
            got = set(PLACEHOLDER_RE.findall(s))
            # A plural's singular/other forms may omit {n}; no other drift is allowed.
            assert got <= want and want - got <= {"n"}, (key, want, got)


def test_every_command_has_descriptions_in_both_languages(tmp_path) -> None:
    app = App(Settings.load({"AFTERGLOW_DATA_DIR": str(tmp_path)}))
    i18n: I18n = app.i18n
    for cmd in app.registry:
        keys = [cmd.spec.key + ".description"]
        keys += [f"{cmd.spec.key}.options.{o.name}.description" for o in cmd.spec.options]
        if cmd.spec.sub:
            keys.append(f"commands.{cmd.spec.name}.description")
        for key in keys:
            for loc in ("en", "zh_Hans"):
                assert i18n.has(key, loc), f"{key} missing in {loc}"
                assert len(i18n.t(loc, key)) <= 100, f"{key} too long for Discord in {loc}"


def test_localized_command_names_fit_discord_rules() -> None:
    for key, strings in _entries("zh_Hans").items():
        if key.startswith("commands.") and key.endswith(".name"):
            assert DISCORD_NAME.match(strings[0]) and strings[0] == strings[0].lower(), key


def test_plural_forms_follow_each_language(i18n: I18n) -> None:
    assert i18n.catalogs["en"].plural_index(1) == 0
    assert i18n.catalogs["en"].plural_index(2) == 1
    assert i18n.catalogs["zh_Hans"].plural_index(5) == 0


def test_locale_tags_normalize() -> None:
    assert normalize_locale("zh-CN") == "zh_Hans"
    assert normalize_locale("zh-hans") == "zh_Hans"
    assert normalize_locale("zh-TW") == "zh_Hans"
    assert normalize_locale("en-GB") == "en"
    assert normalize_locale("fr") is None
    assert normalize_locale(None) is None
