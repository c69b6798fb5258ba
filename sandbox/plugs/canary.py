"""The canary deploy's controller, replaced by the student's `CanaryController`.

With `deploy.release=on deploy.strategy=canary`, the router asks the controller, before
each request, what share of traffic the new version gets, and tells it about every answer.
The student's controller moves the share through STEPS, each `deploy.canary_s` long, and
rolls the deploy back when the canary looks worse than the baseline for HOLD_MS.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox.network.deploy import TrafficController
from sandbox.plugs import PlugError, PlugPoint, need
from sandbox.settings import DeploySettings

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

STEPS = (5.0, 25.0, 50.0, 100.0)  # the canary's share at each step, in percent
HOLD_MS = 500.0  # how long the alert condition must hold before the controller rolls back
VERDICTS = ("watching", "promoted", "rolled_back")


class StudentCanary:
    """Adapts the student's controller to the `TrafficController` a canary deploy asks,
    checking each answer on the way."""

    def __init__(self, impl: Any) -> None:
        self.impl = impl

    def observe(self, now_ms: float, version: str, status: int, latency_ms: float) -> None:
        self.impl.observe(now_ms, version, status, latency_ms)

    def share(self, now_ms: float) -> float:
        answer = self.impl.share(now_ms)
        if isinstance(answer, bool) or not isinstance(answer, int | float) \
                or not 0.0 <= answer <= 1.0:
            raise PlugError(f"share(now_ms) must return a number from 0.0 to 1.0; it returned "
                            f"{answer!r}")
        return float(answer)

    @property
    def verdict(self) -> str:
        found = getattr(self.impl, "verdict", "watching")
        if found not in VERDICTS:
            raise PlugError(f"verdict must be one of {', '.join(VERDICTS)}; it is {found!r}")
        return str(found)


class StudentCanaryFactory:
    """Makes a fresh `StudentCanary` for each canary deploy."""

    def __init__(self, cls: Any) -> None:
        self.cls = cls
        self.made: list[StudentCanary] = []  # every controller made, for tests to look at

    def __call__(self, deploy: DeploySettings) -> TrafficController:
        controller = StudentCanary(self.cls(list(STEPS), deploy.canary_s * 1000.0, HOLD_MS))
        self.made.append(controller)
        return controller


def _build(sb: Sandbox, module: ModuleType) -> Any:
    return StudentCanaryFactory(need(module, "CanaryController", "canary"))


def _attach(sb: Sandbox, part: Any) -> None:
    sb.network.make_canary_controller = part


POINT = PlugPoint("canary", "a class CanaryController(steps, step_ms, hold_ms) with "
                  "observe(now_ms, version, status, latency_ms), share(now_ms) and verdict",
                  _build, _attach)
