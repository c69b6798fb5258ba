"""Graded tests for the online index migration: the index, the rows, the writes made during
the migration, and the longest time the write lock was held, against one CREATE INDEX."""

from __future__ import annotations

import random
import sqlite3
from types import ModuleType
from typing import Any

import pytest

from sandbox.plugs.connection import Rows

ROWS = 20_000
INDEX = "idx_orders_customer_id"
QUERY = "SELECT * FROM orders WHERE customer_id = ?"
STEP_GRAIN = 10  # SQLite calls the meter every this many VM steps


class LockMeter:
    """A connection that measures how long each hold of the database's lock lasts, in SQLite
    VM steps (the work done, the same on any machine): from the moment a transaction opens
    (BEGIN, SAVEPOINT...) until it ends, or one statement run outside a transaction.

    Everything but `execute` is private or read-only: the student's code holds this object."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._steps = 0
        self._holds: list[int] = []
        self._began = 0
        conn.set_progress_handler(self._tick, STEP_GRAIN)

    def _tick(self) -> int:
        self._steps += STEP_GRAIN
        return 0  # go on

    def execute(self, sql: str, params: Any = ()) -> Rows:
        was_open, before = self._conn.in_transaction, self._steps
        cur = self._conn.execute(sql, tuple(params))
        rows = [tuple(row) for row in cur.fetchall()]
        now_open = self._conn.in_transaction
        if now_open and not was_open:
            self._began = before
        elif was_open and not now_open:
            self._holds.append(self._steps - self._began)
        elif not was_open:
            self._holds.append(self._steps - before)  # a statement of its own
        return Rows(rows, cur.rowcount, cur.lastrowid)

    @property
    def holds(self) -> list[int]:
        return list(self._holds)

    @property
    def longest(self) -> int:
        return max(self._holds, default=0)


def shop(rows: int = ROWS, seed: int = 4) -> sqlite3.Connection:
    """An orders table shaped like the shop's, `rows` seeded rows, no index on customer_id."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute('CREATE TABLE "orders" ("id" INTEGER PRIMARY KEY, "customer_id" INTEGER '
                 'NOT NULL, "status" TEXT, "total_cents" INTEGER, "created_at" INTEGER)')
    rng = random.Random(seed)
    conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)",
                     [(i, rng.randrange(1, 5000), rng.choice(("paid", "sent")),
                       rng.randrange(100, 90_000), 1_700_000_000 + i) for i in range(1, rows + 1)])
    return conn


def table(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT * FROM orders ORDER BY id").fetchall()


def one_create_index_hold(rows: int = ROWS) -> int:
    """The write lock held by the plain way: one CREATE INDEX on the same table."""
    meter = LockMeter(shop(rows))
    meter.execute(f'CREATE INDEX "{INDEX}" ON orders (customer_id)')
    return meter.longest


class Shoppers:
    """The app's writes, made between the migration's steps (and mirrored on a model copy)."""

    def __init__(self, conn: sqlite3.Connection, model: sqlite3.Connection, seed: int = 8) -> None:
        self.conns = (conn, model)
        self.rng = random.Random(seed)
        self.next_id = ROWS + 1

    def write(self, n: int = 3) -> None:
        for i in range(n):
            kind, row = self.rng.randrange(4), self.rng.randrange(1, ROWS + 1)
            kind = 0 if i == 0 else kind  # a busy shop: a new order at every step
            if kind == 0:
                sql, params = "INSERT INTO orders VALUES (?, ?, 'paid', 500, 1)", (
                    self.next_id, self.rng.randrange(1, 5000))
                self.next_id += 1
            elif kind == 1:
                sql, params = "UPDATE orders SET status = 'refunded' WHERE id = ?", (row,)
            elif kind == 2:
                sql, params = "DELETE FROM orders WHERE id = ?", (row,)
            else:
                sql, params = "UPDATE orders SET customer_id = ? WHERE id = ?", (
                    self.rng.randrange(1, 5000), row)
            for conn in self.conns:
                conn.execute(sql, params)


def migrate(student: ModuleType, conn: sqlite3.Connection, shoppers: Shoppers | None = None,
            batch_size: int = 500) -> tuple[LockMeter, list[str]]:
    """Run the student's migration step by step; between steps, check the lock is free and
    let the shoppers write."""
    meter = LockMeter(conn)
    steps = []
    for step in student.add_index_online(meter, "orders", "customer_id", INDEX, batch_size):
        steps.append(step)
        assert not conn.in_transaction, (
            f"you yielded ({step!r}) with a transaction still open: the write lock is held, and "
            "the app's writes would wait. COMMIT before each yield")
        if shoppers is not None:
            shoppers.write()
        assert len(steps) < 1000, (
            "the migration did not finish within 1,000 steps. On a busy table new rows arrive "
            "all the time: if the backfill copies until no row is left, it chases them for "
            "ever. The triggers copy every row inserted after they were made, so the backfill "
            "can stop at the highest id there was then")
    assert not conn.in_transaction, "the migration ended with a transaction still open"
    return meter, steps


@pytest.mark.points(3)
def test_the_index_is_there_and_used(student: ModuleType) -> None:
    """After the migration, orders has the index on customer_id and the lookup query uses it."""
    conn = shop(2000)
    migrate(student, conn)
    found = [row[1] for row in conn.execute("PRAGMA index_list(orders)").fetchall()]
    assert INDEX in found, f"orders should have the index {INDEX}; its indexes are {found}"
    plan = " ".join(str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + QUERY, (7,)))
    assert f"USING INDEX {INDEX}" in plan, (
        f"{QUERY} should search the new index; SQLite's plan is: {plan}")
    leftovers = conn.execute("SELECT type, name FROM sqlite_master WHERE name LIKE '%new_%'"
                             ).fetchall()
    assert leftovers == [], f"the shadow table and its triggers must be gone: {leftovers}"


@pytest.mark.points(3)
def test_no_row_is_lost(student: ModuleType) -> None:
    """Without other writes: every row, column for column, is there after the swap."""
    conn = shop(3000)
    before = table(conn)
    _, steps = migrate(student, conn)
    after = table(conn)
    assert len(after) == len(before), f"{len(before)} rows before the migration, {len(after)} after"
    assert after == before, "the rows after the migration differ from those before it"
    assert steps.count("batch") >= 3000 // 500, (
        f"3,000 rows in batches of 500 are at least 6 batches; yours yielded {steps}")


@pytest.mark.points(4)
def test_writes_between_batches_are_kept(student: ModuleType) -> None:
    """Inserts, updates and deletes made between batches all show in the migrated table."""
    conn, model = shop(), shop()
    migrate(student, conn, Shoppers(conn, model))
    got, want = table(conn), table(model)
    missing = len(set(want) - set(got))
    extra = len(set(got) - set(want))
    assert got == want, (
        f"writes made during the migration were lost or undone: {missing} rows are missing or "
        f"out of date, {extra} should not be there (deleted, or an old version). Triggers must "
        "copy every insert, update and delete to the shadow from the start")


@pytest.mark.points(4)
def test_the_lock_is_never_held_long(student: ModuleType) -> None:
    """The longest write-lock hold is under a fifth of one CREATE INDEX on the same table."""
    conn = shop()
    meter, _ = migrate(student, conn, batch_size=500)
    plain = one_create_index_hold()
    assert meter.longest * 5 <= plain, (
        f"one CREATE INDEX on {ROWS:,} rows holds the write lock for {plain:,} VM steps; your "
        f"migration's longest hold was {meter.longest:,} (holds: {sorted(meter.holds)[-5:]}). "
        "Keep each transaction to one batch, and create the index while the shadow is empty")
