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
    # BEGIN SOLUTION
    # TODO: one UPDATE that only changes the row when enough stock is left (a WHERE on it),
    # TODO: then tell from the answer whether it did: rowcount, or the rows of a RETURNING
    answer = yield (
        # The guard sits in the statement itself: the database checks the stock and takes
        # it in one step, so no other order can act between the check and the change.
        "UPDATE products SET stock = stock - ? WHERE id = ? AND stock >= ? "
        "RETURNING price_cents",
        (quantity, product_id, quantity),
    )
    if answer["rowcount"] != 1:
        return None  # too few left (or no such product): nothing was changed
    return int(answer["rows"][0][0])
    # END SOLUTION


def take_stock_compare_and_set(product_id: int, quantity: int, tries: int = 5) -> Steps:
    """The other cure: read the stock, then write the new number only if the stock is still
    what you read (compare-and-set, or optimistic locking), and read again when it is not.

    Returns the unit price when the stock was taken; None when too few units were left, or
    when `tries` attempts all lost their race.
    """
    # BEGIN SOLUTION
    # TODO: read the stock and price; too few left (or no row) -> None
    # TODO: write stock - quantity WHERE the stock is still the number you read
    # TODO: rowcount 1: taken; 0: someone changed it in between, so read again (at most `tries`)
    for _ in range(tries):
        answer = yield ("SELECT stock, price_cents FROM products WHERE id = ?", (product_id,))
        if not answer["rows"] or answer["rows"][0][0] < quantity:
            return None
        stock, price = answer["rows"][0]
        answer = yield ("UPDATE products SET stock = ? WHERE id = ? AND stock = ?",
                        (stock - quantity, product_id, stock))
        if answer["rowcount"] == 1:
            return int(price)  # nobody moved the stock between our read and our write
    return None
    # END SOLUTION


def give_back(product_id: int, quantity: int) -> Steps:
    """Put `quantity` units back on the shelf (an order that could not be completed)."""
    # BEGIN SOLUTION
    # TODO: add the units back in one statement, relative to the stock as it is now
    # Relative ("stock + ?"), never "stock = <a number read earlier>": others may have
    # taken or returned units since.
    yield ("UPDATE products SET stock = stock + ? WHERE id = ?", (quantity, product_id))
    # END SOLUTION


def take_order(lines: list[list[int]]) -> Steps:
    """Take the stock of every line of an order, or of none.

    Args:
        lines: [product_id, quantity] pairs, sorted by product id.

    Returns:
        {product_id: unit price} when every line's stock was taken; None when some product
        had too little, after giving back what the earlier lines took.
    """
    # BEGIN SOLUTION
    # TODO: take each line's stock in turn with take_stock (`price = yield from ...`)
    # TODO: on the first line that cannot be had, give back every line taken so far
    # TODO: and return None; otherwise return each product's unit price
    prices: dict[int, int] = {}
    taken: list[tuple[int, int]] = []
    for product_id, quantity in lines:
        price = yield from take_stock(product_id, quantity)
        if price is None:
            # All or nothing: statements here commit one by one, so undo by hand what this
            # order already took, or those units would be lost to every other shopper.
            for earlier, units in reversed(taken):
                yield from give_back(earlier, units)
            return None
        taken.append((product_id, quantity))
        prices[product_id] = price
    return prices
    # END SOLUTION
