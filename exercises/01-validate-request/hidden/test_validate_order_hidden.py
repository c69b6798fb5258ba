"""Hidden tests: ids too big for the database, and a few hundred generated bodies."""

from __future__ import annotations

import random
from types import ModuleType
from typing import Any

import pytest

from sandbox.grading.harness import make_sandbox, send
from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_validate_order.py")


@pytest.mark.points(2)
def test_an_id_too_big_for_the_database_is_a_422_not_a_500(student: ModuleType) -> None:
    """A product_id of 2**63 (too big for SQLite) gets 422 from validation, not a 500 from the database."""
    sb = make_sandbox(plug=("validation", student))
    for body in ({"items": [{"product_id": 2**63, "quantity": 1}]},
                 {"items": [{"product_id": 1, "quantity": 2**63 + 1}]}):
        response = send(sb, "POST", "/orders", json=body, user="grace@shop.test")
        assert response.status_code == 422, (
            f"{body} must be refused with 422; the shop answered {response.status_code}: "
            f"{response.text[:200]}")


def reference(body: Any) -> list[str]:
    """The field paths a correct validator names (the rules in the README, in plain code)."""
    if not isinstance(body, dict):
        return ["body"]
    out = [str(k) for k in body if k != "items"]
    items = body.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= 20:
        return sorted([*out, "items"])
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            out.append(f"items[{i}]")
            continue
        for name, top in (("product_id", 2**62), ("quantity", 100)):
            value = item.get(name)
            whole = type(value) is int or (type(value) is float and value.is_integer())
            if not whole or not 1 <= value <= top:
                out.append(f"items[{i}].{name}")
        out += [f"items[{i}].{k}" for k in item if k not in ("product_id", "quantity")]
    return sorted(out)


def random_body(rng: random.Random) -> Any:
    values: list[Any] = [1, 5, 100, 101, 0, -1, 2**62, 2**62 + 1, 2.0, 2.5, 101.0, "7", True, None, [], {}]

    def item() -> Any:
        if rng.random() < 0.1:
            return rng.choice(["x", 3, None, []])
        entry = {}
        for name in ("product_id", "quantity"):
            if rng.random() < 0.85:
                entry[name] = rng.choice(values) if rng.random() < 0.3 else rng.randint(1, 99)
        if rng.random() < 0.1:
            entry[rng.choice(["price", "colour", "qty"])] = 1
        return entry

    roll = rng.random()
    if roll < 0.05:
        return rng.choice([None, "order", 3, [1]])
    body: dict[str, Any] = {}
    if roll > 0.1:
        body["items"] = [item() for _ in range(rng.choice([0, 1, 2, 3, 5, 21]))]
    if rng.random() < 0.1:
        body["items"] = rng.choice(["many", 4, {"product_id": 1}])
    if rng.random() < 0.15:
        body[rng.choice(["note", "Items", "user_id"])] = "x"
    return body


@pytest.mark.points(3)
def test_three_hundred_generated_bodies(student: ModuleType) -> None:
    """Seeded random bodies, good and bad: the fields named match the rules every time."""
    rng = random.Random(2024)
    for _ in range(300):
        body = random_body(rng)
        visible.expect(student, body, reference(body))
