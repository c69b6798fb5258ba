"""The read router in front of the read replica, replaced by the student's."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox.plugs import PlugError, PlugPoint, need

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

ROUTES = ("primary", "replica")


class StudentRouter:
    """Wraps the student's `ReplicaRouter(lag_ms)`, checks each answer, and starts a new one
    when `db.replica_lag_ms` changes."""

    def __init__(self, sb: Sandbox, cls: Any) -> None:
        self.sb = sb
        self.cls = cls
        self.lag_ms = sb.settings.db.replica_lag_ms
        self.impl = cls(self.lag_ms)

    def choose(self, client: str, method: str, now_ms: float) -> str:
        route = self.impl.choose(client, method, now_ms)
        if route not in ROUTES:
            raise PlugError(f'choose() must return "primary" or "replica"; it returned {route!r}')
        return str(route)

    def answered(self, client: str, method: str, now_ms: float) -> None:
        self.impl.answered(client, method, now_ms)


def _build(sb: Sandbox, module: ModuleType) -> Any:
    return StudentRouter(sb, need(module, "ReplicaRouter", "replica"))


def _attach(sb: Sandbox, part: Any) -> None:
    lag = sb.settings.db.replica_lag_ms
    if part.lag_ms != lag:
        part.__init__(sb, part.cls)
    sb.network.read_router = part


POINT = PlugPoint("replica", "a class ReplicaRouter(lag_ms) with choose(client, method, now_ms) "
                  "-> 'primary' or 'replica', and answered(client, method, now_ms)",
                  _build, _attach)
