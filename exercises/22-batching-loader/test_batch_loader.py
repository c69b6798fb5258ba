"""Graded tests for the batching loader: its batches and cache with a counting fetch, the SQL
with IN (...), then POST /graphql in the sandbox with your loader, counting database queries."""

from __future__ import annotations

import sqlite3
from types import ModuleType
from typing import Any

import pytest

from sandbox.backend.repositories import PRODUCT_COLUMNS
from sandbox.grading.harness import make_sandbox, send

NESTED = "{ products(limit: 20) { id name reviews(limit: 3) { rating body } } }"


class CountingFetch:
    """A fetch that records every batch it is given; `values` says what exists."""

    def __init__(self, values: dict[int, Any]) -> None:
        self.values = values
        self.batches: list[list[int]] = []

    def __call__(self, keys: list[int]) -> dict[int, Any]:
        self.batches.append(list(keys))
        return {k: self.values[k] for k in keys if k in self.values}


class RecordingConnection:
    """A sqlite3 connection that writes down each statement and its parameters."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.statements: list[tuple[str, list[Any]]] = []

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        self.statements.append((str(sql), list(params)))
        return self.conn.execute(sql, params)


def products_db() -> RecordingConnection:
    """A products table like the shop's, with products 1 to 5."""
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.execute(f"CREATE TABLE products ({', '.join(PRODUCT_COLUMNS)})")
    for i in range(1, 6):
        conn.execute(f"INSERT INTO products VALUES ({', '.join('?' * len(PRODUCT_COLUMNS))})",
                     (i, f"SKU-{i}", f"Product {i}", "books", 100 * i, 5, "", 0, 0, 0))
    return RecordingConnection(conn)


def graphql(student: ModuleType | None, query: str, switches: dict[str, Any] | None = None,
            user: str | None = None) -> tuple[Any, int]:
    """POST /graphql once on a fresh sandbox (batched loader; yours when `student` is given):
    the answer's data and the database queries the request made."""
    sb = make_sandbox({"graphql.loader": "batched", "auth.mode": "jwt", **(switches or {})},
                      plug=("batch_loader", student) if student is not None else None)
    r = send(sb, "POST", "/graphql", json={"query": query}, user=user)
    body = r.json()
    assert r.status_code == 200 and "errors" not in body, (
        f"POST /graphql answered {r.status_code}: {body}")
    return body["data"], int(r.extensions["sandbox.trace"].counts.get("db.queries", 0))


@pytest.mark.points(1)
def test_load_returns_the_value_or_none(student: ModuleType) -> None:
    """load(key) gives the fetched value; a key the fetch has no value for gives None."""
    fetch = CountingFetch({1: "one", 2: "two"})
    loader = student.BatchLoader(fetch)
    assert loader.load(2) == "two", "load(2) should return what fetch gave for 2"
    assert loader.load(7) is None, "a key fetch() left out has no value: load returns None"


@pytest.mark.points(2)
def test_expected_keys_are_fetched_together_once_each(student: ModuleType) -> None:
    """Keys announced with expect() go in one fetch, in order, each once, with the loaded key."""
    fetch = CountingFetch({k: k * 10 for k in range(1, 9)})
    loader = student.BatchLoader(fetch)
    loader.expect([3, 1, 3, 2])
    loader.expect([1, 5])
    answers = [loader.load(k) for k in (1, 2, 3, 5, 6)]
    assert answers == [10, 20, 30, 50, 60], f"load() answers for 1, 2, 3, 5, 6: got {answers}"
    assert fetch.batches == [[3, 1, 2, 5], [6]], (
        "expect([3, 1, 3, 2]) and expect([1, 5]), then loads of 1, 2, 3, 5, 6: the first load "
        "fetches the four waiting keys at once, in the order they came, each once "
        "([3, 1, 2, 5]); 6 was never announced, so it needs a fetch of its own ([6]). "
        f"Your fetches: {fetch.batches}")


@pytest.mark.points(2)
def test_the_cache_answers_repeats_prime_and_clear(student: ModuleType) -> None:
    """A loaded key (even one with no value) is not fetched again; prime() fills the cache and
    clear() empties one key."""
    fetch = CountingFetch({1: "a", 2: "b", 3: "c"})
    loader = student.BatchLoader(fetch)
    loader.load_many([1, 9])
    loader.load(1)
    loader.load(9)
    assert fetch.batches == [[1, 9]], (
        "loaded keys are cached, a missing one too (as None): loading 1 and 9 again must not "
        f"fetch; your fetches: {fetch.batches}")
    loader.prime(3, "primed")
    assert loader.load(3) == "primed" and len(fetch.batches) == 1, (
        "prime(3, 'primed') puts the value in the cache: load(3) returns it without a fetch")
    loader.clear(1)
    assert loader.load(1) == "a" and fetch.batches[-1] == [1], (
        f"after clear(1), load(1) fetches 1 again; your fetches: {fetch.batches}")


@pytest.mark.points(2)
def test_load_many_keeps_the_order_asked(student: ModuleType) -> None:
    """load_many([5, 1, 4]) returns the values in that order, in a single fetch."""
    fetch = CountingFetch({1: "one", 4: "four", 5: "five"})
    loader = student.BatchLoader(fetch)
    got = loader.load_many([5, 1, 8, 4])
    assert got == ["five", "one", None, "four"], f"expected values in key order; got {got}"
    assert len(fetch.batches) == 1, f"one fetch for all of them; yours: {fetch.batches}"


@pytest.mark.points(2)
def test_fetch_products_is_one_query_in_key_order(student: ModuleType) -> None:
    """fetch_products(conn, [4, 9, 2]): one SELECT with IN (...), rows in the order asked, None
    for the missing id."""
    conn = products_db()
    rows = student.fetch_products(conn, [4, 9, 2])
    names = [row[2] if row is not None else None for row in rows]
    assert names == ["Product 4", None, "Product 2"], (
        f"one row per id in the order of ids, None for id 9 (no such product); got {names}")
    assert len(conn.statements) == 1 and " IN " in conn.statements[0][0].upper(), (
        f"one query with WHERE id IN (...); your statements: {conn.statements}")
    sql, params = conn.statements[0]
    assert "9" not in sql and sorted(params) == [2, 4, 9], (
        f"the ids travel as parameters (one ? each), not pasted into the SQL text: {sql!r}, "
        f"parameters {params}")


@pytest.mark.points(5)
def test_graphql_asks_the_database_twice_not_forty_one_times(student: ModuleType) -> None:
    """POST /graphql for 20 products and their reviews: with your loader at most 3 database
    queries (naive: 41), and the same answer as the sandbox's own loader."""
    want, _ = graphql(None, NESTED)
    naive, naive_queries = graphql(None, NESTED, {"graphql.loader": "naive"})
    got, queries = graphql(student, NESTED)
    assert got == want == naive, "with your loader the answer differs from the sandbox's own"
    assert queries <= 3, (
        f"the nested query took {queries} database queries with your loader; the naive way "
        f"takes {naive_queries}, one loader fetch per list should take 2")
