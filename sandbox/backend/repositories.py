"""Repositories: the only code that knows SQL. Each method is one span of kind `repository`.

Services ask repositories for plain dicts and never see a cursor or a table name; swap SQLite
for another store and only this module changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any

from sandbox import tracing
from sandbox.backend.database import Database

REPOSITORY_CPU_MS = 0.01

USER_COLUMNS = ("id", "email", "name", "password_hash", "role", "created_at")
PRODUCT_COLUMNS = ("id", "sku", "name", "category", "price_cents", "stock", "description",
                   "updated_at", "rating_count", "rating_sum")
ORDER_COLUMNS = ("id", "customer_id", "status", "total_cents", "created_at")
ITEM_COLUMNS = ("order_id", "product_id", "quantity", "price_cents")
REVIEW_COLUMNS = ("id", "product_id", "user_id", "rating", "body", "created_at")


def _row(columns: tuple[str, ...], row: Any) -> dict[str, Any]:
    return dict(zip(columns, row, strict=True))


def _rows(columns: tuple[str, ...], rows: list[Any]) -> list[dict[str, Any]]:
    """Every row of one query as a dict. The rows of one query all have the same columns, so
    the width is checked once, on the first, not once per row."""
    if rows and len(rows[0]) != len(columns):
        raise ValueError(f"expected the columns {columns}, got a row of {len(rows[0])}")
    return [dict(zip(columns, row, strict=False)) for row in rows]


class Repository:
    def __init__(self, db: Database) -> None:
        self.db = db


class UserRepository(Repository):
    def by_id(self, user_id: int) -> dict[str, Any] | None:
        with tracing.span("repository.users.by_id", "repository"):
            tracing.work(REPOSITORY_CPU_MS)
            row = self.db.query_one("SELECT * FROM users WHERE id = ?", (user_id,))
            return _row(USER_COLUMNS, row) if row else None

    def by_email(self, email: str) -> dict[str, Any] | None:
        """A lookup on a non-key column: fast only with the `users.email` index."""
        with tracing.span("repository.users.by_email", "repository"):
            tracing.work(REPOSITORY_CPU_MS)
            row = self.db.query_one("SELECT * FROM users WHERE email = ?", (email,))
            return _row(USER_COLUMNS, row) if row else None

    def add(self, email: str, name: str, password_hash: str, role: str, now_s: int) -> int:
        with tracing.span("repository.users.add", "repository"):
            tracing.work(REPOSITORY_CPU_MS)
            cur = self.db.write(
                "INSERT INTO users (email, name, password_hash, role, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (email, name, password_hash, role, now_s),
            )
            return int(cur.lastrowid or 0)

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        with tracing.span("repository.users.set_password_hash", "repository"):
            self.db.write("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))


class ApiKeyRepository(Repository):
    def owner(self, key: str) -> int | None:
        with tracing.span("repository.api_keys.owner", "repository"):
            row = self.db.query_one("SELECT user_id FROM api_keys WHERE key = ?", (key,))
            return int(row[0]) if row else None


class OAuthClientRepository(Repository):
    """The registered OAuth2 clients: their hashed secrets, granted scopes and status."""

    def by_id(self, client_id: str) -> dict[str, Any] | None:
        with tracing.span("repository.oauth_clients.by_id", "repository"):
            tracing.work(REPOSITORY_CPU_MS)
            row = self.db.query_one(
                "SELECT client_id, secret_hash, scopes, account, revoked_at FROM oauth_clients "
                "WHERE client_id = ?", (client_id,))
            if row is None:
                return None
            return dict(zip(("client_id", "secret_hash", "scopes", "account", "revoked_at"),
                            row, strict=True))

    def revoke(self, client_id: str, now_s: int) -> bool:
        """Mark a client revoked (its first revocation time stays); False if there is none."""
        with tracing.span("repository.oauth_clients.revoke", "repository"):
            cur = self.db.write(
                "UPDATE oauth_clients SET revoked_at = coalesce(revoked_at, ?) "
                "WHERE client_id = ?", (now_s, client_id))
            return cur.rowcount > 0


# Loads a page of products by key: (database, category, limit, after_id) -> products.
PageLoader = Callable[[Database, str | None, int, int], list[dict[str, Any]]]


class ProductRepository(Repository):
    # A plug point (sandbox/plugs/keyset_page.py): when set, `page_after` asks this loader,
    # inside the same span, instead of running the query below.
    page_loader: PageLoader | None = None
    # `db.rating=computed`: the rating totals on a product row are not kept up to date, so
    # every product read counts them from the reviews instead.
    computed_rating = False

    def by_id(self, product_id: int) -> dict[str, Any] | None:
        with tracing.span("repository.products.by_id", "repository"):
            tracing.work(REPOSITORY_CPU_MS)
            trace = tracing.current_trace.get()
            counts = trace.counts if trace is not None else {}
            rows_before = counts.get("db.rows_scanned", 0)
            row = self.db.query_one("SELECT * FROM products WHERE id = ?", (product_id,))
            if not row:
                return None
            product = _row(PRODUCT_COLUMNS, row)
            if self.computed_rating:
                self._count_ratings([product])
            # What one product view costs the database, stored rating or computed.
            counts["rating.product_loads"] = counts.get("rating.product_loads", 0) + 1
            counts["rating.rows_read"] = (counts.get("rating.rows_read", 0)
                                          + counts.get("db.rows_scanned", 0) - rows_before)
            return product

    def _count_ratings(self, products: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Fill in each product's rating totals from its reviews: COUNT and SUM over every
        review of the product, on every read (the reviews.product_id index finds them; without
        it, each read scans all reviews)."""
        if not products:
            return products
        ids = [p["id"] for p in products]
        rows = self.db.query(
            "SELECT product_id, count(*), sum(rating) FROM reviews WHERE product_id IN ("
            + ", ".join("?" * len(ids)) + ") GROUP BY product_id",
            ids,
        )
        totals = {r[0]: (r[1], r[2]) for r in rows}
        for product in products:
            product["rating_count"], product["rating_sum"] = totals.get(product["id"], (0, 0))
        return products

    def by_ids(self, product_ids: list[int]) -> list[dict[str, Any]]:
        """Several products in one query (a batching loader's call)."""
        with tracing.span("repository.products.by_ids", "repository"):
            tracing.work(REPOSITORY_CPU_MS)
            marks = ", ".join("?" * len(product_ids))
            rows = self.db.query(f"SELECT * FROM products WHERE id IN ({marks})",
                                 tuple(product_ids))
            return _rows(PRODUCT_COLUMNS, rows)

    def add_rating(self, product_id: int, rating: int) -> None:
        """Keep the denormalized rating totals in step with a new review."""
        with tracing.span("repository.products.add_rating", "repository"):
            self.db.write(
                "UPDATE products SET rating_count = rating_count + 1, "
                "rating_sum = rating_sum + ? WHERE id = ?",
                (rating, product_id),
            )

    def page_offset(self, category: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
        """A page by OFFSET: the database walks past every skipped row."""
        with tracing.span("repository.products.page_offset", "repository"):
            tracing.work(REPOSITORY_CPU_MS)
            where, params = ("WHERE category = ?", [category]) if category else ("", [])
            rows = self.db.query(
                f"SELECT * FROM products {where} ORDER BY id LIMIT ? OFFSET ?",
                (*params, limit, offset),
            )
            page = _rows(PRODUCT_COLUMNS, rows)
            return self._count_ratings(page) if self.computed_rating else page

    def page_after(self, category: str | None, limit: int, after_id: int) -> list[dict[str, Any]]:
        """A page by key: the database seeks straight to the first row after `after_id`."""
        with tracing.span("repository.products.page_after", "repository"):
            tracing.work(REPOSITORY_CPU_MS)
            if self.page_loader is not None:
                page = self.page_loader(self.db, category, limit, after_id)
            else:
                where = "AND category = ?" if category else ""
                params: list[Any] = [after_id] + ([category] if category else [])
                rows = self.db.query(
                    f"SELECT * FROM products WHERE id > ? {where} ORDER BY id LIMIT ?",
                    (*params, limit),
                )
                page = _rows(PRODUCT_COLUMNS, rows)
            return self._count_ratings(page) if self.computed_rating else page

    def update(self, product_id: int, fields: dict[str, Any], now_s: int) -> bool:
        with tracing.span("repository.products.update", "repository"):
            tracing.work(REPOSITORY_CPU_MS)
            names = sorted(fields)
            assignments = ", ".join(f"{name} = ?" for name in names)
            cur = self.db.write(
                f"UPDATE products SET {assignments}, updated_at = ? WHERE id = ?",
                (*(fields[n] for n in names), now_s, product_id),
            )
            return cur.rowcount > 0

    def take_stock(self, product_id: int, quantity: int) -> int | None:
        """Decrement stock only if enough is left, in one statement (no read-then-write race).

        Returns the unit price when the stock was taken, None when too little was left.
        """
        with tracing.span("repository.products.take_stock", "repository"):
            row = self.db.query_one(
                "UPDATE products SET stock = stock - ? WHERE id = ? AND stock >= ? "
                "RETURNING price_cents",
                (quantity, product_id, quantity),
            )
            return int(row[0]) if row else None

    def stock_and_price(self, product_id: int) -> tuple[int, int] | None:
        """The stock and unit price as they are now (`db.stock_update=naive` reads this, then
        writes with `set_stock`: by then both may have changed)."""
        with tracing.span("repository.products.stock_and_price", "repository"):
            row = self.db.query_one("SELECT stock, price_cents FROM products WHERE id = ?",
                                    (product_id,))
            return (int(row[0]), int(row[1])) if row else None

    def set_stock(self, product_id: int, stock: int) -> None:
        """Overwrite the stock with a number computed earlier (no guard: the naive way)."""
        with tracing.span("repository.products.set_stock", "repository"):
            self.db.write("UPDATE products SET stock = ? WHERE id = ?", (stock, product_id))

    def stock(self, product_id: int) -> int | None:
        with tracing.span("repository.products.stock", "repository"):
            row = self.db.query_one("SELECT stock FROM products WHERE id = ?", (product_id,))
            return int(row[0]) if row else None


# Loads a customer's newest orders with their lines: (database, customer_id, limit) -> orders.
HistoryLoader = Callable[[Database, int, int], list[dict[str, Any]]]


class OrderRepository(Repository):
    # A plug point (sandbox/plugs/order_history.py): when set, `with_items_by_customer` asks
    # this loader, inside the same span, instead of running the query below.
    history_loader: HistoryLoader | None = None

    def by_id(self, order_id: int) -> dict[str, Any] | None:
        with tracing.span("repository.orders.by_id", "repository"):
            tracing.work(REPOSITORY_CPU_MS)
            row = self.db.query_one("SELECT * FROM orders WHERE id = ?", (order_id,))
            return _row(ORDER_COLUMNS, row) if row else None

    def items(self, order_id: int, customer_id: int | None = None) -> list[dict[str, Any]]:
        """One order's lines: fast only with `order_items.order_id`. (`customer_id`, the
        order's customer, tells a sharded store where to look.)"""
        with tracing.span("repository.order_items.by_order", "repository"):
            tracing.work(REPOSITORY_CPU_MS)
            rows = self.db.query(
                "SELECT order_id, product_id, quantity, price_cents FROM order_items "
                "WHERE order_id = ?",
                (order_id,),
            )
            return _rows(ITEM_COLUMNS, rows)

    def by_customer(self, customer_id: int, limit: int) -> list[dict[str, Any]]:
        """A customer's newest orders: fast only with the `orders.customer_id` index."""
        with tracing.span("repository.orders.by_customer", "repository"):
            tracing.work(REPOSITORY_CPU_MS)
            rows = self.db.query(
                "SELECT * FROM orders WHERE customer_id = ? ORDER BY created_at DESC, id DESC "
                "LIMIT ?",
                (customer_id, limit),
            )
            return _rows(ORDER_COLUMNS, rows)

    def with_items_by_customer(self, customer_id: int, limit: int) -> list[dict[str, Any]]:
        """A customer's newest orders and their lines in one query (a join, not N+1)."""
        with tracing.span("repository.orders.with_items_by_customer", "repository"):
            tracing.work(REPOSITORY_CPU_MS)
            if self.history_loader is not None:
                return self.history_loader(self.db, customer_id, limit)
            rows = self.db.query(
                "SELECT o.id, o.customer_id, o.status, o.total_cents, o.created_at, "
                "i.product_id, i.quantity, i.price_cents "
                "FROM (SELECT * FROM orders WHERE customer_id = ? "
                "      ORDER BY created_at DESC, id DESC LIMIT ?) AS o "
                "LEFT JOIN order_items AS i ON i.order_id = o.id "
                "ORDER BY o.created_at DESC, o.id DESC, i.id",
                (customer_id, limit),
            )
            orders: dict[int, dict[str, Any]] = {}
            for r in rows:
                order = orders.get(r[0])
                if order is None:
                    order = _row(ORDER_COLUMNS, r[:5])
                    order["items"] = []
                    orders[r[0]] = order
                if r[5] is not None:
                    order["items"].append(
                        {"order_id": r[0], "product_id": r[5], "quantity": r[6],
                         "price_cents": r[7]}
                    )
            return list(orders.values())

    def add(self, customer_id: int, lines: list[tuple[int, int, int]], now_s: int,
            order_id: int | None = None) -> int:
        """Insert an order and its lines; `lines` holds (product_id, quantity, price_cents).
        The database numbers the order unless `order_id` is given (a shard cannot: sharding.py)."""
        with tracing.span("repository.orders.add", "repository"):
            tracing.work(REPOSITORY_CPU_MS)
            total = sum(q * p for _, q, p in lines)
            if order_id is None:
                cur = self.db.write(
                    "INSERT INTO orders (customer_id, status, total_cents, created_at) "
                    "VALUES (?, 'paid', ?, ?)",
                    (customer_id, total, now_s),
                )
                order_id = int(cur.lastrowid or 0)
            else:
                self.db.write(
                    "INSERT INTO orders (id, customer_id, status, total_cents, created_at) "
                    "VALUES (?, ?, 'paid', ?, ?)",
                    (order_id, customer_id, total, now_s),
                )
            # All lines in one statement: one round trip however long the order is.
            self.db.write(
                "INSERT INTO order_items (order_id, product_id, quantity, price_cents) VALUES "
                + ", ".join(["(?, ?, ?, ?)"] * len(lines)),
                [v for product_id, quantity, price in lines
                 for v in (order_id, product_id, quantity, price)],
            )
            return order_id

    def shard_transaction(self) -> AbstractContextManager[None] | None:
        """The shards' part of a transaction (sharding.py); None: the orders are in the main file."""
        return None


class ConfirmationRepository(Repository):
    def is_confirmed(self, order_id: int) -> bool:
        with tracing.span("repository.order_confirmations.is_confirmed", "repository"):
            return self.db.query_one("SELECT 1 FROM order_confirmations WHERE order_id = ?",
                                     (order_id,)) is not None

    def confirm(self, order_id: int, job_id: str, now_s: int) -> bool:
        """Record the order as confirmed; False if it already was (the idempotency check)."""
        with tracing.span("repository.order_confirmations.confirm", "repository"):
            cur = self.db.write(
                "INSERT OR IGNORE INTO order_confirmations (order_id, job_id, confirmed_at) "
                "VALUES (?, ?, ?)",
                (order_id, job_id, now_s),
            )
            return cur.rowcount == 1

    def count_sales(self, sold: list[tuple[int, int]]) -> None:
        """Add (product_id, quantity) pairs to the sales counts, all in one statement."""
        with tracing.span("repository.product_sales.add", "repository"):
            self.db.write(
                "INSERT INTO product_sales (product_id, sold) VALUES "
                + ", ".join(["(?, ?)"] * len(sold))
                + " ON CONFLICT (product_id) DO UPDATE SET sold = sold + excluded.sold",
                [v for pair in sold for v in pair],
            )


class IdempotencyRepository(Repository):
    """Responses remembered by idempotency key, so a retried request is answered, not redone."""

    def get(self, key: str) -> tuple[int, str] | None:
        with tracing.span("repository.idempotency_keys.get", "repository"):
            row = self.db.query_one("SELECT status, body FROM idempotency_keys WHERE key = ?",
                                    (key,))
            return (int(row[0]), str(row[1])) if row else None

    def put(self, key: str, user_id: int, status: int, body: str, now_s: int) -> None:
        with tracing.span("repository.idempotency_keys.put", "repository"):
            self.db.write("INSERT INTO idempotency_keys (key, user_id, status, body, created_at) "
                          "VALUES (?, ?, ?, ?, ?)", (key, user_id, status, body, now_s))


class OutboxRepository(Repository):
    """Jobs owed to the queue: written with their order, marked once the queue has them."""

    def add(self, order_id: int, job: str) -> int:
        with tracing.span("repository.outbox.add", "repository"):
            cur = self.db.write("INSERT INTO outbox (order_id, job, published) VALUES (?, ?, 0)",
                                (order_id, job))
            return int(cur.lastrowid or 0)

    def unpublished(self) -> list[tuple[int, str]]:
        """(row id, job as JSON) of every job the queue does not have yet, oldest first."""
        with tracing.span("repository.outbox.unpublished", "repository"):
            rows = self.db.query("SELECT id, job FROM outbox WHERE published = 0 ORDER BY id")
            return [(int(r[0]), str(r[1])) for r in rows]

    def mark_published(self, row_id: int) -> None:
        with tracing.span("repository.outbox.mark_published", "repository"):
            self.db.write("UPDATE outbox SET published = 1 WHERE id = ?", (row_id,))


class ReviewRepository(Repository):
    def for_product(self, product_id: int, limit: int) -> list[dict[str, Any]]:
        with tracing.span("repository.reviews.for_product", "repository"):
            tracing.work(REPOSITORY_CPU_MS)
            rows = self.db.query(
                "SELECT * FROM reviews WHERE product_id = ? ORDER BY id DESC LIMIT ?",
                (product_id, limit),
            )
            return _rows(REVIEW_COLUMNS, rows)

    def for_products(self, product_ids: list[int], limit: int) -> list[dict[str, Any]]:
        """The newest `limit` reviews of each product, for all of them in one statement: one
        small indexed read per product, glued with UNION ALL, so the database reads `limit`
        rows of each (a window function over `product_id IN (...)` would read them all)."""
        with tracing.span("repository.reviews.for_products", "repository"):
            tracing.work(REPOSITORY_CPU_MS)
            one = "SELECT * FROM (SELECT * FROM reviews WHERE product_id = ? ORDER BY id DESC LIMIT ?)"
            rows = self.db.query(" UNION ALL ".join([one] * len(product_ids)),
                                 [v for pid in product_ids for v in (pid, limit)])
            return _rows(REVIEW_COLUMNS, rows)

    def add(self, product_id: int, user_id: int, rating: int, body: str, now_s: int) -> int:
        with tracing.span("repository.reviews.add", "repository"):
            tracing.work(REPOSITORY_CPU_MS)
            cur = self.db.write(
                "INSERT INTO reviews (product_id, user_id, rating, body, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (product_id, user_id, rating, body, now_s),
            )
            return int(cur.lastrowid or 0)


class Repositories:
    """Every repository over one database (the orders maybe over shards: sharding.py)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.users = UserRepository(db)
        self.api_keys = ApiKeyRepository(db)
        self.products = ProductRepository(db)
        self.orders = OrderRepository(db)
        self.reviews = ReviewRepository(db)
        self.confirmations = ConfirmationRepository(db)
        self.idempotency = IdempotencyRepository(db)
        self.outbox = OutboxRepository(db)
        self.oauth_clients = OAuthClientRepository(db)

    def transaction(self) -> AbstractContextManager[None]:
        shards = self.orders.shard_transaction()
        if shards is None:
            return self.db.transaction()
        return _joint(self.db.transaction(), shards)


@contextmanager
def _joint(*transactions: AbstractContextManager[None]) -> Iterator[None]:
    """Several databases' transactions as one: all roll back if the body raises; commits run
    in reverse order of opening."""
    with ExitStack() as stack:
        for transaction in transactions:
            stack.enter_context(transaction)
        yield
