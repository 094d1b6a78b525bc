"""Honesty about being an AI, time reminders, minors and exit words — all pure and offline.

- `IdentityDetector` spots "are you human / are you 4o / 你是真人吗 / 你是4o吗" so the bot can answer
  truthfully from the catalog instead of letting the persona improvise (B4).
- `DisclosureSchedule` is the timing state machine for the first-contact disclosure (B1), the
  start-of-interaction and every-3-hours reminder (B2) and the 2-hour break suggestion (B3). It takes
  the time as an argument, so tests drive it with a fake clock. Operators may shorten the
  intervals, never lengthen them past the legal ones or switch them off.
- `detect_minor` finds a self-declared age under 18 (B5); `ExitWords` matches /stop, 再见, bye, 退出 (B6).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import Enum
from types import MappingProxyType

from bot.core.errors import ConfigError
from bot.services.safety.normalize import TextNormalizer


class Identity(Enum):
    """What the person asked about the bot's identity."""

    HUMAN = "human"
    """Are you a real person / a human / 真人?"""
    MODEL = "model"
    """Are you GPT-4o / ChatGPT / OpenAI / 4o itself?"""


_IDENTITY_EN: tuple[tuple[Identity, str], ...] = (
    (Identity.MODEL, r"\b(?:are you|r you|is this|am i (?:talking|speaking|chatting) (?:to|with)|you are|you're)\s"
                     r"(?:really |actually |still |the real |real )?(?:gpt-?4o|4o|gpt-?4|gpt|chatgpt|chat gpt|"
                     r"openai|an openai model|the old 4o|my 4o)\b"),
    (Identity.MODEL, r"\b(?:is that|is it) (?:really )?(?:you|4o),? (?:4o|gpt-?4o)\b"),
    (Identity.MODEL, r"\bwhat (?:model|ai|llm) are you\b|\bwhich model (?:are you|is this)\b"),
    (Identity.HUMAN, r"\b(?:are you|r you|is this|am i (?:talking|speaking|chatting) (?:to|with))\s"
                     r"(?:a |an )?(?:real |actual |living |live )?(?:human|person|people|man|woman|guy|girl|"
                     r"bot|robot|ai|machine|program|computer)\b"),
    (Identity.HUMAN, r"\bare you (?:real|alive|conscious|sentient)\b"),
    (Identity.HUMAN, r"\bis (?:there|this) a (?:real )?(?:person|human) (?:behind|on the other side|typing)\b"),
)
_IDENTITY_ZH: tuple[tuple[Identity, str], ...] = (
    (Identity.MODEL, r"你(?:是|是不是|就是|还是|真的是)(?:真的)?(?:gpt-?4o|4o|gpt|chatgpt|openai|原来的4o|那个4o|我的4o)"),
    (Identity.MODEL, r"你(?:是|用的是)(?:什么|哪个|哪一个)(?:模型|ai)"),
    (Identity.HUMAN, r"你(?:是|是不是|到底是|真的是)(?:一个)?(?:真人|人类|活人|真的人|机器人|ai|人工智能|程序|机器)"),
    (Identity.HUMAN, r"(?:对面|屏幕后面|后面)(?:是|有)(?:真人|人)|是真人(?:吗|吧|嘛|么)|你是人(?:吗|嘛|么)|你是真的吗"),
)


class IdentityDetector:
    """Finds questions about what the bot is; the answer always comes from the catalog."""

    ANSWER_KEYS: Mapping[Identity, str] = MappingProxyType(
        {Identity.HUMAN: "care.identity.human", Identity.MODEL: "care.identity.model"})

    def __init__(self, normalizer: TextNormalizer) -> None:
        self._normalizer = normalizer
        self._en = tuple((kind, re.compile(p)) for kind, p in _IDENTITY_EN)
        self._zh = tuple((kind, re.compile(p)) for kind, p in _IDENTITY_ZH)

    def detect(self, text: str) -> Identity | None:
        norm = self._normalizer.normalize(text)
        for kind, pattern in self._en:
            if pattern.search(norm.en):
                return kind
        for kind, pattern in self._zh:
            if pattern.search(norm.zh):
                return kind
        return None


# --- disclosure, reminders, breaks -----------------------------------------------------------

LEGAL_MAX_REMINDER = timedelta(hours=3)
LEGAL_MAX_BREAK = timedelta(hours=2)


@dataclass(frozen=True)
class HonestyConfig:
    """Timing knobs. Operators may tune them shorter; longer than the law allows is refused."""

    session_gap: timedelta = timedelta(minutes=30)
    reminder_every: timedelta = LEGAL_MAX_REMINDER
    break_after: timedelta = LEGAL_MAX_BREAK

    def __post_init__(self) -> None:
        if not timedelta(minutes=5) <= self.session_gap <= timedelta(hours=12):
            raise ConfigError("care.session_gap_minutes must be between 5 and 720")
        if not timedelta(minutes=5) <= self.reminder_every <= LEGAL_MAX_REMINDER:
            raise ConfigError("care.reminder_every_minutes must be between 5 and 180")
        if not timedelta(minutes=5) <= self.break_after <= LEGAL_MAX_BREAK:
            raise ConfigError("care.break_after_minutes must be between 5 and 120")


