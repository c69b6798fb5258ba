"""A customer's order history in one query: each order with its lines, a join instead of N+1.

The shop's "My orders" page calls `orders_with_items` once per visit. The version you start
from works, but asks the database once for the orders and then once more for every order's
lines: 1 + N round trips. Rewrite it so the database is asked exactly once.

`conn` behaves like a sqlite3 connection: call `conn.execute(sql, params)` and read the rows
with `.fetchall()`, `.fetchone()` or a `for` loop; each row is a tuple. (Inside the sandbox
`conn` is a thin wrapper that traces and counts your statements; nothing else is offered.)
"""

from __future__ import annotations

from typing import Any

# The columns, in this order, of each order and of each of its lines in the answer.
ORDER_COLUMNS = ("id", "customer_id", "status", "total_cents", "created_at")
ITEM_COLUMNS = ("order_id", "product_id", "quantity", "price_cents")

# The two queries of the N+1 version: the newest orders, then one order's lines.
NEWEST_ORDERS = ("SELECT id, customer_id, status, total_cents, created_at FROM orders "
                 "WHERE customer_id = ? ORDER BY created_at DESC, id DESC LIMIT ?")
ORDER_LINES = ("SELECT order_id, product_id, quantity, price_cents FROM order_items "
               "WHERE order_id = ? ORDER BY id")


def as_order(row: tuple[Any, ...]) -> dict[str, Any]:
    """An order's five columns as a dict (without its items)."""
    return dict(zip(ORDER_COLUMNS, row, strict=True))


def as_item(row: tuple[Any, ...]) -> dict[str, Any]:
    """An order line's four columns as a dict."""
    return dict(zip(ITEM_COLUMNS, row, strict=True))


def lines_of(conn: Any, order_id: int) -> list[dict[str, Any]]:
    """One order's lines. One statement per call: the "+N" of N+1."""
    return [as_item(row) for row in conn.execute(ORDER_LINES, (order_id,))]


def orders_with_items(conn: Any, customer_id: int, limit: int) -> list[dict[str, Any]]:
    """The customer's `limit` newest orders, newest first (by created_at, then id), each a
    dict of ORDER_COLUMNS plus "items": its lines as dicts of ITEM_COLUMNS, in the order they
    were added (by order_items.id). An order with no lines has "items": [].

    Exactly ONE statement may be sent to the database, however many orders there are.
    """
    # BEGIN SOLUTION
    # TODO: this works, but sends 1 + N statements: the orders, then each order's lines.
    # TODO: send ONE statement that joins the orders to their lines; fold its rows into orders.
    # STUB: orders = [as_order(row) for row in conn.execute(NEWEST_ORDERS, (customer_id, limit))]
    # STUB: return [{**order, "items": lines_of(conn, order["id"])} for order in orders]
    rows = conn.execute(
        "SELECT o.id, o.customer_id, o.status, o.total_cents, o.created_at, "
        "       i.order_id, i.product_id, i.quantity, i.price_cents "
        "FROM (SELECT * FROM orders WHERE customer_id = ? "
        "      ORDER BY created_at DESC, id DESC LIMIT ?) AS o "
        "LEFT JOIN order_items AS i ON i.order_id = o.id "
        "ORDER BY o.created_at DESC, o.id DESC, i.id",
        (customer_id, limit),
    ).fetchall()
    orders: dict[int, dict[str, Any]] = {}
    for row in rows:
        order = orders.get(row[0])
        if order is None:  # the first row of a new order
            order = {**as_order(row[:5]), "items": []}
            orders[row[0]] = order
        if row[5] is not None:  # LEFT JOIN: an order without lines comes with NULLs
            order["items"].append(as_item(row[5:]))
    return list(orders.values())
    # END SOLUTION


def history_indexes() -> list[str]:
    """The CREATE INDEX statements (at most two) that let the history query find a
    customer's orders and their lines by SEARCH (an index) instead of SCAN (every row).

    Every index you name must be used by the query: an index costs something on every write.
    """
    # BEGIN SOLUTION
    # TODO: which columns does the query look rows up by? Return one CREATE INDEX per column.
    return [
        "CREATE INDEX IF NOT EXISTS idx_orders_customer_id ON orders (customer_id)",
        "CREATE INDEX IF NOT EXISTS idx_order_items_order_id ON order_items (order_id)",
    ]
    # END SOLUTION
