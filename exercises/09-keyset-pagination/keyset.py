"""Keyset pagination for the product listing: each page starts right after the last product
of the page before, so the database seeks to it through the primary key instead of counting
its way past every earlier row (which is what OFFSET does).

`conn` behaves like a sqlite3 connection: call `conn.execute(sql, params)` and read the rows
with `.fetchall()`, `.fetchone()` or a `for` loop; each row is a tuple. (Inside the sandbox
`conn` is a thin wrapper that traces and counts your statements; nothing else is offered.)
"""

from __future__ import annotations

from typing import Any

# The products table's columns, in this order; each product in a page is a dict of these.
PRODUCT_COLUMNS = ("id", "sku", "name", "category", "price_cents", "stock", "description",
                   "updated_at", "rating_count", "rating_sum")


def as_product(row: tuple[Any, ...]) -> dict[str, Any]:
    """One row of `SELECT id, sku, ... (PRODUCT_COLUMNS in order)` as a dict."""
    return dict(zip(PRODUCT_COLUMNS, row, strict=True))


def products_page(conn: Any, category: str | None, limit: int,
                  after: int | None) -> tuple[list[dict[str, Any]], int | None]:
    """One page of the listing, in id order.

    Args:
        conn: the shop's database.
        category: only products of this category; None for all products.
        limit: the most products a page holds.
        after: the cursor: the page starts with the first product whose id is greater than
            this. None for the first page.

    Returns:
        (products, next_after): up to `limit` products as dicts of PRODUCT_COLUMNS, and the
        cursor for the following page, or None when no product comes after this page.

    Use ONE statement, and no OFFSET.
    """
    # TODO: select the products after the cursor (and in the category, if given), in id order
    # TODO: find out in that same statement whether any product follows this page
    # TODO: return the page and the cursor for the next one (None after the last page)
    raise NotImplementedError("not written yet: see the TODO above")
