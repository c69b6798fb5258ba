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

# TODO: json.dumps and json.loads turn a payload into text and back
from collections.abc import Callable
from typing import Any

Publish = Callable[[str, dict[str, Any]], None]  # (event id, payload): hand it to the queue
SendEmail = Callable[[str, dict[str, Any]], None]  # (idempotency key, payload): the provider


def create_tables(conn: Any) -> None:
    """Make both tables (if they are not there yet), and an index that finds unpublished rows
    without reading the published ones."""
    # TODO: CREATE TABLE IF NOT EXISTS event_outbox (...) and processed_events (...)
    # TODO: an index on the rows still waiting (SQLite allows CREATE INDEX ... WHERE ...)
    raise NotImplementedError("not written yet: see the TODO above")


def add_event(conn: Any, event_id: str, payload: dict[str, Any], now_s: int) -> int:
    """Write one event to the outbox, as part of the caller's open transaction (do NOT start
    or commit one here). Returns the new row's id."""
    # TODO: one INSERT; the payload goes in as JSON text; published_at stays NULL
    raise NotImplementedError("not written yet: see the TODO above")


def place_order(conn: Any, customer_id: int, lines: list[list[int]], now_s: int) -> int:
    """Save an order, its lines ([product_id, quantity, price_cents] each) and the event
    "order-<id>-confirmation" (payload {"order_id": id, "customer_id": customer_id}) in ONE
    transaction. Returns the order id.

    The shop's tables: orders (id, customer_id, status, total_cents, created_at) with status
    'paid', and order_items (order_id, product_id, quantity, price_cents).
    """
    # TODO: with conn.transaction(): the order, its lines, and add_event(...), together
    raise NotImplementedError("not written yet: see the TODO above")


def relay(conn: Any, publish: Publish, now_s: int, batch_size: int = 100) -> int:
    """One pass of the relay: the oldest `batch_size` unpublished events, oldest first, each
    published and then marked published. Returns how many it published.

    If `publish` raises (the queue is down, the process dies), stop there and let the
    exception go: every row not marked yet is published by a later pass.
    """
    # TODO: select the waiting rows (oldest first, at most batch_size)
    # TODO: for each: publish FIRST, mark it published AFTER. Why not the other way round?
    raise NotImplementedError("not written yet: see the TODO above")


def handle(conn: Any, event_id: str, payload: dict[str, Any], send_email: SendEmail,
           now_s: int) -> bool:
    """The consumer: send the confirmation e-mail for this event unless this event id was
    handled before. Returns True if it did the work, False for a repeat.

    Call `send_email(event_id, payload)`: the provider sends one e-mail per key, so a second
    call with the same event id (after a crash) sends nothing twice.
    """
    # TODO: a repeat (already in processed_events) does nothing and returns False
    # TODO: else send, THEN remember the event id (the provider's key covers a crash between)
    raise NotImplementedError("not written yet: see the TODO above")
