"""Graded tests for the order validator: first on its own, then inside the sandbox's POST /orders."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from sandbox.grading.harness import make_sandbox, send

GOOD = {"items": [{"product_id": 42, "quantity": 2}, {"product_id": 7, "quantity": 1}]}


def fields(student: ModuleType, body: Any) -> list[str]:
    """The field paths `validate_order` names for `body`, sorted, after checking its shape."""
    found = student.validate_order(body)
    assert isinstance(found, list), (
        f"validate_order must return a list of (field, message) pairs; it returned {found!r}")
    for problem in found:
        assert (isinstance(problem, tuple | list) and len(problem) == 2
                and all(isinstance(part, str) and part for part in problem)), (
            f"each problem is a pair of two non-empty strings (field, message); got {problem!r}")
    paths = sorted(field for field, _ in found)
    assert len(paths) == len(set(paths)), (
        f"report at most one problem per field; these fields were named twice or more: "
        f"{sorted({p for p in paths if paths.count(p) > 1})}")
    return paths


def expect(student: ModuleType, body: Any, wanted: list[str]) -> None:
    got = fields(student, body)
    assert got == sorted(wanted), (
        f"for the body {body!r}\nthe fields with a problem are {sorted(wanted)},\n"
        f"but validate_order named {got}")


@pytest.mark.points(2)
def test_good_orders_have_no_problems(student: ModuleType) -> None:
    """Valid bodies (one line, twenty lines, the largest quantity) get an empty list."""
    expect(student, GOOD, [])
    expect(student, {"items": [{"product_id": 1, "quantity": 100}]}, [])
    expect(student, {"items": [{"quantity": 1, "product_id": n} for n in range(1, 21)]}, [])


@pytest.mark.points(1)
def test_a_body_that_is_not_an_object(student: ModuleType) -> None:
    """A list, a string, a number or null as the whole body is one problem: "body"."""
    for body in ([GOOD], "items", 42, None):
        expect(student, body, ["body"])


@pytest.mark.points(2)
def test_items_must_be_a_list_of_one_to_twenty(student: ModuleType) -> None:
    """A missing, non-list, empty or too long "items" is one problem for "items" alone."""
    line = {"product_id": 1, "quantity": 1}
    for body in ({}, {"items": None}, {"items": line}, {"items": []}, {"items": [line] * 21}):
        expect(student, body, ["items"])


@pytest.mark.points(3)
def test_numbers_must_be_whole_and_in_range(student: ModuleType) -> None:
    """product_id and quantity: 3 and 3.0 pass; missing, 0, too big, 2.5, "3", true, null fail."""
    bad_values: list[Any] = [0, -3, 2.5, 0.0, 100.5, "3", True, None, [1], {"n": 1}]
    for value in bad_values:
        expect(student, {"items": [{"product_id": value, "quantity": 1}]},
               ["items[0].product_id"])
        expect(student, {"items": [{"product_id": 1, "quantity": value}]}, ["items[0].quantity"])
    expect(student, {"items": [{"product_id": 3.0, "quantity": 2.0}]}, [])
    expect(student, {"items": [{"product_id": 1, "quantity": 101}]}, ["items[0].quantity"])
    expect(student, {"items": [{"product_id": 1, "quantity": 101.0}]}, ["items[0].quantity"])
    expect(student, {"items": [{"product_id": 2**62 + 1, "quantity": 1}]},
           ["items[0].product_id"])
    expect(student, {"items": [{"quantity": 1}, {"product_id": 5}]},
           ["items[0].product_id", "items[1].quantity"])


@pytest.mark.points(3)
def test_every_problem_is_reported_at_once(student: ModuleType) -> None:
    """One body with many problems: each bad field is named, with its index, none is missed."""
    body = {
        "items": [
            {"product_id": 42, "quantity": 2},
            {"product_id": "42", "quantity": 0},
            "a pen",
            {"product_id": 9, "quantity": 1, "colour": "red"},
        ],
        "coupon": "SAVE10",
    }
    expect(student, body, ["items[1].product_id", "items[1].quantity", "items[2]",
                           "items[3].colour", "coupon"])


def order_count(sb: Any) -> int:
    return int(sb.db.query("SELECT count(*) FROM orders")[0][0])


@pytest.mark.points(4)
def test_the_shop_answers_422_with_your_list(student: ModuleType) -> None:
    """Plugged into POST /orders: a bad body gets 422 listing your fields; a good one places one order."""
    sb = make_sandbox(plug=("validation", student))
    before = order_count(sb)
    bad = {"items": [{"product_id": 0, "quantity": 1}, {"product_id": 3}], "note": "hi"}
    response = send(sb, "POST", "/orders", json=bad, user="grace@shop.test")
    assert response.status_code == 422, (
        f"a body with bad fields must get 422 Unprocessable Content; the shop answered "
        f"{response.status_code}: {response.text[:300]}")
    error = response.json()["error"]
    assert error["code"] == "validation_failed" and error["request_id"], (
        f"the sandbox's one error envelope was expected; got {response.json()}")
    listed = sorted(d["field"] for d in error.get("details", []))
    assert listed == ["items[0].product_id", "items[1].quantity", "note"], (
        f"the 422 must list exactly the bad fields; it listed {listed}")
    assert order_count(sb) == before, "a refused body must not place an order"
    response = send(sb, "POST", "/orders", json=GOOD, user="grace@shop.test")
    assert response.status_code == 201, (
        f"a valid order must go through (201 Created); the shop answered "
        f"{response.status_code}: {response.text[:300]}")
    assert order_count(sb) == before + 1, "a valid order places exactly one order"
