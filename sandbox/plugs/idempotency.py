"""Idempotency keys for POST /orders, kept by the student's `IdempotencyStore`."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox import tracing
from sandbox.errors import FieldError, ValidationFailed
from sandbox.plugs import PlugPoint, need

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


class StudentIdempotency:
    """Adapts the student's store (`lookup`/`save` over a sqlite3 connection, raising
    KeyReused) to the order service's seam. The store's table lives in the shop's own
    database, so every app instance sees the same keys. A reused key is refused with the same
    422 the sandbox's own idempotency gives."""

    def __init__(self, sb: Sandbox, module: ModuleType) -> None:
        store_class = need(module, "IdempotencyStore", "idempotency")
        self.reused = need(module, "KeyReused", "idempotency")
        self.store = store_class(sb.db.conn)

    def replay(self, user_id: int, key: str, items: list[dict[str, int]]) -> dict[str, Any] | None:
        with tracing.span("idempotency.lookup", "service") as span:
            span.set("plugged", "student")
            try:
                found = self.store.lookup(user_id, key, {"items": items})
            except self.reused:
                raise ValidationFailed(
                    "This Idempotency-Key was already used for a different order.",
                    details=[FieldError("Idempotency-Key", "use a new key for a new order")],
                ) from None
            if found is None:
                return None
            _status, response = found
            return dict(response)

    def remember(self, user_id: int, key: str, items: list[dict[str, int]],
                 order: dict[str, Any]) -> None:
        with tracing.span("idempotency.save", "service") as span:
            span.set("plugged", "student")
            self.store.save(user_id, key, {"items": items}, 201, order)


def _build(sb: Sandbox, module: ModuleType) -> Any:
    return StudentIdempotency(sb, module)


def _attach(sb: Sandbox, part: Any) -> None:
    sb.ctx.seams.idempotency = part


POINT = PlugPoint("idempotency", "a class IdempotencyStore(conn) with lookup(user_id, key, body) "
                  "and save(user_id, key, body, status, response), raising KeyReused",
                  _build, _attach)
