"""Designing for failure: timeouts, retries with backoff, and a circuit breaker.

Every call to a dependency (the database, the e-mail provider) can be slow or fail. Three
defences, each a few lines:

- a **timeout** bounds how long one attempt may take: a hung dependency costs at most
  `resilience.timeout_ms`, not forever;
- **retries** with a doubling backoff ride out brief failures, and make a struggling
  dependency's load worse, which is why they are few and spaced out;
- a **circuit breaker** stops calling a dependency that keeps failing. After
  `resilience.breaker_threshold` failures in a row it *opens*: calls fail at once, without
  waiting for a timeout, and the dependency gets room to recover. After
  `resilience.breaker_reset_s` it lets one trial call through (*half-open*): success closes it,
  failure opens it again.

A dependency makes its breaker with `Dependency.make_breaker`, so another implementation of
the `Breaker` protocol (a student's, through `sandbox.plugs`) can take the built-in one's place.

Dependencies here are simulated: `Dependency.attempt` draws the outcome of one call (its
latency and whether it fails) from the faults the learner set, on the simulated clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from sandbox import tracing
from sandbox.clock import SimClock
from sandbox.errors import SandboxError
from sandbox.settings import Settings

T = TypeVar("T")


class DependencyFailed(SandboxError):
    """A dependency call failed, timed out, or was refused by an open breaker."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.dependency = name
        self.reason = reason


class Breaker(Protocol):
    """What a dependency needs of its circuit breaker.

    `allow()` is asked before each call (False: fail fast without calling); the call's outcome
    is then reported with `succeeded()` or `failed()`. `state` is "closed", "open" or
    "half_open". `threshold` and `reset_ms` are the settings it was made with.
    """

    threshold: int
    reset_ms: float

    @property
    def state(self) -> str: ...

    def allow(self) -> bool: ...

    def succeeded(self) -> None: ...

    def failed(self) -> None: ...


BreakerFactory = Callable[[SimClock, int, float], Breaker]
"""Makes a breaker from (clock, threshold, reset_ms)."""


class RetryRunner(Protocol):
    """Decides a dependency call's retries in place of the built-in loop (a student's, through
    `sandbox.plugs.retry`).

    `run(attempt, idempotent, wait)` calls `attempt()` (one try: it answers "ok", "failed",
    "timed_out", or "refused" when the breaker said no), waits `wait(ms)` between tries, and
    returns True once a try answered "ok", False when it gave up. `idempotent` is False for a
    call that must not be repeated blindly (a database write).
    """

    def run(self, attempt: Callable[[], str], idempotent: bool,
            wait: Callable[[float], None]) -> bool: ...


class CircuitBreaker:
    """Closed (calls go through), open (calls fail at once), half-open (one trial call)."""

    def __init__(self, clock: SimClock, threshold: int, reset_ms: float) -> None:
        self.clock = clock
        self.threshold = threshold
        self.reset_ms = reset_ms
        self.state = "closed"
        self.failures = 0  # in a row
        self.opened_at = 0.0
        self.opened = 0  # how many times it has opened (for metrics)
        self._trial_out = False  # half-open: the one trial call is under way

    def allow(self) -> bool:
        if self.state == "open" and self.clock.now_ms - self.opened_at >= self.reset_ms:
            self.state = "half_open"  # time to find out whether the dependency is back
            self._trial_out = False
        if self.state == "half_open":
            # One trial at a time: a dependency that is still down gets one call, not a crowd.
            if self._trial_out:
                return False
            self._trial_out = True
            return True
        return self.state == "closed"

    def succeeded(self) -> None:
        self.state, self.failures, self._trial_out = "closed", 0, False

    def failed(self) -> None:
        self._trial_out = False
        self.failures += 1
        if self.state == "half_open" or self.failures >= self.threshold:
            if self.state != "open":
                self.opened += 1
            self.state, self.opened_at = "open", self.clock.now_ms


