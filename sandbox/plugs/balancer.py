"""The load balancer, replaced by the student's least-connections class."""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox.network.balancer import Backend
from sandbox.plugs import PlugError, PlugPoint, need

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


class StudentBalancer:
    """Wraps a student's balancer class so the network can call it, and checks each answer:
    a wrong kind of answer is reported in plain words, not as a crash deep in the network."""

    name = "least_connections (yours)"

    def __init__(self, impl: Any) -> None:
        self.impl = impl

    def choose(self, instances: Sequence[Backend], client: str, now_ms: float) -> int | None:
        chosen = self.impl.choose(instances, client, now_ms)
        if chosen is None:
            return None
        if isinstance(chosen, bool) or not isinstance(chosen, int) \
                or not 0 <= chosen < len(instances):
            raise PlugError(f"choose() must return the index of an instance (0 to "
                            f"{len(instances) - 1}) or None; it returned {chosen!r}")
        return chosen


def _build_balancer(sb: Sandbox, module: ModuleType) -> Any:
    return StudentBalancer(need(module, "LeastConnections", "balancer")())


def _attach_balancer(sb: Sandbox, part: Any) -> None:
    sb.network.balancer = part


POINT = PlugPoint("balancer", "a class LeastConnections with choose(instances, client, now_ms) "
                  "-> index or None", _build_balancer, _attach_balancer,
                  lambda sb, make: StudentBalancer(make()))
