"""Graded tests for the idempotency store: on its own over an in-memory SQLite database, then
plugged into the shop's POST /orders with real retried requests."""

from __future__ import annotations

import sqlite3
from types import ModuleType
from typing import Any

import pytest

from sandbox.grading.harness import make_sandbox, send

BODY = {"items": [{"product_id": 42, "quantity": 2}, {"product_id": 7, "quantity": 1}]}
RESPONSE = {"id": 501, "status": "paid", "total_cents": 4200,
            "items": [{"product_id": 42, "quantity": 2}, {"product_id": 7, "quantity": 1}]}


def store(student: ModuleType, conn: sqlite3.Connection | None = None) -> Any:
    return student.IdempotencyStore(conn or sqlite3.connect(":memory:", isolation_level=None))


def lookup(s: Any, user_id: int, key: str, body: Any) -> Any:
    return s.lookup(user_id, key, body)


def refused(student: ModuleType, s: Any, user_id: int, key: str, body: Any, why: str) -> None:
    try:
        answer = s.lookup(user_id, key, body)
    except student.KeyReused:
        return
    raise AssertionError(f"{why}: lookup must raise KeyReused; it returned {answer!r}")


@pytest.mark.points(1)
def test_a_new_key_is_not_a_retry(student: ModuleType) -> None:
    """lookup of a key never saved returns None: a new request, to be carried out."""
    answer = lookup(store(student), 2, "k-1", BODY)
    assert answer is None, f"nothing was saved under this key yet: None expected, got {answer!r}"


@pytest.mark.points(3)
def test_a_retry_gets_the_first_response(student: ModuleType) -> None:
    """After save, a lookup with the same user, key and body returns (status, response)."""
    s = store(student)
    s.save(2, "k-1", BODY, 201, RESPONSE)
    answer = lookup(s, 2, "k-1", BODY)
    assert answer is not None, "the same request again is a retry: lookup must not return None"
    assert tuple(answer) == (201, RESPONSE), (
        f"a retry must get back exactly the saved (201, response); it got {answer!r}")
    assert tuple(lookup(s, 2, "k-1", BODY)) == (201, RESPONSE), "and again on the next retry"


@pytest.mark.points(2)
def test_the_same_body_written_differently_is_the_same_request(student: ModuleType) -> None:
    """Keys in another order inside the body are still the same request: it is replayed."""
    s = store(student)
    s.save(2, "k-1", BODY, 201, RESPONSE)
    same = {"items": [{"quantity": 2, "product_id": 42}, {"quantity": 1, "product_id": 7}]}
    try:
        answer = lookup(s, 2, "k-1", same)
    except student.KeyReused:
        raise AssertionError(
            f"{same} is the same JSON value as {BODY} (only its keys' order differs), but "
            f"lookup raised KeyReused: make the fingerprint ignore the order of keys") from None
    assert answer is not None and tuple(answer) == (201, RESPONSE), (
        f"{same} is the same JSON value as {BODY} (only its keys' order differs): it must be "
        f"replayed; lookup returned {answer!r}")


@pytest.mark.points(2)
def test_a_key_reused_with_another_body_is_refused(student: ModuleType) -> None:
    """The same key with a different body raises KeyReused: it is a client bug, not a retry."""
    s = store(student)
    s.save(2, "k-1", BODY, 201, RESPONSE)
    refused(student, s, 2, "k-1", {"items": [{"product_id": 42, "quantity": 3}]},
            "the same key for a different quantity")
    refused(student, s, 2, "k-1", {"items": BODY["items"][:1]}, "the same key for fewer items")


@pytest.mark.points(2)
def test_keys_belong_to_one_user(student: ModuleType) -> None:
    """Another user's identical key is a different key: nothing to replay, nothing refused."""
    s = store(student)
    s.save(2, "k-1", BODY, 201, RESPONSE)
    answer = lookup(s, 3, "k-1", BODY)
    assert answer is None, (
        f"user 3 never used 'k-1' (user 2 did): None expected, but lookup returned {answer!r}; "
        f"replaying user 2's order to user 3 would show them someone else's order")
    other = {"id": 502, "status": "paid"}
    s.save(3, "k-1", {"items": [{"product_id": 1, "quantity": 1}]}, 201, other)
    assert tuple(lookup(s, 2, "k-1", BODY)) == (201, RESPONSE), "user 2's answer is unchanged"
    assert tuple(lookup(s, 3, "k-1", {"items": [{"product_id": 1, "quantity": 1}]})) == (
        201, other), "user 3 gets their own saved answer"


@pytest.mark.points(2)
def test_the_keys_live_in_the_database(student: ModuleType) -> None:
    """Two stores on one database (two app instances) see the same keys."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    first, second = store(student, conn), store(student, conn)
    first.save(2, "k-1", BODY, 201, RESPONSE)
    answer = lookup(second, 2, "k-1", BODY)
    assert answer is not None and tuple(answer) == (201, RESPONSE), (
        "a retry may reach another app instance: keep the keys in the database, not in the "
        f"object; the second store answered {answer!r}")


def order_count(sb: Any) -> int:
    return int(sb.db.query("SELECT count(*) FROM orders")[0][0])


def post_order(sb: Any, body: Any, key: str, user: str = "grace@shop.test") -> Any:
    return send(sb, "POST", "/orders", json=body, headers={"Idempotency-Key": key}, user=user)


@pytest.mark.points(4)
def test_the_shop_places_one_order_however_often_it_is_retried(student: ModuleType) -> None:
    """Through the shop: three tries with one key make one order; the key with another body gets 422."""
    sb = make_sandbox(plug=("idempotency", student))
    before = order_count(sb)
    answers = [post_order(sb, BODY, "order-5f2c") for _ in range(3)]
    statuses = [a.status_code for a in answers]
    assert statuses == [201, 201, 201], (
        f"each try must be answered 201; the shop answered {statuses}: {answers[-1].text[:300]}")
    assert order_count(sb) == before + 1, (
        f"three tries with one Idempotency-Key must place one order; they placed "
        f"{order_count(sb) - before}")
    ids = [a.json()["id"] for a in answers]
    assert len(set(ids)) == 1, f"every try must get the same order back; the ids were {ids}"
    first = {k: v for k, v in answers[0].json().items() if k != "replayed"}
    retry = {k: v for k, v in answers[2].json().items() if k != "replayed"}
    assert retry == first, f"a retry must get the first response back:\n{first}\n{retry}"
    other = post_order(sb, {"items": [{"product_id": 42, "quantity": 9}]}, "order-5f2c")
    assert other.status_code == 422, (
        f"the key again with a different body must be refused with 422; the shop answered "
        f"{other.status_code}: {other.text[:300]}")
    assert order_count(sb) == before + 1, "a refused request must not place an order"
