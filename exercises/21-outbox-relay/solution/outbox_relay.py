"""The transactional outbox: an order and the e-mail it owes are saved together, and a relay
hands the e-mail job to the queue afterwards, so no order goes without its e-mail and no
customer gets two.

Why not "save the order, then publish to the queue"? Because the process can die between the
two (or the queue can be down): the order exists, the e-mail never goes. Publishing first is
worse: the e-mail goes out for an order whose transaction then fails. The outbox turns the
second write into a row in the SAME database transaction as the order: both happen or neither.

The relay then copies outbox rows to the queue: publish, then mark the row published. It can
die between those two steps, and then the next pass publishes the row again. So the queue
gets each job AT LEAST once, and the consumer makes that exactly-once by remembering which
event ids it has handled (and by giving the e-mail provider the event id as its
idempotency key, for a crash between sending and remembering).

The tables, which `create_tables` makes:

    event_outbox      id (rising), event_id (unique), payload (JSON text), created_at,
                      published_at (NULL until the queue has it)
    processed_events  event_id (primary key), processed_at: what the consumer has done

`conn` is the shop's database: `conn.execute(sql, params)` returns a cursor-like result
(`fetchone()`, `fetchall()`, `rowcount`, `lastrowid`); each statement outside a transaction
commits at once; `with conn.transaction():` makes the statements inside commit together.
"""

from __future__ import annotations

# BEGIN SOLUTION
# TODO: json.dumps and json.loads turn a payload into text and back
import json
from collections.abc import Callable
from typing import Any

# STUB: from collections.abc import Callable
# STUB: from typing import Any
# END SOLUTION

Publish = Callable[[str, dict[str, Any]], None]  # (event id, payload): hand it to the queue
SendEmail = Callable[[str, dict[str, Any]], None]  # (idempotency key, payload): the provider


def create_tables(conn: Any) -> None:
    """Make both tables (if they are not there yet), and an index that finds unpublished rows
    without reading the published ones."""
    # BEGIN SOLUTION
    # TODO: CREATE TABLE IF NOT EXISTS event_outbox (...) and processed_events (...)
    # TODO: an index on the rows still waiting (SQLite allows CREATE INDEX ... WHERE ...)
    conn.execute("CREATE TABLE IF NOT EXISTS event_outbox ("
                 " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                 " event_id TEXT NOT NULL UNIQUE,"
                 " payload TEXT NOT NULL,"
                 " created_at INTEGER NOT NULL,"
                 " published_at INTEGER)")
    conn.execute("CREATE TABLE IF NOT EXISTS processed_events ("
                 " event_id TEXT PRIMARY KEY, processed_at INTEGER NOT NULL)")
    # A partial index: only the waiting rows are in it, so it stays small however many
    # million rows have been published.
    conn.execute("CREATE INDEX IF NOT EXISTS event_outbox_waiting ON event_outbox (id) "
                 "WHERE published_at IS NULL")
    # END SOLUTION


def add_event(conn: Any, event_id: str, payload: dict[str, Any], now_s: int) -> int:
    """Write one event to the outbox, as part of the caller's open transaction (do NOT start
    or commit one here). Returns the new row's id."""
    # BEGIN SOLUTION
    # TODO: one INSERT; the payload goes in as JSON text; published_at stays NULL
    cur = conn.execute("INSERT INTO event_outbox (event_id, payload, created_at) "
                       "VALUES (?, ?, ?)", (event_id, json.dumps(payload), now_s))
    return int(cur.lastrowid)
    # END SOLUTION


def place_order(conn: Any, customer_id: int, lines: list[list[int]], now_s: int) -> int:
    """Save an order, its lines ([product_id, quantity, price_cents] each) and the event
    "order-<id>-confirmation" (payload {"order_id": id, "customer_id": customer_id}) in ONE
    transaction. Returns the order id.

    The shop's tables: orders (id, customer_id, status, total_cents, created_at) with status
    'paid', and order_items (order_id, product_id, quantity, price_cents).
    """
    # BEGIN SOLUTION
    # TODO: with conn.transaction(): the order, its lines, and add_event(...), together
    with conn.transaction():
        total = sum(quantity * price for _, quantity, price in lines)
        cur = conn.execute("INSERT INTO orders (customer_id, status, total_cents, created_at) "
                           "VALUES (?, 'paid', ?, ?)", (customer_id, total, now_s))
        order_id = int(cur.lastrowid)
        for product_id, quantity, price in lines:
            conn.execute("INSERT INTO order_items (order_id, product_id, quantity, price_cents) "
                         "VALUES (?, ?, ?, ?)", (order_id, product_id, quantity, price))
        add_event(conn, f"order-{order_id}-confirmation",
                  {"order_id": order_id, "customer_id": customer_id}, now_s)
    return order_id
    # END SOLUTION


def relay(conn: Any, publish: Publish, now_s: int, batch_size: int = 100) -> int:
    """One pass of the relay: the oldest `batch_size` unpublished events, oldest first, each
    published and then marked published. Returns how many it published.

    If `publish` raises (the queue is down, the process dies), stop there and let the
    exception go: every row not marked yet is published by a later pass.
    """
    # BEGIN SOLUTION
    # TODO: select the waiting rows (oldest first, at most batch_size)
    # TODO: for each: publish FIRST, mark it published AFTER. Why not the other way round?
    rows = conn.execute("SELECT id, event_id, payload FROM event_outbox "
                        "WHERE published_at IS NULL ORDER BY id LIMIT ?",
                        (batch_size,)).fetchall()
    published = 0
    for row_id, event_id, payload in rows:
        # Publish, then mark: dying in between publishes this event again next time (a
        # duplicate the consumer drops). Marking first and dying would lose it for good.
        publish(event_id, json.loads(payload))
        conn.execute("UPDATE event_outbox SET published_at = ? WHERE id = ?", (now_s, row_id))
        published += 1
    return published
    # END SOLUTION


def handle(conn: Any, event_id: str, payload: dict[str, Any], send_email: SendEmail,
           now_s: int) -> bool:
    """The consumer: send the confirmation e-mail for this event unless this event id was
    handled before. Returns True if it did the work, False for a repeat.

    Call `send_email(event_id, payload)`: the provider sends one e-mail per key, so a second
    call with the same event id (after a crash) sends nothing twice.
    """
    # BEGIN SOLUTION
    # TODO: a repeat (already in processed_events) does nothing and returns False
    # TODO: else send, THEN remember the event id (the provider's key covers a crash between)
    seen = conn.execute("SELECT 1 FROM processed_events WHERE event_id = ?",
                        (event_id,)).fetchone()
    if seen is not None:
        return False
    send_email(event_id, payload)
    conn.execute("INSERT OR IGNORE INTO processed_events (event_id, processed_at) VALUES (?, ?)",
                 (event_id, now_s))
    return True
    # END SOLUTION
