"""Taking an order's stock, replaced by the student's `take_order` (exercise oversell-proof-stock).

The student writes `take_order(lines)` as a generator: each `yield (sql, params)` sends one
statement to the shop's database and gets its answer back, `{"rows": [...], "rowcount": n}`.
Every yield is a round trip, and the adapter makes it a real one: before the statement runs,
the request gives up its turn (`take_turn`), so in the `flash_sale` scenario other orders'
statements run in between, exactly where they could in production. A read-then-write
therefore races; a single guarded UPDATE cannot.

The student's SQL runs on the sandbox's own connection, so an authorizer lets it read any
table and change only `products` (no inserts, deletes, transactions, ATTACH or PRAGMA): an
order path has no business rewriting the orders the flash sale is judged by.
"""

from __future__ import annotations

import sqlite3
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox.plugs import PlugError, PlugPoint, need
from sandbox.plugs.connection import TracedConnection
from sandbox.turns import take_turn

if TYPE_CHECKING:
    from sandbox.backend.database import Database
    from sandbox.runtime import Sandbox

Statement = tuple[str, Any]
Answer = dict[str, Any]  # {"rows": list of row tuples, "rowcount": rows changed (-1: a read)}
MAX_STATEMENTS = 50  # for one order: more is a loop, not an order


def _products_only(action: int, arg1: str | None, arg2: str | None, db_name: str | None,
                   source: str | None) -> int:
    """sqlite3 authorizer: reads anywhere, UPDATE on `products` only, nothing else."""
    if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_UPDATE and arg1 == "products":
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _statement(step: Any) -> tuple[str, tuple[Any, ...]]:
    if (not isinstance(step, (tuple, list)) or len(step) != 2 or not isinstance(step[0], str)
            or not isinstance(step[1], (tuple, list))):
        raise PlugError(f"take_order must yield (sql, params), a string and a tuple; it yielded "
                        f"{step!r:.120}")
    return step[0], tuple(step[1])


def run_statement(db: Database, sql: str, params: tuple[Any, ...]) -> Answer:
    """Run one of the student's statements on `db` under the products-only authorizer."""
    db.conn.set_authorizer(_products_only)
    try:
        result = TracedConnection(db).execute(sql, params)
    except sqlite3.Error as exc:
        raise PlugError(f"your statement {sql!r:.120} failed: {exc} (take_order may read "
                        "any table and UPDATE products, nothing else)") from None
    finally:
        db.conn.set_authorizer(None)
    return {"rows": [tuple(row) for row in result.rows], "rowcount": result.rowcount}


def prices_from(answer: Any, wanted: dict[int, int]) -> dict[int, int] | None:
    """Check what take_order returned: None, or a unit price for every product ordered."""
    if answer is None:
        return None
    if (not isinstance(answer, dict) or set(answer) != set(wanted)
            or not all(isinstance(v, int) for v in answer.values())):
        raise PlugError(f"take_order must return None or {{product_id: unit price}} for the "
                        f"products {sorted(wanted)}; it returned {answer!r:.120}")
    return {int(k): int(v) for k, v in answer.items()}


class StudentStockTaker:
    """Runs the student's `take_order` for one order, each statement a turn (see above)."""

    def __init__(self, sb: Sandbox, take_order: Any) -> None:
        self.sb = sb
        self.take_order = take_order

    async def __call__(self, wanted: dict[int, int]) -> dict[int, int] | None:
        db = self.sb.ctx.repos.products.db
        steps = self.take_order([[p, q] for p, q in sorted(wanted.items())])
        if not hasattr(steps, "send"):
            raise PlugError("take_order must be a generator: run each statement with "
                            "`answer = yield (sql, params)`")
        answer: Answer | None = None
        for _ in range(MAX_STATEMENTS):
            try:
                step = steps.send(answer)
            except StopIteration as stop:
                return prices_from(stop.args[0] if stop.args else None, wanted)
            sql, params = _statement(step)
            await take_turn()  # the statement travels: other orders may run theirs now
            answer = run_statement(db, sql, params)
        raise PlugError(f"take_order ran more than {MAX_STATEMENTS} statements for one order")


def _build(sb: Sandbox, module: ModuleType) -> Any:
    return StudentStockTaker(sb, need(module, "take_order", "stock"))


def _attach(sb: Sandbox, part: Any) -> None:
    sb.ctx.seams.take_stock = part


POINT = PlugPoint("stock", "a generator function take_order(lines) that yields (sql, params) "
                  "and returns {product_id: unit price} or None", _build, _attach)
