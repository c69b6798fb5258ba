"""The worker's handler for the "order placed" job: confirm the order exactly once, however
many times the queue delivers the job."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def order_lines(job: dict[str, str]) -> list[tuple[int, int]]:
    """The job's order lines as (product_id, quantity) pairs."""
    return [(int(product_id), int(quantity)) for product_id, quantity in json.loads(job["lines"])]


def confirm_order(conn: Any, job_id: str, job: dict[str, str], now_s: int,
                  send_email: Callable[[], None]) -> bool:
    """Handle one delivery of an "order placed" job.

    The work: e-mail the customer (`send_email()`), record the confirmation (a row in
    `order_confirmations`) and add each line's quantity to `product_sales`.

    The queue delivers each job AT LEAST once: a worker that dies after doing the work but
    before acknowledging it means the job is delivered again, to another worker. So:

    - an order that is already confirmed must not be confirmed, counted or e-mailed again:
      return False and do nothing;
    - if anything fails (`send_email()` raises, a statement fails), let the exception
      propagate: the queue retries the job later, and after too many attempts moves it to
      the dead-letter stream. A failed delivery must leave nothing half done behind.

    Args:
        conn: the shop's database. `conn.execute(sql, params)` returns a cursor-like result
            (`fetchone()`, `fetchall()`, `rowcount`); `with conn.transaction():` makes the
            statements inside commit together, or none of them if an exception leaves it.
        job_id: the queue's id for this job ("17-0"). A new job for the same order (the
            producer published twice) has a new id.
        job: {"order_id": "123", "lines": "[[product_id, quantity], ...]"}; `order_lines(job)`
            reads the lines for you.
        now_s: the simulated time, for `confirmed_at`.
        send_email: sends the confirmation e-mail; raises an exception when it fails.

    Returns:
        True when this delivery did the work, False when it had already been done.

    Tables:
        order_confirmations (order_id INTEGER PRIMARY KEY, job_id TEXT, confirmed_at INTEGER)
        product_sales (product_id INTEGER PRIMARY KEY, sold INTEGER)
    """
    # BEGIN SOLUTION
    # TODO: already confirmed? then this is a redelivery: return False and do nothing else
    # TODO: send the e-mail (if it raises, let it: nothing has been recorded yet)
    # TODO: in ONE transaction: record the confirmation and add every line to product_sales
    # TODO: return True
    order_id = int(job["order_id"])
    already = conn.execute("SELECT 1 FROM order_confirmations WHERE order_id = ?",
                           (order_id,)).fetchone()
    if already is not None:
        return False  # a redelivery: the work is done, only the acknowledgement was lost
    send_email()  # may raise: nothing is recorded, so the retry does it all
    with conn.transaction():
        # The primary key guards the effect again inside the transaction: two workers holding
        # the same job at once cannot both get past it.
        recorded = conn.execute(
            "INSERT OR IGNORE INTO order_confirmations (order_id, job_id, confirmed_at) "
            "VALUES (?, ?, ?)", (order_id, job_id, now_s))
        if recorded.rowcount == 0:
            return False
        for product_id, quantity in order_lines(job):
            conn.execute(
                "INSERT INTO product_sales (product_id, sold) VALUES (?, ?) "
                "ON CONFLICT (product_id) DO UPDATE SET sold = sold + excluded.sold",
                (product_id, quantity))
    return True
    # END SOLUTION
