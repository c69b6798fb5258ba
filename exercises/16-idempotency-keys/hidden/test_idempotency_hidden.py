"""Hidden tests: two customers with one key, stock taken once, a status that is not 201."""

from __future__ import annotations

from types import ModuleType

import pytest

from sandbox.grading.harness import make_sandbox, send
from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_idempotency.py")


@pytest.mark.points(1)
def test_the_saved_status_comes_back(student: ModuleType) -> None:
    """The status saved with a response is the one returned (a 200 stays a 200)."""
    s = visible.store(student)
    s.save(9, "refund-1", {"amount": 5}, 200, {"ok": True})
    assert tuple(visible.lookup(s, 9, "refund-1", {"amount": 5})) == (200, {"ok": True})


@pytest.mark.points(3)
def test_two_customers_with_one_key_through_the_shop(student: ModuleType) -> None:
    """Through the shop: Grace and Ada may both use key 'cart-1'; Grace's retries take stock once."""
    sb = make_sandbox(plug=("idempotency", student))

    def stock(product_id: int) -> int:
        return int(send(sb, "GET", f"/products/{product_id}").json()["stock"])

    before = stock(42)
    for _ in range(3):
        answer = visible.post_order(sb, {"items": [{"product_id": 42, "quantity": 2}]}, "cart-1")
        assert answer.status_code == 201, f"grace's tries must get 201: {answer.text[:200]}"
    assert stock(42) == before - 2, (
        f"three tries of one order of 2 must take 2 from stock; stock went {before} -> "
        f"{stock(42)}")
    ada = visible.post_order(sb, {"items": [{"product_id": 42, "quantity": 1}]}, "cart-1",
                             user="ada@shop.test")
    assert ada.status_code == 201, (
        f"ada's first use of 'cart-1' is a new order (keys are per user): 201 expected, the "
        f"shop answered {ada.status_code}: {ada.text[:200]}")
    assert ada.json()["customer_id"] == 1, "ada must get her own order, not grace's"
    assert stock(42) == before - 3
