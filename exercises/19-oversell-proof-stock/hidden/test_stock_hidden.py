"""Hidden tests: longer orders, a compare-and-set that gives up, and another sale."""

from __future__ import annotations

from types import ModuleType

import pytest

from sandbox.grading.harness import make_sandbox, send
from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_stock.py")


@pytest.mark.points(2)
def test_a_long_order_gives_everything_back(student: ModuleType) -> None:
    """Three lines, the third short: the first two lines' units all go back."""
    db = visible.shelf(p1=4, p2=6, p3=2)
    assert visible.alone(db, student.take_order([[1, 3], [2, 5], [3, 4]])) is None
    left = [visible.stock_of(db, p) for p in (1, 2, 3)]
    assert left == [4, 6, 2], f"a failed order must leave every stock as it was; it is {left}"


@pytest.mark.points(2)
def test_compare_and_set_gives_up(student: ModuleType) -> None:
    """When the stock changes before every write, compare-and-set stops after `tries` reads."""
    db = visible.shelf(p1=100)
    reads: list[int] = []

    def someone_else_buys() -> None:  # before each statement, another shopper takes one
        reads.append(1)
        db.write("UPDATE products SET stock = stock - 1 WHERE id = 1")

    got = visible.interleave(db, student.take_stock_compare_and_set(1, 1, 3),
                             between=someone_else_buys)
    assert got == [None], f"every write lost its race: after 3 tries return None, not {got}"
    assert len(reads) == 6, f"3 tries are 3 reads and 3 writes; {len(reads)} statements ran"


@pytest.mark.points(2)
def test_another_sale_and_an_order_through_the_api(student: ModuleType) -> None:
    """Another crowd (seed 11) oversells nothing; a two-product order via the API is priced."""
    visible.check_the_sale(student, seed=11)
    sb = make_sandbox({"auth.mode": "off"}, plug=("stock", student))
    before = [send(sb, "GET", f"/products/{p}").json() for p in (3, 4)]
    answer = send(sb, "POST", "/orders", headers={"X-User-Id": "5"},
                  json={"items": [{"product_id": 3, "quantity": 1},
                                  {"product_id": 4, "quantity": 2}]})
    assert answer.status_code == 201, answer.text
    want = before[0]["price_cents"] + 2 * before[1]["price_cents"]
    assert answer.json()["total_cents"] == want, "the order is priced with the prices you returned"
    after = [send(sb, "GET", f"/products/{p}").json()["stock"] for p in (3, 4)]
    assert after == [before[0]["stock"] - 1, before[1]["stock"] - 2]
