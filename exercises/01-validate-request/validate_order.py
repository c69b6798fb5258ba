"""Validation of the body of POST /orders: find every problem, name each field that has one.

A client sends, for example:

    {"items": [{"product_id": 42, "quantity": 2}, {"product_id": 7, "quantity": 1}]}

`validate_order` answers with a list of problems, each a pair (field path, message):

    [("items[1].quantity", "must be at least 1"), ("coupon", "is not a known field")]

An empty list means the body is fine. The sandbox turns a non-empty list into a
422 response whose error envelope lists each field, so the client can fix them all at once.
"""

from __future__ import annotations

from typing import Any

MAX_ITEMS = 20  # lines in one order
MAX_QUANTITY = 100  # of one product in one line
MAX_ID = 2**62  # the largest id the database can hold (SQLite integers are 64-bit)

Problem = tuple[str, str]  # (field path, message), e.g. ("items[0].quantity", "is required")


def validate_order(body: Any) -> list[Problem]:
    """Every problem with an order body; an empty list when it is valid.

    The rules:
      - the body is a JSON object; otherwise the one problem is ("body", ...);
      - "items" is required and is a list of 1 to MAX_ITEMS entries; otherwise that is the one
        problem for "items" and its entries are not looked at;
      - each entry items[i] is an object; otherwise the problem is ("items[i]", ...);
      - in each entry, "product_id" (1 to MAX_ID) and "quantity" (1 to MAX_QUANTITY) are
        required whole numbers: 3 is one, and so is 3.0 (JSON has one kind of number,
        and JSON Schema's "integer" is any number without a fraction), but 2.5, "3" and
        true are not;
      - a field the order does not know, at the top or in an entry, is a problem too
        ("coupon", "items[0].colour"): a typo must not be silently ignored.

    Report every problem, at most one per field, in any order. The messages are yours to
    word; say what the field must be ("must be a whole number from 1 to 100").
    """
    # TODO: check the body is an object, then "items", then each entry and its two numbers
    # TODO: report unknown fields as well, and return every problem found
    raise NotImplementedError("not written yet: see the TODO above")

