"""Taking stock for an order without ever selling more than there is.

Each `yield (sql, params)` sends one statement to the database and hands you its answer,
`{"rows": [...], "rowcount": n}`. A yield is a round trip: while your statement travels,
other orders run theirs. So a SELECT followed by an UPDATE is two moments, and between them
the stock you read may already be gone. One UPDATE that checks and changes the stock at once
has no "between".
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

Statement = tuple[str, tuple[Any, ...]]
Answer = dict[str, Any]  # {"rows": [row tuples], "rowcount": rows an UPDATE changed, -1 for a read}
Steps = Generator[Statement, Answer, Any]


def take_stock(product_id: int, quantity: int) -> Steps:
    """Take `quantity` units of one product if at least that many are left.

    Returns the unit price (cents) when the stock was taken, None when too few units were
    left (or there is no such product); then the stock is unchanged.
    """
    # TODO: one UPDATE that only changes the row when enough stock is left (a WHERE on it),
    # TODO: then tell from the answer whether it did: rowcount, or the rows of a RETURNING
    raise NotImplementedError("not written yet: see the TODO above")


def take_stock_compare_and_set(product_id: int, quantity: int, tries: int = 5) -> Steps:
    """The other cure: read the stock, then write the new number only if the stock is still
    what you read (compare-and-set, or optimistic locking), and read again when it is not.

    Returns the unit price when the stock was taken; None when too few units were left, or
    when `tries` attempts all lost their race.
    """
    # TODO: read the stock and price; too few left (or no row) -> None
    # TODO: write stock - quantity WHERE the stock is still the number you read
    # TODO: rowcount 1: taken; 0: someone changed it in between, so read again (at most `tries`)
    raise NotImplementedError("not written yet: see the TODO above")


def give_back(product_id: int, quantity: int) -> Steps:
    """Put `quantity` units back on the shelf (an order that could not be completed)."""
    # TODO: add the units back in one statement, relative to the stock as it is now
    raise NotImplementedError("not written yet: see the TODO above")


def take_order(lines: list[list[int]]) -> Steps:
    """Take the stock of every line of an order, or of none.

    Args:
        lines: [product_id, quantity] pairs, sorted by product id.

    Returns:
        {product_id: unit price} when every line's stock was taken; None when some product
        had too little, after giving back what the earlier lines took.
    """
    # TODO: take each line's stock in turn with take_stock (`price = yield from ...`)
    # TODO: on the first line that cannot be had, give back every line taken so far
    # TODO: and return None; otherwise return each product's unit price
    raise NotImplementedError("not written yet: see the TODO above")
