"""Graded tests for keyset pagination: right pages, a right cursor, then deep pages in the shop."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from sandbox.backend.database import Database
from sandbox.backend.repositories import Repositories
from sandbox.grading.harness import make_sandbox, send
from sandbox.runtime import DATA_SEED
from sandbox.tracing import Span, Trace


def shop() -> Database:
    """A private in-memory copy of the seeded shop (5,000 products in 8 categories)."""
    return Database.open_seeded(DATA_SEED)


def listing(db: Database, category: str | None) -> list[int]:
    """Every product id of the listing, in order, as it is now."""
    where, params = ("WHERE category = ?", (category,)) if category else ("", ())
    return [r[0] for r in db.conn.execute(f"SELECT id FROM products {where} ORDER BY id", params)]


def ids(products: Any) -> list[Any]:
    return [p.get("id") if isinstance(p, dict) else p for p in products]


def page(student: ModuleType, db: Database, category: str | None, limit: int,
         after: int | None) -> tuple[list[dict[str, Any]], int | None]:
    answer = student.products_page(db.conn, category, limit, after)
    assert isinstance(answer, tuple) and len(answer) == 2, (
        f"products_page must return a pair (products, next_after); it returned {answer!r}")
    products, next_after = answer
    assert isinstance(products, list), f"the products must be a list, not {type(products)}"
    return products, next_after


@pytest.mark.points(3)
def test_the_first_pages(student: ModuleType) -> None:
    """The first page, the page after it, and a category's first page are the right products."""
    db = shop()
    own = Repositories(db).products
    first, cursor = page(student, db, None, 5, None)
    assert first == own.page_offset(None, 5, 0), (
        f"the first 5 products are ids 1 to 5 with all their columns; you returned {ids(first)}"
        + (f", e.g. {first[0]}" if first else ""))
    assert cursor == 5, f"after a page ending with product 5 the next cursor is 5, not {cursor!r}"
    second, cursor = page(student, db, None, 5, 5)
    assert ids(second) == [6, 7, 8, 9, 10], (
        f"the page after cursor 5 must be ids 6 to 10; you returned {ids(second)}")
    assert cursor == 10
    books, cursor = page(student, db, "books", 4, None)
    want = own.page_offset("books", 4, 0)
    assert books == want, (
        f"the first 4 books are {ids(want)}; you returned {ids(books)} (only products of the "
        "category, still in id order)")
    later, _ = page(student, db, "books", 4, cursor)
    assert later == own.page_after("books", 4, want[-1]["id"]), (
        f"the next 4 books after id {cursor} are {ids(own.page_after('books', 4, want[-1]['id']))};"
        f" you returned {ids(later)}")


@pytest.mark.points(2)
def test_the_last_page_has_no_next_cursor(student: ModuleType) -> None:
    """next_after is None exactly when no product follows the page (even when the page is full)."""
    db = shop()
    toys = listing(db, "toys")  # 625 products
    products, cursor = page(student, db, "toys", 25, toys[-51])
    assert ids(products) == toys[-50:-25] and cursor == toys[-26], (
        f"25 toys after id {toys[-51]}: ids {toys[-50]}..{toys[-26]}, and the cursor "
        f"{toys[-26]} since more follow; you returned {len(products)} products and cursor "
        f"{cursor!r}")
    products, cursor = page(student, db, "toys", 25, toys[-26])
    assert ids(products) == toys[-25:], (
        f"the last 25 toys are ids {toys[-25]}..{toys[-1]}; you returned {ids(products)}")
    assert cursor is None, (
        f"no product follows the last toy, yet the cursor is {cursor!r}: a client would ask for "
        "one more, empty page. Tell whether more follow without a second statement")
    products, cursor = page(student, db, "toys", 25, toys[-1])
    assert (products, cursor) == ([], None), "after the last product: no products, no cursor"


def walk(student: ModuleType, db: Database, category: str,
         limit: int) -> tuple[list[int], list[int]]:
    """Fetch every page of `category`, changing the shop between fetches as real shops change:
    new products arrive, and a product already shown moves to another category. Returns the
    ids of every page in turn, and the ids moved out of the category."""
    seen: list[int] = []
    moved: list[int] = []
    cursor: int | None = None
    for number in range(200):
        products, cursor = page(student, db, category, limit, cursor)
        seen += ids(products)
        if cursor is None:
            return seen, moved
        if number < 8:
            for new_category in (category, "toys"):
                db.conn.execute(
                    "INSERT INTO products (sku, name, category, price_cents, stock) "
                    "VALUES (?, 'new arrival', ?, 1000, 5)", (f"NEW-{number}-{new_category}",
                                                              new_category))
            db.conn.execute("UPDATE products SET category = 'toys' WHERE id = ?", (seen[number],))
            moved.append(seen[number])
    raise AssertionError(f"200 pages of {limit} and still a next cursor: the walk never ends")


@pytest.mark.points(4)
def test_every_page_while_the_shop_changes(student: ModuleType) -> None:
    """Walking all pages while products are added and moved: each product once, none missed."""
    db = shop()
    got, moved = walk(student, db, "books", 40)
    doubles = sorted({i for i in got if got.count(i) > 1})
    assert not doubles, f"these products came on two pages: {doubles[:10]}"
    assert got == sorted(got), "the pages must follow one another in id order"
    want = sorted(set(listing(db, "books")) | set(moved))
    missed = sorted(set(want) - set(got))
    assert not missed, (
        f"{len(missed)} books never appeared on any page (first: {missed[:5]}). While the pages "
        "were read, products already shown moved to another category and new ones arrived; "
        "a page that starts after the last id returned cannot skip a row because of that")
    extra = sorted(set(got) - set(want))
    assert not extra, f"these products are not books and never were: {extra[:10]}"


def trace_of(response: Any) -> Trace:
    trace = response.extensions["sandbox.trace"]
    assert isinstance(trace, Trace)
    return trace


def page_statements(response: Any) -> list[Span]:
    """The database statements of the listing's repository span in one request's trace."""
    found = [s for s in trace_of(response).find("repository")
             if s.name.startswith("repository.products.page_")]
    assert len(found) == 1, "a listing request reads one page"
    return [s for _, s in found[0].walk() if s.name == "db.query"]


@pytest.mark.points(4)
def test_a_deep_page_through_the_sandbox(student: ModuleType) -> None:
    """GET /products?after=4900 with your query in the shop: the sandbox's page, few rows read."""
    mine_sb = make_sandbox(plug=("keyset_page", student))
    own_sb = make_sandbox()
    path = "/products?after=4900&limit=20"
    mine, own = send(mine_sb, "GET", path), send(own_sb, "GET", path)
    assert mine.status_code == 200, f"GET {path} answered {mine.status_code}: {mine.text[:300]}"
    assert mine.json() == own.json(), (
        f"GET {path} with your query answered products {ids(mine.json().get('items', []))}; the "
        f"sandbox's own answer is {ids(own.json()['items'])}")
    sent = page_statements(mine)
    assert len(sent) == 1, f"your page took {len(sent)} statements; it must take one"
    keyset_rows = sent[0].attrs["db.rows_scanned"]
    by_offset = send(mine_sb, "GET", "/products?offset=4900&limit=20")
    offset_rows = page_statements(by_offset)[0].attrs["db.rows_scanned"]
    assert keyset_rows * 20 <= offset_rows, (
        f"the same deep page took about {offset_rows:,} rows examined by OFFSET and "
        f"{keyset_rows:,} by your query; a keyset page seeks to its first row and reads only "
        f"the page (plan: {sent[0].attrs['db.plan']})")
