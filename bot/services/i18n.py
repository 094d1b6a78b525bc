"""Localized messages from gettext catalogs, read at run time with Babel (no compile step).

Every `locales/<lang>/LC_MESSAGES/*.po` file of a language is merged into one catalog; msgids
are dotted keys and the English catalog holds the English text. A missing key falls back to
English, then to the key itself, so a gap shows up visibly instead of crashing a reply.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from gettext import c2py
from importlib import resources
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

log = logging.getLogger(__name__)

LOCALES = ("en", "zh_Hans")
DEFAULT_LOCALE = "en"
PLACEHOLDER_RE = re.compile(r"{(\w+)}")

_ALIASES = {
    "zh": "zh_Hans",
    "zh_cn": "zh_Hans",
    "zh_hans": "zh_Hans",
    "zh_sg": "zh_Hans",
    "zh_hans_cn": "zh_Hans",
    # Traditional-script readers get Simplified until a zh_Hant catalog exists; both read it.
    "zh_tw": "zh_Hans",
    "zh_hk": "zh_Hans",
    "zh_hant": "zh_Hans",
    "en": "en",
}


def normalize_locale(tag: str | None) -> str | None:
    """Map a platform language tag (`zh-CN`, `zh-hans`, `en-US`, `zh`) to a catalog name."""
    if not tag:
        return None
    key = tag.strip().replace("-", "_").lower()
    if key in _ALIASES:
        return _ALIASES[key]
    base = key.split("_", 1)[0]
    if base == "zh":
        return "zh_Hans"
    if base == "en":
        return "en"
    return None


def default_locales_dir() -> Path:
    """The `locales/` directory shipped with the package."""
    return Path(str(resources.files("locales")))


@dataclass(frozen=True, slots=True)
class Catalog:
    """One language: singular messages, plural forms, and the plural rule."""

    locale: str
    messages: dict[str, str]
    plurals: dict[str, tuple[str, ...]]
    plural_index: Any

    def keys(self) -> set[str]:
        return set(self.messages) | set(self.plurals)


class I18n:
    """All catalogs; `t` and `tn` format a message with named placeholders."""

    def __init__(self, catalogs: dict[str, Catalog]) -> None:
        self.catalogs = catalogs

    @classmethod
    def load(cls, directory: Path | None = None, locales: Iterable[str] = LOCALES) -> I18n:
        """Read every .po file of each locale under `directory`."""
        root = directory or default_locales_dir()
        catalogs: dict[str, Catalog] = {}
        for locale in locales:
            messages: dict[str, str] = {}
            plurals: dict[str, tuple[str, ...]] = {}
            plural_expr = "(n != 1)"
            for path in sorted((root / locale / "LC_MESSAGES").glob("*.po")):
                with path.open("rb") as fh:
                    po = read_po(fh, locale=locale.replace("_Hans", ""))
                plural_expr = po.plural_expr or plural_expr
                for msg in po:
                    if not msg.id:
                        continue
                    if isinstance(msg.id, tuple | list):
                        forms = tuple(str(s) for s in msg.string) if msg.string else ()
                        if forms and all(forms):
                            plurals[str(msg.id[0])] = forms
                    elif msg.string:
                        messages[str(msg.id)] = str(msg.string)
            catalogs[locale] = Catalog(locale, messages, plurals, c2py(plural_expr))
        return cls(catalogs)

    def has(self, key: str, locale: str) -> bool:
        cat = self.catalogs.get(locale)
        return bool(cat and (key in cat.messages or key in cat.plurals))

    def raw(self, locale: str, key: str) -> str | None:
        """The unformatted message, or None when this locale lacks it (no fallback)."""
        cat = self.catalogs.get(locale)
        return cat.messages.get(key) if cat else None

    def t(self, locale: str, key: str, **params: Any) -> str:
        """The message `key` in `locale` (falling back to English), formatted with `params`."""
        for loc in (locale, DEFAULT_LOCALE):
            cat = self.catalogs.get(loc)
            if cat is None:
                continue
            if key in cat.messages:
                return _format(cat.messages[key], params)
            if key in cat.plurals:
                return _format(cat.plurals[key][0], params)
        log.warning("missing catalog key %s", key)
        return key

    def tn(self, locale: str, key: str, n: int, **params: Any) -> str:
        """The plural form of `key` for count `n`; `{n}` is always available."""
        params.setdefault("n", n)
        for loc in (locale, DEFAULT_LOCALE):
            cat = self.catalogs.get(loc)
            if cat is None:
                continue
            if key in cat.plurals:
                forms = cat.plurals[key]
                index = int(cat.plural_index(n))
                return _format(forms[min(index, len(forms) - 1)], params)
            if key in cat.messages:
                return _format(cat.messages[key], params)
        log.warning("missing catalog key %s", key)
        return key


def _format(template: str, params: dict[str, Any]) -> str:
    # format_map with a tolerant dict: a translator's typo must not crash a reply to a grieving person.
    return template.format_map(_Missing(params))


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
