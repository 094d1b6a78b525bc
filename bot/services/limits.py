"""Per-person limits: a token-bucket message rate and an optional daily model-token quota.

Configured in the `[limits]` table:

    [limits]
    burst = 8             # messages a person may send at once
    per_minute = 6        # how fast the bucket refills (messages per minute)
    daily_tokens = 0      # model tokens per person per UTC day; 0 = no quota

A message judged to be a crisis is never limited: `check(person_id, crisis=True)` always passes
and costs nothing, because a person in danger must always get the crisis reply.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.errors import ConfigError, RateLimited, UserError
from bot.services.storage.usage import UsageStore

Clock = Callable[[], float]
# Buckets that have refilled completely carry no information; prune them past this many.
_PRUNE_AT = 10_000


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """The `[limits]` settings."""

    burst: int = 8
    per_minute: float = 6.0
    daily_tokens: int = 0

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> LimitsConfig:
        """Read `[limits]`; a bad value raises ConfigError naming it."""
        known = {"burst", "per_minute", "daily_tokens"}
        for key in section:
            if key not in known:
                raise ConfigError(f"[limits] {key}: unknown setting (known: {sorted(known)})")
        burst = _number(section.get("burst", 8), "burst", int)
        per_minute = _number(section.get("per_minute", 6.0), "per_minute", float)
        daily = _number(section.get("daily_tokens", 0), "daily_tokens", int)
        if burst < 1:
            raise ConfigError("[limits] burst: must be at least 1")
        if per_minute <= 0:
            raise ConfigError("[limits] per_minute: must be greater than zero")
        if daily < 0:
            raise ConfigError("[limits] daily_tokens: must be 0 (no quota) or more")
        return cls(int(burst), float(per_minute), int(daily))


def _number(value: Any, name: str, kind: type[int] | type[float]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"[limits] {name}: {value!r} is not a number")
    if kind is int and not float(value).is_integer():
        raise ConfigError(f"[limits] {name}: {value!r} must be a whole number")
    return float(value)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Limits:
    """Decides whether a person may start another model turn now."""

    def __init__(
        self,
        config: LimitsConfig,
        usage: UsageStore,
        *,
        clock: Clock = time.monotonic,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.config = config
        self.usage = usage
        self.clock = clock
        self.now = now
        self._buckets: dict[int, tuple[float, float]] = {}

    def _refill(self, person_id: int) -> float:
        tokens, last = self._buckets.get(person_id, (float(self.config.burst), self.clock()))
        now = self.clock()
        rate = self.config.per_minute / 60.0
        return min(float(self.config.burst), tokens + max(0.0, now - last) * rate)

    async def check(self, person_id: int, *, crisis: bool = False) -> None:
        """Take one message from the person's bucket, or raise a kind, localized refusal.

        Raises `RateLimited("reliability.rate_limited", seconds=…)` when the bucket is empty and
        `UserError("reliability.quota_reached", hours=…)` when today's tokens are spent.
        Crisis messages always pass and cost nothing.
        """
        if crisis:
            return
        if self.config.daily_tokens:
            now = self.now()
            start = datetime.combine(now.date(), datetime.min.time(), UTC)
            midnight = start + timedelta(days=1)
            spent = await self.usage.tokens(
                person_id, now.date().isoformat(), start.timestamp(), midnight.timestamp()
            )
            if spent >= self.config.daily_tokens:
                hours = max(1, math.ceil((midnight - now).total_seconds() / 3600))
                raise UserError("reliability.quota_reached", hours=hours)
        tokens = self._refill(person_id)
        if tokens < 1.0:
            wait = (1.0 - tokens) / (self.config.per_minute / 60.0)
            self._buckets[person_id] = (tokens, self.clock())
            raise RateLimited("reliability.rate_limited", seconds=max(1, math.ceil(wait)))
        self._buckets[person_id] = (tokens - 1.0, self.clock())
        if len(self._buckets) > _PRUNE_AT:
            self._prune()

    async def spend(self, person_id: int, tokens: int) -> int:
        """Count model tokens used outside companion replies (those are counted from history)."""
        return await self.usage.add(person_id, self.now().date().isoformat(), tokens)

    def _prune(self) -> None:
        full = [p for p in self._buckets if self._refill(p) >= self.config.burst]
        for person_id in full:
            del self._buckets[person_id]
