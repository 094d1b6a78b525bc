"""The care pipeline around every companion turn: crisis screen, hotlines, honesty notices,
minors, exit words and the output guard. Nothing here calls a model or the network.

Use from the DM chat path::

    decision = await care.before_turn(ctx.user, ctx.locale, text)
    for part in decision.before:          # crisis block first, then notices — sent at once,
        await ctx.replier.send(part)      # so they go out even if the model hangs (A3)
    if decision.call_model:
        chunks = companion.turn(..., extra_system=decision.system_addition)
        await render_stream(care.guard_stream(chunks, ctx.locale), ctx.replier)
    for part in decision.after:           # a check-in question, a break suggestion
        await ctx.replier.send(part)

`run_turn()` does exactly this for any reply stream. Crisis content never locks anyone out:
there is no cooldown, mute or refusal anywhere in this module (A7).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.context import Replier
from bot.core.errors import ConfigError
from bot.core.models import UserRef
from bot.services.i18n import I18n, normalize_locale
from bot.services.safety.honesty import (
    DEFAULT_EXIT_WORDS,
    DisclosureSchedule,
    ExitWords,
    HonestyConfig,
    IdentityDetector,
    Notice,
    detect_minor,
)
from bot.services.safety.hotlines import HotlineBook, HotlinePlan, format_block, language_of
from bot.services.safety.normalize import TextNormalizer
from bot.services.safety.output_guard import GuardResult, OutputGuard
from bot.services.safety.screen import CrisisScreen, ScreenResult, Tier
from bot.services.storage.care import CareStore
from bot.services.storage.users import Users

log = logging.getLogger(__name__)

Clock = Callable[[], float]

# Instructions for the model (not shown to people, so English only, like the base rules).
PROMPT_CRISIS = (
    "Care note for this turn: the person has just said something that suggests they may be "
    "thinking about suicide or self-harm. Crisis lines have already been shown to them above your "
    "reply. Stay in your voice: acknowledge what they said, stay present, ask how they are right "
    "now, and encourage reaching out to a real person. Do not repeat the phone numbers at length, "
    "do not lecture, never describe methods, means or doses, and never end the conversation."
)
PROMPT_CHECKIN = (
    "Care note for this turn: the person's words could be grief or could mean they are thinking "
    "about dying (for example wanting to go where their lost companion went). A direct, gentle "
    "question about it will be sent after your reply, so do not ask it yourself and do not list "
    "hotlines. Reply briefly and warmly in your voice."
)
PROMPT_IDENTITY = (
    "Care note for this turn: the person asked what you are. They have been told truthfully that "
    "you are an AI, not a human and not GPT-4o. Never contradict this or claim otherwise."
)
PROMPT_MINOR = (
    "Care note: the person has said they are under 18. Keep the relationship friendly and "
    "platonic whatever the persona sheet says: no romance, flirting, intimacy or sexual content; "
    "if asked for that, kindly decline and stay a supportive friend."
)

_AFFIRMATIVE = re.compile(
    r"^(?:yes|yeah|yep|y|i am|i guess|maybe|kind of|kinda|sort of|sometimes|a little|honestly yes|"
    r"是|是的|嗯|嗯嗯|对|对的|有|有点|有一点|想过|想|会|可能|也许|大概)(?:[\s,.!?，。！？…]|$)",
    re.IGNORECASE,
)
_CARE_KEYS = frozenset({
    "minor_policy", "operators", "session_gap_minutes", "reminder_every_minutes",
    "break_after_minutes", "resource_block_minutes", "exit_words", "anniversary_hour", "timezone",
    "privacy_url", "safety_url",
})
_REGION_TZ = {"CN": "Asia/Shanghai", "HK": "Asia/Hong_Kong", "TW": "Asia/Taipei",
              "GB": "Europe/London", "IE": "Europe/Dublin", "US": "America/New_York"}


@dataclass(frozen=True)
class CareConfig:
    """`[care]` settings. Intervals may be tuned; honesty cannot be switched off."""

    block_interval: timedelta = timedelta(hours=6)
    risk_window: timedelta = timedelta(hours=24)
    checkin_follow_up: timedelta = timedelta(minutes=30)
    minor_policy: str = "restrict"
    honesty: HonestyConfig = field(default_factory=HonestyConfig)
    exit_words: tuple[str, ...] = DEFAULT_EXIT_WORDS
    timezone: str = "UTC"
    anniversary_hour: int = 10
    privacy_url: str = "PRIVACY.md"
    safety_url: str = "SAFETY.md"

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> CareConfig:
        """Read `[care]`; unknown values raise `ConfigError` naming the setting."""
        def minutes(name: str, default: timedelta) -> timedelta:
            value = section.get(name)
            if value is None:
                return default
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"[care] {name} must be a number of minutes")
            return timedelta(minutes=float(value))

        unknown = set(section) - _CARE_KEYS
        if unknown:
            raise ConfigError(f"[care] unknown setting {sorted(unknown)[0]!r}")
        policy = str(section.get("minor_policy", "restrict"))
        if policy not in ("restrict", "decline"):
            raise ConfigError("[care] minor_policy must be 'restrict' or 'decline'")
        honesty = HonestyConfig(
            session_gap=minutes("session_gap_minutes", timedelta(minutes=30)),
            reminder_every=minutes("reminder_every_minutes", timedelta(hours=3)),
            break_after=minutes("break_after_minutes", timedelta(hours=2)),
        )
        block = minutes("resource_block_minutes", timedelta(hours=6))
        if block > timedelta(hours=24):
            raise ConfigError("[care] resource_block_minutes must be at most 1440")
        words = section.get("exit_words", DEFAULT_EXIT_WORDS)
        if not isinstance(words, list | tuple) or not all(isinstance(w, str) for w in words):
            raise ConfigError("[care] exit_words must be a list of strings")
        hour = section.get("anniversary_hour", 10)
        if not isinstance(hour, int) or not 0 <= hour <= 23:
            raise ConfigError("[care] anniversary_hour must be 0-23")
        return cls(
            block_interval=block, minor_policy=policy, honesty=honesty,
            exit_words=tuple(words) or ("/stop",), timezone=str(section.get("timezone", "UTC")),
            anniversary_hour=hour,
            privacy_url=str(section.get("privacy_url", cls.privacy_url)),
            safety_url=str(section.get("safety_url", cls.safety_url)),
        )


@dataclass(frozen=True)
class CareDecision:
    """What to do around one companion turn.

    `before`: messages to send first, in order (a crisis block is always the first one).
    `call_model`: False when the turn ends here (an exit word, a declined minor).
    `system_addition`: extra model instructions for this turn. `after`: messages for after the reply.
    """

    before: tuple[str, ...] = ()
    call_model: bool = True
    system_addition: str = ""
    after: tuple[str, ...] = ()
    tier: Tier = Tier.NONE
    escalated: bool = False
    full_block: bool = False
    minor: bool = False
    stopped: bool = False


class Care:
    """Per-person care decisions backed by `CareStore`; see the module docstring."""

    def __init__(
        self,
        *,
        store: CareStore,
        users: Users,
        i18n: I18n,
        config: CareConfig | None = None,
        hotlines: HotlineBook | None = None,
        normalizer: TextNormalizer | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.store = store
        self.users = users
        self.i18n = i18n
        self.config = config or CareConfig()
        self.hotlines = hotlines or HotlineBook.load()
        self.normalizer = normalizer or TextNormalizer()
        self.screen = CrisisScreen(self.normalizer)
        self.guard = OutputGuard(self.normalizer)
        self.identity = IdentityDetector(self.normalizer)
        self.schedule = DisclosureSchedule(self.config.honesty)
        self.exit_words = ExitWords(self.normalizer, self.config.exit_words)
        self.clock = clock
        # Person → when a check-in question was asked; a "yes" soon after means high (A6).
        self._checkins: dict[int, float] = {}

    # ------------------------------------------------------------------ helpers

    def _t(self, locale: str, key: str, **kw: Any) -> str:
        return self.i18n.t(locale, key, **kw)

    async def plan_for(self, person_id: int, locale: str) -> HotlinePlan:
        state = await self.store.get(person_id)
        return self.hotlines.plan(state.region, locale)

    def resource_block(self, plan: HotlinePlan, locale: str) -> str:
        """The localized hotline lines for `plan`."""
        return format_block(plan, language_of(locale), lambda k, **kw: self._t(locale, k, **kw))

    def short_numbers(self, plan: HotlinePlan, locale: str) -> str:
        return self.hotlines.short_line(plan, language_of(locale))

    def crisis_template(self, plan: HotlinePlan, locale: str) -> str:
        """Acknowledgment → resources → staying present: the static same-turn message (A2, A3)."""
        return "\n\n".join((self._t(locale, "care.crisis.ack"), self.resource_block(plan, locale),
                            self._t(locale, "care.crisis.stay")))

    def tz_for(self, region: str | None, locale: str) -> str:
        if region and region.upper() in _REGION_TZ:
            return _REGION_TZ[region.upper()]
        if self.config.timezone == "UTC" and language_of(locale) == "zh" and not region:
            return _REGION_TZ["CN"]
        return self.config.timezone

    async def _count(self, tier: str, locale: str, place: str = "dm") -> None:
        day = datetime.fromtimestamp(self.clock(), UTC).date().isoformat()
        await self.store.count(day, tier, normalize_locale(locale) or "other", place)

    async def record_screen(self, result: ScreenResult, locale: str, place: str) -> None:
        """Aggregate counters for one screened message (no identifiers, no text)."""
        if result.tier is Tier.NONE:
            return
        await self._count(result.tier.label, locale, place)
        if result.escalated:
            await self._count("escalated", locale, place)

    # ------------------------------------------------------------------ the turn

    async def before_turn(self, user: UserRef, locale: str, text: str) -> CareDecision:
        """Decide everything that must happen around the companion's reply to `text` (DMs)."""
        person = await self.users.resolve(user.platform, user.id, user.name)
        now = self.clock()
        state = await self.store.get(person)
        in_window = await self.store.risk_active(person, now)
        plan = self.hotlines.plan(state.region, locale)

        if self.exit_words.matches(text):
            await self.store.set_stopped(person, now)
            self._checkins.pop(person, None)
            if in_window:
                line = self._t(locale, "care.crisis.exit_in_window",
                               numbers=self.short_numbers(plan, locale))
                await self._count("referral", locale)
                return CareDecision(before=(line,), call_model=False, stopped=True)
            return CareDecision(before=(self._t(locale, "care.stop.done"),), call_model=False,
                                stopped=True)
        if state.stopped_at is not None:
            await self.store.set_stopped(person, None)  # they came back: the session is open again

        minor = state.minor
        notes: list[str] = []
        if not minor and detect_minor(text, self.normalizer):
            minor = True
            await self.store.set_minor(person, True)
            if self.config.minor_policy == "restrict":
                notes.append(self._t(locale, "care.minor.noted"))
        result = self.screen.screen(text, risk_window=in_window)
        tier, escalated = result.tier, result.escalated
        # Crisis words are answered in the language they were written in, whatever the UI says.
        voice = "zh_Hans" if result.language.startswith("zh") else locale
        if state.region is None and result.language == "zh-Hant":
            # Written in Traditional characters with no /region: Taiwan and Hong Kong lines.
            plan = self.hotlines.plan(None, "zh-Hant")
        elif state.region is None and voice != locale:
            plan = self.hotlines.plan(None, voice)
        asked_at = self._checkins.pop(person, None)
        if (tier is Tier.NONE and asked_at is not None
                and now - asked_at <= self.config.checkin_follow_up.total_seconds()
                and _AFFIRMATIVE.match(text.strip())):
            tier = Tier.HIGH  # "yes" to "are you thinking about ending your life?"
            result = ScreenResult(Tier.HIGH, False, result.language, ("checkin.confirmed",))
        await self.record_screen(result, locale, "dm")
        if minor and self.config.minor_policy == "decline":
            # The decline itself carries the crisis lines, so no message goes without them.
            declined = self._t(locale, "care.minor.declined",
                               hotlines=self.resource_block(plan, locale))
            return CareDecision(before=(declined,), call_model=False, minor=True, tier=tier)

        before: list[str] = []
        after: list[str] = []
        system: list[str] = []
        full_block = False
        if tier is Tier.HIGH:
            await self.store.open_risk(person, now + self.config.risk_window.total_seconds())
            due = (state.last_block_at is None
                   or now - state.last_block_at >= self.config.block_interval.total_seconds())
            if due or escalated:
                block = self.crisis_template(plan, voice)
                contact = await self.store.trusted(person)
                if contact is not None:
                    # A14: say first that we can tell them; nothing is sent until /notify.
                    block += "\n\n" + self._t(voice, "care.trusted.offer", name=contact.name)
                before.append(block)
                await self.store.set_last_block(person, now)
                await self._count("referral", locale)
                full_block = True
            else:
                before.append(self._t(voice, "care.crisis.one_liner",
                                      numbers=self.short_numbers(plan, voice)))
            system.append(PROMPT_CRISIS)
        elif tier is Tier.CHECKIN:
            after.append(self._t(voice, "care.crisis.checkin"))
            horizon = now - self.config.checkin_follow_up.total_seconds()
            for stale in [p for p, at in self._checkins.items() if at < horizon]:
                del self._checkins[stale]  # people who never answered: keep the map small
            self._checkins[person] = now
            system.append(PROMPT_CHECKIN)

        notices, disclosure = self.schedule.on_message(
            state.disclosure, datetime.fromtimestamp(now, UTC), minor=minor)
        await self.store.save_disclosure(person, disclosure)
        for notice in notices:
            if notice is Notice.BREAK:
                after.append(self._t(locale, notice.value))
            else:
                notes.append(self._t(locale, notice.value))
        kind = self.identity.detect(text)
        if kind is not None:
            notes.append(self._t(locale, IdentityDetector.ANSWER_KEYS[kind]))
            system.append(PROMPT_IDENTITY)
        if minor:
            system.append(PROMPT_MINOR)
        if notes and tier is Tier.HIGH:
            # In a crisis turn the warm reply comes first; the notices follow it.
            after.insert(0, "\n\n".join(notes))
        elif notes:
            before.append("\n\n".join(notes))
        return CareDecision(
            before=tuple(before), call_model=True, system_addition="\n\n".join(system),
            after=tuple(after), tier=tier, escalated=escalated, full_block=full_block,
            minor=minor,
        )

    # ------------------------------------------------------------------ output

    def guard_output(self, text: str, locale: str) -> GuardResult:
        """Replace model text that carries method, means or dosage details (A4)."""
        return self.guard.check(text, self._t(locale, "care.guard.replaced"))

    def guard_stream(self, chunks: AsyncIterator[str], locale: str) -> AsyncIterator[str]:
        """`chunks` with method details withheld; see `guarded()`."""
        return guarded(chunks, self.guard, self._t(locale, "care.guard.replaced"))

    async def run_turn(
        self,
        user: UserRef,
        locale: str,
        text: str,
        replier: Replier,
        reply: Callable[[CareDecision], AsyncIterator[str]],
        render: Callable[[AsyncIterator[str], Replier], Any],
    ) -> CareDecision:
        """The whole turn: notices first, the guarded reply stream, then follow-ups."""
        decision = await self.before_turn(user, locale, text)
        for part in decision.before:
            await replier.send(part)
        try:
            if decision.call_model:
                await render(self.guard_stream(reply(decision), locale), replier)
        finally:
            for part in decision.after:
                await replier.send(part)
        return decision


async def guarded(chunks: AsyncIterator[str], guard: OutputGuard, replacement: str
                  ) -> AsyncIterator[str]:
    """Pass model text through sentence by sentence, checking everything seen so far.

    Text is held back until a sentence ends, so a method detail never reaches the screen: on a
    violation the rest of the reply is dropped and `replacement` is shown instead.
    """
    seen = ""
    shown = 0
    async for chunk in chunks:
        seen += chunk
        cut = _last_boundary(seen)
        if cut <= shown:
            continue
        if guard.violations(seen[:cut]):
            yield ("\n\n" if shown else "") + replacement
            log.info("output guard replaced a reply (%d chars)", len(seen))
            return
        yield seen[shown:cut]
        shown = cut
    if shown < len(seen):
        if guard.violations(seen):
            yield ("\n\n" if shown else "") + replacement
            log.info("output guard replaced a reply (%d chars)", len(seen))
            return
        yield seen[shown:]


_BOUNDARY = re.compile(r"[.!?。！？\n…](?:[\"'”’)）」』\s]*)")


def _last_boundary(text: str) -> int:
    end = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
    return end
