"""The order-history query, replaced by the student's join (`orders_with_items`)."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox.plugs import PlugPoint, need
from sandbox.plugs.connection import TracedConnection

if TYPE_CHECKING:
    from sandbox.backend.database import Database
    from sandbox.runtime import Sandbox


class StudentHistoryLoader:
    """Adapts a student's `orders_with_items(conn, customer_id, limit)` to the repository's
    history loader (which hands over the sandbox's Database)."""

    def __init__(self, impl: Any) -> None:
        self.impl = impl

    def __call__(self, db: Database, customer_id: int, limit: int) -> list[dict[str, Any]]:
        return self.impl(TracedConnection(db), customer_id, limit)  # type: ignore[no-any-return]


def _build_history(sb: Sandbox, module: ModuleType) -> Any:
    return StudentHistoryLoader(need(module, "orders_with_items", "order_history"))


def _attach_history(sb: Sandbox, part: Any) -> None:
    # The replica's repositories are rebuilt when `db.read_replica` is switched on, so both
    # sets are plugged every time.
    for repos in (sb.ctx.repos, sb.ctx.replica_repos):
        if repos is not None:
            repos.orders.history_loader = part


POINT = PlugPoint("order_history", "a function orders_with_items(conn, customer_id, limit) -> "
                  "list of orders, each with its 'items'", _build_history, _attach_history,
                  lambda sb, make: StudentHistoryLoader(make()))