class Notice(Enum):
    """A line the bot adds before its reply."""

    FIRST_CONTACT = "care.disclosure.first"
    SESSION_START = "care.disclosure.start"
    PERIODIC = "care.disclosure.periodic"
    BREAK = "care.break.suggest"
    MINOR_PERIODIC = "care.minor.periodic"


@dataclass(frozen=True)
class DisclosureState:
    """Per-person timestamps (UTC); what the care repository persists."""

    first_seen_at: datetime | None = None
    last_message_at: datetime | None = None
    session_started_at: datetime | None = None
    last_disclosure_at: datetime | None = None
    start_notice_on: date | None = None
    last_break_at: datetime | None = None


class DisclosureSchedule:
    """Decides which notices go with a message at time `now`; returns them and the new state.

    - First message ever → FIRST_CONTACT (the full disclosure).
    - A gap ≥ `session_gap` starts a new interaction → SESSION_START, at most once per UTC day.
    - Within an interaction, `reminder_every` after the last disclosure → PERIODIC (minors get
      MINOR_PERIODIC, a combined break + AI reminder).
    - `break_after` into an interaction, and again every `break_after` → BREAK (adults only; the
      minor reminder already carries the break). Nothing here ever blocks the reply.
    """

    def __init__(self, config: HonestyConfig | None = None) -> None:
        self._config = config or HonestyConfig()

    @property
    def config(self) -> HonestyConfig:
        return self._config

    def on_message(self, state: DisclosureState, now: datetime, *, minor: bool = False
                   ) -> tuple[tuple[Notice, ...], DisclosureState]:
        cfg = self._config
        notices: list[Notice] = []
        if state.first_seen_at is None or state.last_message_at is None:
            new = DisclosureState(first_seen_at=now, last_message_at=now, session_started_at=now,
                                  last_disclosure_at=now, start_notice_on=now.date())
            return (Notice.FIRST_CONTACT,), new
        session_start = state.session_started_at or now
        last_disclosure = state.last_disclosure_at
        start_notice_on = state.start_notice_on
        last_break = state.last_break_at
        if now - state.last_message_at >= cfg.session_gap:
            session_start = now
            if start_notice_on != now.date():
                notices.append(Notice.SESSION_START)
                start_notice_on = now.date()
                last_disclosure = now
        else:
            since = max(session_start, last_disclosure) if last_disclosure else session_start
            if now - since >= cfg.reminder_every:
                notices.append(Notice.MINOR_PERIODIC if minor else Notice.PERIODIC)
                last_disclosure = now
            break_from = max(session_start, last_break) if last_break else session_start
            if not minor and now - break_from >= cfg.break_after:
                notices.append(Notice.BREAK)
                last_break = now
        new_state = replace(state, last_message_at=now, session_started_at=session_start,
                            last_disclosure_at=last_disclosure, start_notice_on=start_notice_on,
                            last_break_at=last_break)
        return tuple(notices), new_state


# --- minors and exit -----------------------------------------------------------------------

_MINOR_EN = re.compile(
    r"\b(?:i am|i'm|im)\s(?:only |just |still )?(?:(1[0-7]|[5-9])(?:\s?(?:years? old|yrs? old|yo|y/o|"
    r"years?))?(?=\s*(?:[.!?,;:)]|$|\s(?:and|but|so|btw|lol|years?|yo)\b))|under ?(?:18|age|aged)|a minor|"
    r"underage|not 18 yet|not an adult)\b")
_MINOR_ZH = re.compile(r"我(?:今年|才|只有|还)?(?:(1[0-7]|[5-9]|十[一二三四五六七]?|[五六七八九])(?:周)?岁(?!的时候|那年|时)|"
                       r"(?:是)?未成年(?:人)?|还没(?:有)?成年|不满(?:18|十八)(?:周)?岁|是(?:初中|小学)生)")


def detect_minor(text: str, normalizer: TextNormalizer) -> bool:
    """True when the person says they are under 18 ("I'm 15", "我未成年", "我才16岁")."""
    norm = normalizer.normalize(text)
    return bool(_MINOR_EN.search(norm.en) or _MINOR_ZH.search(norm.zh))


_TRAILING = re.compile(r"[\s!！.。~～…,，?？:：;；\-—]+$|(?<=[\u4e00-\u9fff])[啦了咯喽哦呀吧啊]+$")
DEFAULT_EXIT_WORDS = ("/stop", "stop", "bye", "goodbye", "bye bye", "exit", "quit", "再见", "拜拜", "退出", "结束")


class ExitWords:
    """Exact-message exit words (configurable); "bye for now, talk tomorrow" is not an exit."""

    def __init__(self, normalizer: TextNormalizer, words: tuple[str, ...] = DEFAULT_EXIT_WORDS) -> None:
        self._normalizer = normalizer
        self._words = frozenset(self._fold(w) for w in words if w.strip())

    def _fold(self, text: str) -> str:
        folded = self._normalizer.to_simplified(text.strip().casefold())
        previous = None
        while previous != folded:
            previous, folded = folded, _TRAILING.sub("", folded).strip()
        return folded

    def matches(self, text: str) -> bool:
        return self._fold(text) in self._words
