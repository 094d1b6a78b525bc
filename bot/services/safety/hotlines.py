"""Crisis lines from one data file (`hotlines.json`) and the rules that pick them for a person.

Region comes from the person's `/region` setting; without it, from the locale (A11):
- `zh-TW` → Taiwan lines, `zh-HK` → Hong Kong lines, `zh-Hant` (or a message written in
  Traditional characters, see `Care`) → both;
- any other Chinese locale → 12356 and the Beijing lines, plus a note that people abroad should call
  their local line (e.g. US 988, which offers Mandarin interpreters) — a zh-CN UI says nothing
  about where someone lives;
- English and everything else → US 988 and Samaritans 116 123.
Find A Helpline is always added.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).with_name("hotlines.json")
INTERNATIONAL = "INTL"
MAX_AGE_DAYS = 180
CHANNELS = frozenset({"call", "call_text", "landline", "mobile", "text", "web"})
HOURS = frozenset({"24h", "18h", "unlisted"})

_LOCALE_REGIONS: dict[str, tuple[str, ...]] = {
    "zh-tw": ("TW",), "zh-hk": ("HK",), "zh-hant-tw": ("TW",), "zh-hant-hk": ("HK",),
    "zh-mo": ("HK",),
    # Traditional script without a country (or a message written in it): Taiwan and Hong Kong.
    "zh-hant": ("TW", "HK"),
}
_DEFAULT_ZH = ("CN",)
_DEFAULT_EN = ("US", "GB")

Translate = Callable[..., str]


@dataclass(frozen=True)
class Hotline:
    """One crisis line as published; `verified_on` is when its number was last checked at the source."""

    id: str
    region: str
    name_en: str
    name_zh: str
    number: str
    channel: str
    hours: str
    source_url: str
    verified_on: date
    note_en: str = ""
    note_zh: str = ""

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en

    def note(self, lang: str) -> str:
        return self.note_zh if lang == "zh" else self.note_en


@dataclass(frozen=True)
class HotlinePlan:
    """The lines to show one person, in order, plus which extra notes apply."""

    region: str | None
    entries: tuple[Hotline, ...]
    overseas_note: bool
    unknown_region: bool


class HotlineBook:
    """All hotlines, loaded once at start-up; `plan()` picks the ones for a person."""

    def __init__(self, entries: tuple[Hotline, ...]) -> None:
        self._entries = entries

    @classmethod
    def load(cls, path: Path = DEFAULT_PATH) -> HotlineBook:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(tuple(_parse(item) for item in raw["entries"]))

    @property
    def entries(self) -> tuple[Hotline, ...]:
        return self._entries

    def regions(self) -> frozenset[str]:
        return frozenset(e.region for e in self._entries if e.region != INTERNATIONAL)

    def stale(self, today: date, max_age_days: int = MAX_AGE_DAYS) -> tuple[Hotline, ...]:
        """Entries without a source or checked longer than `max_age_days` ago."""
        return tuple(e for e in self._entries
                     if not e.source_url.startswith(("https://", "http://"))
                     or (today - e.verified_on).days > max_age_days)

    def plan(self, region: str | None, locale: str) -> HotlinePlan:
        """The lines for a person with `/region` = `region` (or None) and UI `locale`."""
        explicit = region.upper() if region else None
        lang = language_of(locale)
        if explicit:
            regions: tuple[str, ...] = (explicit,)
        elif (derived := _LOCALE_REGIONS.get(locale.replace("_", "-").lower())) is not None:
            regions = derived
        else:
            regions = _DEFAULT_ZH if lang == "zh" else _DEFAULT_EN
        local = tuple(e for r in regions for e in self._entries if e.region == r)
        intl = tuple(e for e in self._entries if e.region == INTERNATIONAL)
        return HotlinePlan(
            region=explicit or (regions[0] if len(regions) == 1 else None),
            entries=local + intl,
            overseas_note=explicit is None and regions == _DEFAULT_ZH,
            unknown_region=not local,
        )

    def short_line(self, plan: HotlinePlan, lang: str) -> str:
        """Numbers only, joined — for one-liners ("the numbers are still here: …")."""
        return " · ".join(f"{e.name(lang)} {e.number}" for e in plan.entries[:3])


def language_of(locale: str) -> str:
    """"zh" for any Chinese locale, otherwise "en" (hotline names exist in these two)."""
    return "zh" if locale.lower().startswith("zh") else "en"


def format_block(plan: HotlinePlan, lang: str, t: Translate) -> str:
    """The resource lines, one per hotline; `t(key, **kw)` is the person's translator."""
    lines = []
    for e in plan.entries:
        details = [t(f"care.hotline.channel.{e.channel}")]
        if e.hours != "unlisted":
            details.append(t(f"care.hotline.hours.{e.hours}"))
        if e.note(lang):
            details.append(e.note(lang))
        lines.append(t("care.hotline.line", name=e.name(lang), number=e.number,
                       details=t("care.hotline.separator").join(details)))
    if plan.overseas_note:
        lines.append(t("care.hotline.overseas"))
    if plan.unknown_region:
        lines.append(t("care.hotline.unknown_region"))
    return "\n".join(lines)


def _parse(item: dict[str, Any]) -> Hotline:
    channel, hours = str(item["channel"]), str(item["hours"])
    if channel not in CHANNELS or hours not in HOURS:
        raise ValueError(f"hotline {item.get('id')}: unknown channel or hours")
    return Hotline(
        id=str(item["id"]), region=str(item["region"]).upper(), name_en=str(item["name_en"]),
        name_zh=str(item["name_zh"]), number=str(item["number"]), channel=channel, hours=hours,
        source_url=str(item.get("source_url") or ""),
        verified_on=date.fromisoformat(str(item["verified_on"])),
        note_en=str(item.get("note_en", "")), note_zh=str(item.get("note_zh", "")),
    )