@dataclass
class Dependency:
    """Something the app calls across the network, with its normal latency.

    Args:
        name: "db", "email", ... (matches `faults.hop`).
        latency_ms: a normal call's duration.
    """

    name: str
    latency_ms: float
    clock: SimClock
    settings: Callable[[], Settings]
    rng: random.Random
    breaker: Breaker | None = None
    make_breaker: BreakerFactory = CircuitBreaker
    retry_runner: RetryRunner | None = None  # None: the built-in loop in `call`

    def _breaker(self) -> Breaker | None:
        config = self.settings().resilience
        if not config.breaker:
            return None
        if (self.breaker is None or self.breaker.threshold != config.breaker_threshold
                or self.breaker.reset_ms != config.breaker_reset_s * 1000.0):
            self.breaker = self.make_breaker(self.clock, config.breaker_threshold,
                                             config.breaker_reset_s * 1000.0)
        return self.breaker

    def attempt(self) -> tuple[float, bool]:
        """One call's simulated (latency in ms, failed?) under the current faults."""
        faults = self.settings().faults
        latency = self.latency_ms * (0.8 + 0.4 * self.rng.random())
        failed = False
        if faults.hop == self.name:
            latency += faults.hop_latency_ms
            failed = self.rng.random() < faults.hop_error_rate
        return latency, failed

    def call(self, action: Callable[[], T], idempotent: bool = True) -> T:
        """Run `action` as a call to this dependency, with timeout, retries and breaker.
        (`idempotent=False`: repeating it could do it twice; a plugged retry runner is told.)"""
        if self.retry_runner is not None:
            return self._call_with_runner(self.retry_runner, action, idempotent)
        config = self.settings().resilience
        breaker = self._breaker()
        attempts = 1 + config.retries
        with tracing.span(f"{self.name}.call", "service") as span:
            for attempt in range(1, attempts + 1):
                if breaker is not None and not breaker.allow():
                    span.attrs["breaker"] = "open"
                    tracing.count(f"{self.name}.breaker_rejected")
                    raise DependencyFailed(self.name, "circuit open: failing fast")
                latency, failed = self.attempt()
                timed_out = latency > config.timeout_ms
                tracing.work(min(latency, config.timeout_ms))  # the caller waits this long
                if not failed and not timed_out:
                    if breaker is not None:
                        breaker.succeeded()
                    span.attrs["attempts"] = attempt
                    return action()
                if breaker is not None:
                    breaker.failed()
                tracing.count(f"{self.name}.failures")
                reason = "timed out" if timed_out else "failed"
                span.attrs["last_error"] = reason
                if attempt < attempts:
                    tracing.work(config.retry_backoff_ms * 2 ** (attempt - 1))
            span.attrs["attempts"] = attempts
            raise DependencyFailed(self.name, f"{reason} after {attempts} attempt(s)")

    def _call_with_runner(self, runner: RetryRunner, action: Callable[[], T],
                          idempotent: bool) -> T:
        """`call` with a plugged runner deciding whether and when to try again: each try is
        timed, traced and reported to the breaker as in the built-in loop."""
        config = self.settings().resilience
        breaker = self._breaker()
        tries = 0
        with tracing.span(f"{self.name}.call", "service") as span:

            def attempt() -> str:
                nonlocal tries
                tries += 1
                if breaker is not None and not breaker.allow():
                    span.attrs["breaker"] = "open"
                    tracing.count(f"{self.name}.breaker_rejected")
                    return "refused"
                latency, failed = self.attempt()
                timed_out = latency > config.timeout_ms
                tracing.work(min(latency, config.timeout_ms))
                if not failed and not timed_out:
                    if breaker is not None:
                        breaker.succeeded()
                    return "ok"
                if breaker is not None:
                    breaker.failed()
                tracing.count(f"{self.name}.failures")
                span.attrs["last_error"] = reason = "timed_out" if timed_out else "failed"
                return reason

            ok = runner.run(attempt, idempotent, lambda ms: tracing.work(max(0.0, float(ms))))
            span.attrs["attempts"] = tries
            tracing.count(f"{self.name}.attempts", tries)
            if ok is not True:
                raise DependencyFailed(self.name, f"gave up after {tries} attempt(s)")
            return action()
