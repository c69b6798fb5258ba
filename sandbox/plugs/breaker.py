"""The circuit breaker around the database and the e-mail provider, replaced by the student's."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox.clock import SimClock
from sandbox.mechanisms.resilience import Breaker, Dependency
from sandbox.plugs import PlugError, PlugPoint, need

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


class StudentBreaker:
    """Adapts a student's `CircuitBreaker(threshold, reset_ms)`, whose methods take the
    simulated time (`allow(now_ms)`, `record_success(now_ms)`, `record_failure(now_ms)`), to
    the `Breaker` a dependency asks, which reads time from the sandbox's clock."""

    def __init__(self, cls: Any, clock: SimClock, threshold: int, reset_ms: float) -> None:
        self.clock = clock
        self.threshold = threshold
        self.reset_ms = reset_ms
        self.impl = cls(threshold, reset_ms)

    @property
    def state(self) -> str:
        return str(getattr(self.impl, "state", "?"))

    def allow(self) -> bool:
        answer = self.impl.allow(self.clock.now_ms)
        if not isinstance(answer, bool):
            raise PlugError(f"allow(now_ms) must return True or False; it returned {answer!r}")
        return answer

    def succeeded(self) -> None:
        self.impl.record_success(self.clock.now_ms)

    def failed(self) -> None:
        self.impl.record_failure(self.clock.now_ms)


class StudentBreakerFactory:
    """Makes a `StudentBreaker` wherever a dependency would make the sandbox's own."""

    def __init__(self, cls: Any) -> None:
        self.cls = cls
        self.made: list[StudentBreaker] = []  # every breaker made, for tests to look at

    def __call__(self, clock: SimClock, threshold: int, reset_ms: float) -> Breaker:
        breaker = StudentBreaker(self.cls, clock, threshold, reset_ms)
        self.made.append(breaker)
        return breaker


def _dependencies(sb: Sandbox) -> list[Dependency]:
    found = [sb.ctx.email, sb._db_guard]
    return [d for d in found if d is not None]


def _build(sb: Sandbox, module: ModuleType) -> Any:
    return StudentBreakerFactory(need(module, "CircuitBreaker", "breaker"))


def _attach(sb: Sandbox, part: Any) -> None:
    for dependency in _dependencies(sb):
        if dependency.make_breaker is not part:  # once: a breaker keeps its state after that
            dependency.make_breaker = part
            dependency.breaker = None


POINT = PlugPoint("breaker", "a class CircuitBreaker(threshold, reset_ms) with allow(now_ms), "
                  "record_success(now_ms), record_failure(now_ms) and state", _build, _attach)
