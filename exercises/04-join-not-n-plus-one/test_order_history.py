"""Graded tests for the order history: one statement, the right answer, then in the sandbox."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from sandbox.backend.database import Database
from sandbox.backend.repositories import Repositories
from sandbox.backend.seed import ensure_seed_file
from sandbox.grading.harness import make_sandbox, send
from sandbox.runtime import DATA_SEED
from sandbox.tracing import Span, Trace

GRACE = 2  # a customer with 14 orders
BUSY = 18341  # the customer with the most order lines: 24 orders, 47 lines


def shop() -> Database:
    """A private in-memory copy of the seeded shop (200,000 orders)."""
    return Database.open_seeded(DATA_SEED)


def reference(db: Database, customer_id: int, limit: int) -> list[dict[str, Any]]:
    """The sandbox's own answer (its join in sandbox/backend/repositories.py)."""
    return Repositories(db).orders.with_items_by_customer(customer_id, limit)


def statements_of(conn: sqlite3.Connection, call: Callable[[], Any]) -> tuple[Any, list[str]]:
    """Run `call` and return its result and every SQL statement it sent on `conn`."""
    sent: list[str] = []
    conn.set_trace_callback(sent.append)
    try:
        return call(), sent
    finally:
        conn.set_trace_callback(None)


def describe(orders: Any) -> str:
    if not isinstance(orders, list):
        return f"a {type(orders).__name__}, not a list"
    lines = sum(len(o.get("items", [])) for o in orders if isinstance(o, dict))
    return (f"{len(orders)} order{'s' * (len(orders) != 1)} with {lines} "
            f"line{'s' * (lines != 1)} in all")


def check_one_statement(sent: list[str], orders: Any) -> None:
    assert len(sent) == 1, (
        f"your function sent {len(sent)} SQL statements for {describe(orders)}. The history must "
        "come from ONE statement: join the orders to their lines instead of asking for each "
        "order's lines separately (that is the N+1 pattern). The first two were:\n  "
        + "\n  ".join(s[:160] for s in sent[:2]))


def check_same(mine: Any, want: list[dict[str, Any]], what: str) -> None:
    if mine == want:
        return
    if not isinstance(mine, list) or len(mine) != len(want):
        raise AssertionError(f"{what}: expected {describe(want)}, your function returned "
                             f"{describe(mine)}")
    for i, (got, expected) in enumerate(zip(mine, want, strict=True)):
        if got != expected:
            raise AssertionError(
                f"{what}: order #{i} (0 is the newest) differs.\n  expected: {expected}\n"
                f"  yours:    {got}")


@pytest.mark.points(3)
def test_history_in_one_statement(student: ModuleType) -> None:
    """Grace's 10 newest orders with their lines, as the sandbox gives them, in ONE statement."""
    db = shop()
    want = reference(db, GRACE, 10)
    mine, sent = statements_of(db.conn, lambda: student.orders_with_items(db.conn, GRACE, 10))
    check_same(mine, want, "Grace's 10 newest orders")
    check_one_statement(sent, mine)


@pytest.mark.points(2)
def test_limit_counts_orders_not_lines(student: ModuleType) -> None:
    """limit=5 gives 5 whole orders with ALL their lines (not 5 joined rows)."""
    db = shop()
    want = reference(db, BUSY, 5)
    mine, sent = statements_of(db.conn, lambda: student.orders_with_items(db.conn, BUSY, 5))
    check_same(mine, want, f"customer {BUSY}'s 5 newest orders (a LIMIT on the joined rows "
                           "would cut orders off in the middle of their lines)")
    check_one_statement(sent, mine)


@pytest.mark.points(2)
def test_an_order_without_lines_is_kept(student: ModuleType) -> None:
    """A new order that has no lines yet still appears, with "items": []."""
    db = shop()
    newest = db.conn.execute("SELECT MAX(created_at) FROM orders").fetchone()[0] + 60
    order_id = db.conn.execute(
        "INSERT INTO orders (customer_id, status, total_cents, created_at) "
        "VALUES (?, 'paid', 0, ?)", (GRACE, newest)).lastrowid
    want = reference(db, GRACE, 3)
    assert want[0]["id"] == order_id and want[0]["items"] == []
    mine, sent = statements_of(db.conn, lambda: student.orders_with_items(db.conn, GRACE, 3))
    check_same(mine, want, f"Grace's 3 newest orders, the newest of which (order {order_id}) "
                           "has no lines (an inner JOIN drops it; a LEFT JOIN keeps it)")
    check_one_statement(sent, mine)


def trace_of(response: Any) -> Trace:
    trace = response.extensions["sandbox.trace"]
    assert isinstance(trace, Trace)
    return trace


