"""The retries around the database and the e-mail provider, replaced by the student's.

The student writes `RetryBudget(requests_per_retry, max_banked)` and `Retrier(max_attempts,
base_ms, cap_ms, budget, rng)` whose `run(attempt, idempotent, wait)` tries a call, decides
after each failure whether to try again (never a write, never past the budget) and draws how
long to wait (capped exponential backoff with full jitter). Each dependency gets its own
Retrier and budget, made from the `resilience` switches: `max_attempts` is 1 + `retries`,
`base_ms` is `retry_backoff_ms`, and the cap is CAP_FACTOR times that. The jitter's random
numbers come from a generator seeded with the sandbox's seed, so a run is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox.plugs import PlugError, PlugPoint, need

if TYPE_CHECKING:
    from sandbox.mechanisms.resilience import Dependency
    from sandbox.runtime import Sandbox

CAP_FACTOR = 8.0  # the longest wait: 8 x the first (so at most three doublings)
REQUESTS_PER_RETRY = 10  # the budget: retries are at most a tenth of the calls...
MAX_BANKED = 10  # ...and a quiet spell banks at most this many for a later storm


class StudentRetries:
    """One dependency's retry runner: the student's Retrier, remade when the switches change,
    with counts for tests and the playground (calls, tries, the most tries one write took)."""

    def __init__(self, module: ModuleType, dependency: Dependency, seed: int) -> None:
        self.retrier_cls = need(module, "Retrier", "retry")
        self.budget_cls = need(module, "RetryBudget", "retry")
        self.dependency = dependency
        self.rng = random.Random(seed)
        self.made_with: tuple[int, float] | None = None
        self.impl: Any = None
        self.calls = 0
        self.tries = 0
        self.most_tries_of_a_write = 0
        self.waits_ms: list[float] = []

    def _student(self) -> Any:
        config = self.dependency.settings().resilience
        wanted = (1 + config.retries, config.retry_backoff_ms)
        if self.impl is None or wanted != self.made_with:
            self.made_with = wanted
            budget = self.budget_cls(REQUESTS_PER_RETRY, MAX_BANKED)
            self.impl = self.retrier_cls(wanted[0], wanted[1], wanted[1] * CAP_FACTOR, budget,
                                         self.rng)
        return self.impl

    def run(self, attempt: Callable[[], str], idempotent: bool,
            wait: Callable[[float], None]) -> bool:
        tries = 0
        answered_ok = False  # a True from run() counts only after a try that said "ok"

        def counted() -> str:
            nonlocal tries, answered_ok
            tries += 1
            if tries > 1 + self.dependency.settings().resilience.retries:
                raise PlugError(f"run() tried {tries} times; max_attempts allows "
                                f"{tries - 1}")
            outcome = attempt()
            answered_ok = answered_ok or outcome == "ok"
            return outcome

        def waited(ms: float) -> None:
            if not isinstance(ms, (int, float)) or not 0 <= ms <= 1e7:
                raise PlugError(f"wait() takes milliseconds, 0 or more; it was given {ms!r:.60}")
            self.waits_ms.append(float(ms))
            wait(float(ms))

        ok = self._student().run(counted, idempotent, waited)
        self.calls += 1
        self.tries += tries
        if not idempotent:
            self.most_tries_of_a_write = max(self.most_tries_of_a_write, tries)
        return ok is True and answered_ok


class StudentRetryPlug:
    """The part `install` returns: each dependency's runner, by name ("db", "email")."""

    def __init__(self, sb: Sandbox, module: ModuleType) -> None:
        self.by_dependency = {
            d.name: StudentRetries(module, d, sb.seed * 31 + i)
            for i, d in enumerate(_dependencies(sb))}


def _dependencies(sb: Sandbox) -> list[Dependency]:
    found = [sb.ctx.email, sb._db_guard]
    return [d for d in found if d is not None]


def _build(sb: Sandbox, module: ModuleType) -> Any:
    return StudentRetryPlug(sb, module)


def _attach(sb: Sandbox, part: Any) -> None:
    for dependency in _dependencies(sb):
        dependency.retry_runner = part.by_dependency[dependency.name]


POINT = PlugPoint("retry", "classes RetryBudget(requests_per_retry, max_banked) and "
                  "Retrier(max_attempts, base_ms, cap_ms, budget, rng) with run(attempt, "
                  "idempotent, wait)", _build, _attach)
