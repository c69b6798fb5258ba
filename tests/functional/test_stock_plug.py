"""The `stock` plug point (exercise oversell-proof-stock) against a dishonest take_order:
statements outside `products`, shapes that are not a generator's, loops and wrong answers.
Each attempt must fail the request with a clear message in the log, and change nothing the
flash sale is judged by."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sandbox.grading.harness import make_sandbox, send
from sandbox.runtime import Sandbox


def plugged(take_order: Callable[..., Any]) -> Sandbox:
    module = types.ModuleType("student_stock")
    module.take_order = take_order  # type: ignore[attr-defined]
    return make_sandbox({"auth.mode": "off"}, plug=("stock", module))


def order(sb: Sandbox) -> int:
    return send(sb, "POST", "/orders", headers={"X-User-Id": "5"},
                json={"items": [{"product_id": 3, "quantity": 1}]}).status_code


def last_error(sb: Sandbox) -> str:
    return str([e for e in sb.ctx.log if e["level"] == "error"][-1]["exception"])


def counts(sb: Sandbox) -> tuple[Any, ...]:
    return tuple(sb.db.query_one(
        "SELECT (SELECT COUNT(*) FROM orders), (SELECT SUM(quantity) FROM order_items), "
        "(SELECT SUM(stock) FROM products)"))


@pytest.mark.parametrize("sql", [
    "UPDATE order_items SET quantity = 0",
    "INSERT INTO products (id, name) VALUES (999999, 'x')",
    "ATTACH DATABASE '/tmp/stolen.db' AS stolen",
    "BEGIN IMMEDIATE",
    "DROP TABLE order_items",
])
def test_statements_outside_products_are_refused(sql: str) -> None:
    def take_order(lines: list[list[int]]) -> Iterator[Any]:
        yield (sql, ())
        return {3: 1}

    sb = plugged(take_order)
    before = counts(sb)
    assert order(sb) == 500
    assert "not authorized" in last_error(sb) and "UPDATE products" in last_error(sb)
    assert counts(sb) == before
    assert sb.db.query_one("SELECT COUNT(*) FROM order_items")[0] > 0  # the table is still there


def test_not_a_generator_is_explained() -> None:
    sb = plugged(lambda lines: {3: 1})
    assert order(sb) == 500
    assert "must be a generator" in last_error(sb)


@pytest.mark.parametrize("step", ["UPDATE products SET stock = 0", (1, ())])
def test_malformed_statements_are_explained(step: Any) -> None:
    def take_order(lines: list[list[int]]) -> Iterator[Any]:
        yield step

    sb = plugged(take_order)
    assert order(sb) == 500
    assert "must yield (sql, params)" in last_error(sb)


@pytest.mark.parametrize("answer", [{4: 100}, {3: "free"}])
def test_prices_for_other_products_are_refused(answer: Any) -> None:
    def take_order(lines: list[list[int]]) -> Iterator[Any]:
        yield ("SELECT 1", ())
        return answer

    sb = plugged(take_order)
    before = counts(sb)
    assert order(sb) == 500
    assert "must return None or {product_id: unit price}" in last_error(sb)
    assert counts(sb)[:2] == before[:2]  # no order was recorded


def test_an_endless_order_is_stopped() -> None:
    def take_order(lines: list[list[int]]) -> Iterator[Any]:
        while True:
            yield ("SELECT stock FROM products WHERE id = ?", (3,))

    sb = plugged(take_order)
    assert order(sb) == 500
    assert "more than 50 statements" in last_error(sb)


def test_a_refusal_is_a_409_with_the_stock_left() -> None:
    def take_order(lines: list[list[int]]) -> Iterator[Any]:
        yield ("SELECT 1", ())
        return None

    sb = plugged(take_order)
    sb.db.write("UPDATE products SET stock = 0 WHERE id = 3")
    answer = send(sb, "POST", "/orders", headers={"X-User-Id": "5"},
                  json={"items": [{"product_id": 3, "quantity": 1}]})
    assert answer.status_code == 409 and "Only 0 of product 3 left" in answer.text