def history_span(trace: Trace) -> Span:
    found = [s for s in trace.find("repository")
             if s.name == "repository.orders.with_items_by_customer"]
    assert len(found) == 1, "the history request should load the orders once"
    return found[0]


def statements_in(span: Span) -> list[Span]:
    return [s for _, s in span.walk() if s.name in {"db.query", "db.write"}]


def my_orders(student: ModuleType | None, user: int, path: str,
              switches: dict[str, object] | None = None) -> Any:
    """GET `path` as `user` through a fresh sandbox (auth off: the caller is X-User-Id),
    with the student's query plugged in, or the sandbox's own when `student` is None."""
    sb = make_sandbox({"auth.mode": "off", **(switches or {})},
                      plug=("order_history", student) if student is not None else None)
    return send(sb, "GET", path, headers={"X-User-Id": str(user)})


@pytest.mark.points(4)
def test_my_orders_through_the_sandbox(student: ModuleType) -> None:
    """GET /users/me/orders with your query plugged in: the sandbox's response, one statement."""
    path = "/users/me/orders?limit=10"
    own, mine = my_orders(None, GRACE, path), my_orders(student, GRACE, path)
    assert mine.status_code == 200, (
        f"GET {path} answered {mine.status_code} with your query plugged in: {mine.text[:300]}")
    want, got = own.json(), mine.json()
    check_same(got["orders"], want["orders"], f"the response to GET {path}")
    assert got == want, f"the response differs: expected {want}, got {got}"
    sent = statements_in(history_span(trace_of(mine)))
    assert len(sent) == 1, (
        f"inside the sandbox your query sent {len(sent)} statements for "
        f"{len(got['orders'])} orders (db.queries counts each one); it must send ONE")
    counted, expected = trace_of(mine).counts["db.queries"], trace_of(own).counts["db.queries"]
    assert counted == expected, (
        f"the whole request sent {counted} statements with your query and {expected} with the "
        "sandbox's own; the history itself must be one of them")


def empty_shop() -> sqlite3.Connection:
    """The shop's tables with no rows and no secondary indexes: enough to read query plans
    (SQLite plans by the indexes that exist, not by how many rows there are)."""
    source = sqlite3.connect(ensure_seed_file(DATA_SEED))
    try:
        tables = [sql for (sql,) in source.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    finally:
        source.close()
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for sql in tables:
        conn.execute(sql)
    return conn


def create_indexes(student: ModuleType, conn: sqlite3.Connection) -> list[str]:
    """Run the student's CREATE INDEX statements on `conn`; returns the new index names."""
    statements = student.history_indexes()
    assert isinstance(statements, list | tuple) and statements, (
        f"history_indexes() must return a list of CREATE INDEX statements; it returned "
        f"{statements!r}")
    assert len(statements) <= 2, (
        f"you create {len(statements)} indexes; two are enough here, and every index makes "
        "every INSERT and UPDATE of its table slower")
    before = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    for sql in statements:
        assert isinstance(sql, str) and sql.lstrip().upper().startswith(("CREATE INDEX",
                                                                         "CREATE UNIQUE INDEX")), (
            f"each statement must be a CREATE INDEX; got {sql!r}")
        conn.execute(sql)
    after = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    return sorted(after - before)


def plan_problems(conn: sqlite3.Connection, sql: str, indexes: list[str]) -> list[str]:
    """What is slow in `sql`'s plan: a table read from end to end (SCAN), an index SQLite
    must build for this one query (AUTOMATIC), or one of `indexes` it does not use."""
    steps = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
    subqueries = {s.split()[-1] for s in steps if s.startswith(("CO-ROUTINE", "MATERIALIZE"))}
    problems = [f"'{s}': reads every row" for s in steps
                if s.startswith("SCAN ") and s.split()[1] not in subqueries]
    problems += [f"'{s}': SQLite builds a throwaway index for each query" for s in steps
                 if "AUTOMATIC" in s]
    plan = "; ".join(steps)
    problems += [f"your index {name} is not used" for name in indexes
                 if f"INDEX {name} " not in plan + " "]
    return problems


@pytest.mark.points(3)
def test_indexes_turn_scans_into_searches(student: ModuleType) -> None:
    """With only your indexes the history query finds its rows by SEARCH, using each index."""
    conn = empty_shop()
    names = create_indexes(student, conn)
    db = Database(conn)
    _, sent = statements_of(conn, lambda: reference(db, GRACE, 10))
    problems = plan_problems(conn, sent[0], names)
    assert not problems, (
        "with your indexes the history query's plan (EXPLAIN QUERY PLAN) still has:\n  "
        + "\n  ".join(problems))
