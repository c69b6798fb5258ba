"""Idempotency keys: answer a retried POST with the first answer instead of doing it twice.

A phone on a train sends POST /orders, the order is placed, and the answer is lost in a
tunnel. The app cannot know whether the order went through, so it sends the request again.
Without care the customer now has two orders. With an Idempotency-Key header (a random value
the client makes once per order, and sends again with every retry of it) the server can tell
a retry from a new order: it keeps the first response under that key and sends it back again.

This store keeps those responses in SQLite, in the table below, in the shop's own database:
every app instance behind the load balancer sees the same keys.
"""

from __future__ import annotations

# TODO: you will need hashlib and json from the standard library as well
import sqlite3
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotent_requests (
    user_id     INTEGER NOT NULL,   -- keys are per user: two users may pick the same key
    key         TEXT    NOT NULL,   -- the Idempotency-Key header
    fingerprint TEXT    NOT NULL,   -- what the first request's body was (see fingerprint)
    status      INTEGER NOT NULL,   -- the first response: its status...
    response    TEXT    NOT NULL,   -- ...and its body, as JSON text
    PRIMARY KEY (user_id, key)
)
"""


class KeyReused(Exception):
    """The user sent this key before with a different body: a client bug, never a retry."""


class IdempotencyStore:
    """The first response to each (user, Idempotency-Key), kept in SQLite.

    Args:
        conn: an open sqlite3 connection (in autocommit mode in the sandbox).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        conn.execute(SCHEMA)

    def fingerprint(self, body: Any) -> str:
        """A short text that is the same for the same body, whatever the order of its keys
        or its spacing, and different for a different body."""
        # TODO: turn the body into JSON text with its keys sorted, then hash it (hashlib.sha256)
        raise NotImplementedError("not written yet: see the TODO above")

    def lookup(self, user_id: int, key: str, body: Any) -> tuple[int, Any] | None:
        """What to answer a request with this user, key and body, if it is a retry.

        Returns:
            (status, response) saved for this user and key, when the body is the same;
            None when this user has not used this key yet (a new request: go and do it).

        Raises:
            KeyReused: this user used this key before, with a different body.
        """
        # TODO: find this user's row for this key; none: None. Same fingerprint: the saved
        # TODO: status and response (parsed back from JSON). Another fingerprint: KeyReused
        raise NotImplementedError("not written yet: see the TODO above")

    def save(self, user_id: int, key: str, body: Any, status: int, response: Any) -> None:
        """Keep the response to the first request with this user, key and body."""
        # TODO: insert one row (use ? placeholders; store the response as JSON text)
        raise NotImplementedError("not written yet: see the TODO above")
