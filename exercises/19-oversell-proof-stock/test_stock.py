"""Graded tests for oversell-proof stock: one order, two orders racing, then the flash sale."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from sandbox.backend.database import Database
from sandbox.grading.harness import make_sandbox, scenario
from sandbox.plugs.stock import run_statement

Steps = Any  # a generator (the student's, behind a proxy)


def shelf(**stock: int) -> Database:
    """A products table with these stocks (keys p1, p2...: product 1, 2...), 500 cents each."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, stock INTEGER, "
                 "price_cents INTEGER)")
    for name, units in stock.items():
        conn.execute("INSERT INTO products VALUES (?, ?, ?, 500)", (int(name[1:]), name, units))
    return Database(conn)


def stock_of(db: Database, product_id: int) -> int:
    return int(db.query_one("SELECT stock FROM products WHERE id = ?", (product_id,))[0])


def interleave(db: Database, *orders: Steps,
               between: Callable[[], None] | None = None) -> list[Any]:
    """Run several orders' statements in turns, one statement each per round, as requests
    waiting on the database do; `between` runs before every statement. Each order's result."""
    results: list[Any] = [None] * len(orders)
    answers: list[Any] = [None] * len(orders)
    running = dict(enumerate(orders))
    for _ in range(200):
        if not running:
            return results
        for i, steps in list(running.items()):
            try:
                sql, params = steps.send(answers[i])
            except StopIteration as stop:
                results[i] = stop.args[0] if stop.args else None
                del running[i]
                continue
            if between is not None:
                between()
            answers[i] = run_statement(db, sql, tuple(params))
    raise AssertionError("the orders did not finish within 200 rounds of statements")


def alone(db: Database, steps: Steps) -> Any:
    return interleave(db, steps)[0]


def read_then_write(lines: list[list[int]]) -> Iterator[Any]:
    """The naive order path (this test's own, to show the flash sale catches it)."""
    prices = {}
    for product_id, quantity in lines:
        answer = yield ("SELECT stock, price_cents FROM products WHERE id = ?", (product_id,))
        stock, price = answer["rows"][0]
        if stock < quantity:
            return None
        yield ("UPDATE products SET stock = ? WHERE id = ?", (stock - quantity, product_id))
        prices[product_id] = price
    return prices


@pytest.mark.points(2)
def test_taking_stock_returns_the_price(student: ModuleType) -> None:
    """take_stock(1, 3) with 10 left: returns the unit price, and 7 are left."""
    db = shelf(p1=10)
    price = alone(db, student.take_stock(1, 3))
    assert price == 500, f"take_stock must return the unit price (500) when it took the stock; got {price!r}"
    assert stock_of(db, 1) == 7, f"10 in stock, 3 taken: 7 should be left, not {stock_of(db, 1)}"


@pytest.mark.points(2)
def test_too_few_left_takes_nothing(student: ModuleType) -> None:
    """Asking for 3 when 2 are left, or for a product that does not exist, returns None."""
    db = shelf(p1=2)
    got = alone(db, student.take_stock(1, 3))
    assert got is None, f"only 2 left and 3 asked for: take_stock must return None, not {got!r}"
    assert stock_of(db, 1) == 2, f"a refused take must leave the stock alone; it is {stock_of(db, 1)}"
    got = alone(db, student.take_stock(99, 1))
    assert got is None, f"there is no product 99: take_stock must return None, not {got!r}"
    assert alone(db, student.take_stock(1, 2)) == 500 and stock_of(db, 1) == 0, (
        "taking exactly what is left must work, leaving 0")


@pytest.mark.points(3)
def test_two_shoppers_race_for_the_last_unit(student: ModuleType) -> None:
    """Two orders for the last unit, their statements interleaved: exactly one gets it."""
    db = shelf(p1=1)
    got = interleave(db, student.take_stock(1, 1), student.take_stock(1, 1))
    winners = [g for g in got if g is not None]
    assert len(winners) == 1, (
        f"one unit left, two orders whose statements ran in turns: exactly one may get it; "
        f"take_stock returned {got}. If both got it, the stock was read, then written back "
        "with a number computed from the old read: check and take in one statement")
    assert stock_of(db, 1) == 0, f"the stock should be 0 after the sale, not {stock_of(db, 1)}"


@pytest.mark.points(2)
def test_compare_and_set_tries_again(student: ModuleType) -> None:
    """Compare-and-set: two orders for 1 of 5, interleaved, both succeed (one reads again)."""
    db = shelf(p1=5)
    got = interleave(db, student.take_stock_compare_and_set(1, 1),
                     student.take_stock_compare_and_set(1, 1))
    assert got == [500, 500], (
        f"5 in stock and two orders for one each: both must get it, even though their reads "
        f"and writes interleave (the loser of the race reads again); got {got}")
    assert stock_of(db, 1) == 3, (
        f"two units were sold, so 3 must be left, not {stock_of(db, 1)}: a write must only "
        "succeed when the stock is still the number that was read (WHERE stock = ?)")
    last = shelf(p1=1)
    got = interleave(last, student.take_stock_compare_and_set(1, 1),
                     student.take_stock_compare_and_set(1, 1))
    assert sorted(got, key=str) == [500, None], f"one unit, two orders: one only; got {got}"


@pytest.mark.points(2)
def test_an_order_is_all_or_nothing(student: ModuleType) -> None:
    """An order of products 1 and 2 when 2 is short: None, and product 1's units go back."""
    db = shelf(p1=5, p2=1)
    got = alone(db, student.take_order([[1, 2], [2, 3]]))
    assert got is None, f"product 2 has 1 left and 3 were asked for: take_order must return None, not {got!r}"
    assert stock_of(db, 1) == 5, (
        f"the order failed, so the 2 units of product 1 it took must be given back: the stock "
        f"is {stock_of(db, 1)}, not 5")
    got = alone(db, student.take_order([[1, 2], [2, 1]]))
    assert got == {1: 500, 2: 500}, f"both lines can be had: expected {{1: 500, 2: 500}}, got {got!r}"
    assert (stock_of(db, 1), stock_of(db, 2)) == (3, 0)


def flash_sale(module: Any, requests: int = 100, seed: int = 7) -> dict[str, Any]:
    """The flash sale (25 units, a crowd ordering one each, really at once) with `module`'s
    take_order on the order path."""
    sb = make_sandbox({}, plug=("stock", module), seed=seed)
    return scenario(sb, "flash_sale", requests=requests)


class Naive:
    take_order = staticmethod(read_then_write)


def check_the_sale(student: ModuleType, seed: int = 7) -> None:
    naive = flash_sale(Naive, seed=seed)["flash_sale"]
    assert naive["units_oversold"] > 0, "the scenario must be able to oversell to mean anything"
    mine = flash_sale(student, seed=seed)
    sale = mine["flash_sale"]
    assert sale["units_oversold"] == 0, (
        f"the flash sale sold {sale['units_sold']} units of the 25 it had ({mine['status']}): "
        f"{sale['units_oversold']} oversold. Orders run at once, and each yield lets others in")
    assert sale["units_sold"] == 25 and sale["stock_left"] == 0, (
        f"with 100 shoppers for 25 units, all 25 must be sold and 0 left; sold "
        f"{sale['units_sold']}, left {sale['stock_left']} ({mine['status']})")


@pytest.mark.points(5)
def test_the_flash_sale_never_oversells(student: ModuleType) -> None:
    """The flash sale with your code on the order path: 25 units, 25 sold, none oversold."""
    check_the_sale(student)
