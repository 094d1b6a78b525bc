"""A circuit breaker per provider (safety-research F2).

closed ──(5 failures within 60 s)──▶ open ──(30 s later)──▶ half-open ──probe ok──▶ closed
                                       ▲                         │
                                       └──────probe failed───────┘

In half-open only one probe request runs at a time; a probe that never reports back (its task
was cancelled) stops blocking after another `reset_after` seconds.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from enum import Enum

log = logging.getLogger(__name__)


class BreakerState(Enum):
    """Where a breaker is in its state machine."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts failures of one provider and refuses calls while it is open."""

    def __init__(
        self,
        name: str,
        *,
        clock: Callable[[], float],
        failure_threshold: int = 5,
        window: float = 60.0,
        reset_after: float = 30.0,
    ) -> None:
        self.name = name
        self._clock = clock
        self._threshold = failure_threshold
        self._window = window
        self._reset_after = reset_after
        self._failures: deque[float] = deque()
        self._opened_at: float | None = None
        self._probe_started: float | None = None

    @property
    def state(self) -> BreakerState:
        """The current state, moving open → half-open when the wait is over."""
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self._reset_after:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        """Whether a request may go out now; in half-open this claims the single probe."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN:
            return False
        now = self._clock()
        if self._probe_started is not None and now - self._probe_started < self._reset_after:
            return False
        self._probe_started = now
        return True

    def record_success(self) -> None:
        """A request succeeded: close the breaker and forget past failures."""
        if self._opened_at is not None:
            log.info("breaker %s closed", self.name)
        self._failures.clear()
        self._opened_at = None
        self._probe_started = None

    def record_failure(self) -> None:
        """A request failed: open after `failure_threshold` failures inside `window`."""
        now = self._clock()
        if self._opened_at is not None:
            # A failed probe (or a late failure while open) restarts the wait.
            self._opened_at = now
            self._probe_started = None
            log.warning("breaker %s re-opened", self.name)
            return
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self._window:
            self._failures.popleft()
        if len(self._failures) >= self._threshold:
            self._opened_at = now
            self._failures.clear()
            log.warning("breaker %s opened", self.name)

    def trip(self) -> None:
        """Open the breaker by hand (operators, tests)."""
        self._opened_at = self._clock()
        self._probe_started = None
