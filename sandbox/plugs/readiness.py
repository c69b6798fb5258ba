"""The balancer's readiness check (`deploy.readiness_check=on`), replaced by the student's."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox.network.deploy import InstanceStatus
from sandbox.plugs import PlugError, PlugPoint, need

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


class StudentReadiness:
    """Calls the student's `check_readiness(instance, now_ms)` and checks the shape of its
    answer, so that a wrong kind of answer is explained, not a crash in the health check."""

    def __init__(self, impl: Callable[[InstanceStatus, float], Any]) -> None:
        self.impl = impl

    def __call__(self, instance: InstanceStatus, now_ms: float) -> tuple[bool, str]:
        answer = self.impl(instance, now_ms)
        if not (isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[0], bool)):
            raise PlugError("check_readiness must return a pair (ready, reason): True or False, "
                            f"and a string; it returned {answer!r}")
        return answer[0], str(answer[1])


def _build(sb: Sandbox, module: ModuleType) -> Any:
    return StudentReadiness(need(module, "check_readiness", "readiness"))


def _attach(sb: Sandbox, part: Any) -> None:
    sb.network.readiness = part


POINT = PlugPoint("readiness", "a function check_readiness(instance, now_ms) -> (ready, reason)",
                  _build, _attach, lambda sb, make: StudentReadiness(make()))
