"""The seeded shop: a deterministic data generator, built once into a cache file and reused.

The same seed always gives the same database, byte for byte in content. The biggest table,
`orders`, has 200,000 rows so that an index on it makes a real difference. Building takes a
few seconds, so the result is kept in the user's cache directory (override with the
`SANDBOX_CACHE_DIR` environment variable) and each sandbox copies it into memory, where its
writes cannot touch the cached file.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlite_utils

from sandbox.backend.demo import DEMO_CLIENTS, DEMO_PASSWORD
from sandbox.errors import SeedError
from sandbox.mechanisms.auth import hash_password
from sandbox.settings import DEFAULT_INDEXES

SEED_FORMAT = 7  # bump when the schema or generator changes, so old cache files are rebuilt

USERS = 20_000
PRODUCTS = 5_000
ORDERS = 200_000
REVIEWS = 60_000
SEED_EPOCH_S = 1_700_000_000  # seeded rows are dated before this; the sandbox starts here

SEED_HASH_ITERATIONS = 200  # the default `auth.hash_iterations`; logins upgrade older hashes

FIRST = ("ada", "grace", "alan", "edsger", "barbara", "ken", "dennis", "margaret", "linus",
         "guido", "radia", "frances", "john", "katherine", "donald", "leslie", "tim", "vint")
LAST = ("lovelace", "hopper", "turing", "dijkstra", "liskov", "thompson", "ritchie",
        "hamilton", "torvalds", "rossum", "perlman", "allen", "backus", "johnson", "knuth",
        "lamport", "berners", "cerf")
CATEGORIES = ("books", "games", "garden", "kitchen", "music", "office", "outdoor", "toys")
ADJECTIVES = ("red", "quiet", "sturdy", "tiny", "golden", "swift", "cosy", "bright", "classic")
NOUNS = ("lamp", "kettle", "notebook", "chair", "puzzle", "guitar", "tent", "mug", "robot",
         "backpack", "clock", "trowel")


def index_name(index: str) -> str:
    """`orders.customer_id` -> `idx_orders_customer_id`."""
    table, column = index.split(".")
    return f"idx_{table}_{column}"


def cache_dir() -> Path:
    """Where built seed databases are kept."""
    override = os.environ.get("SANDBOX_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "backend-sandbox"


def seed_path(seed: int) -> Path:
    return cache_dir() / f"shop-v{SEED_FORMAT}-seed{seed}.sqlite"


def ensure_seed_file(seed: int) -> Path:
    """The path of the built database for `seed`, building it first if needed."""
    path = seed_path(seed)
    if path.exists():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        build_file_atomically(path, lambda conn: build(conn, seed))
    except OSError as exc:
        raise SeedError(
            f"could not build the seed database in {path.parent}: {exc.strerror}. "
            "Set SANDBOX_CACHE_DIR to a writable folder."
        ) from None
    return path


def build_file_atomically(path: Path, fill: Callable[[sqlite3.Connection], None]) -> None:
    """Write the SQLite file `path` with `fill`: into a temporary file first, renamed into
    place when done, so two processes building at once, or a build killed half way, never
    leave a broken file behind."""
    fd, tmp = tempfile.mkstemp(prefix=path.stem, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        conn = sqlite3.connect(tmp)
        try:
            fill(conn)
        finally:
            conn.close()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def create_schema(db: sqlite_utils.Database) -> None:
    """The shop's tables. Secondary indexes are not here: `db.indexes` manages them."""
    db.table("users").create(
        {"id": int, "email": str, "name": str, "password_hash": str, "role": str,
         "created_at": int},
        pk="id", not_null={"email", "name", "password_hash", "role"},
    )
    db.table("api_keys").create(
        {"key": str, "owner": str, "user_id": int, "created_at": int}, pk="key",
        foreign_keys=[("user_id", "users", "id")],
    )
    db.table("products").create(
        {"id": int, "sku": str, "name": str, "category": str, "price_cents": int, "stock": int,
         "description": str, "updated_at": int, "rating_count": int, "rating_sum": int},
        pk="id", not_null={"sku", "name", "category", "price_cents", "stock"},
    )
    db.table("orders").create(
        {"id": int, "customer_id": int, "status": str, "total_cents": int, "created_at": int},
        pk="id", foreign_keys=[("customer_id", "users", "id")], not_null={"customer_id"},
    )
    db.table("order_items").create(
        {"id": int, "order_id": int, "product_id": int, "quantity": int, "price_cents": int},
        pk="id",
        foreign_keys=[("order_id", "orders", "id"), ("product_id", "products", "id")],
    )
    db.table("reviews").create(
        {"id": int, "product_id": int, "user_id": int, "rating": int, "body": str,
         "created_at": int},
        pk="id",
        foreign_keys=[("product_id", "products", "id"), ("user_id", "users", "id")],
    )
    # Written by the order-confirmation job: one row per order, so a job delivered twice
    # (at-least-once) cannot confirm twice or count a sale twice.
    db.table("order_confirmations").create(
        {"order_id": int, "job_id": str, "confirmed_at": int}, pk="order_id"
    )
    db.table("product_sales").create({"product_id": int, "sold": int}, pk="product_id")
    db.table("idempotency_keys").create(
        {"key": str, "user_id": int, "status": int, "body": str, "created_at": int}, pk="key"
    )
    # The outbox: an order's follow-up job, written in the order's own transaction and marked
    # `published` once the queue has it (see OrderService._relay). A Redis outage delays a
    # job; it cannot lose one.
    db.table("outbox").create(
        {"id": int, "order_id": int, "job": str, "published": int}, pk="id",
        not_null={"order_id", "job", "published"},
    )


def zipf_weights(n: int, s: float = 1.1) -> list[float]:
    """Popularity of rank 1..n: a few items are very popular, most are rarely touched."""
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


def build(conn: sqlite3.Connection, seed: int) -> None:
    """Fill an empty database with the seeded shop."""
    rnd = random.Random(seed)
    db = sqlite_utils.Database(conn)
    create_schema(db)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    with conn:
        conn.executemany("INSERT INTO users VALUES (?,?,?,?,?,?)", _users(rnd))
        conn.execute(
            "INSERT INTO api_keys VALUES (?,?,?,?)",
            ("sk_test_partner", "partner-app", 2, SEED_EPOCH_S),
        )
        conn.executemany("INSERT INTO products VALUES (?,?,?,?,?,?,?,?,0,0)", _products(rnd))
        orders, items = _orders(rnd)
        conn.executemany("INSERT INTO orders VALUES (?,?,?,?,?)", orders)
        conn.executemany(
            "INSERT INTO order_items(order_id, product_id, quantity, price_cents) VALUES (?,?,?,?)",
            items,
        )
        conn.executemany("INSERT INTO reviews VALUES (?,?,?,?,?,?)", _reviews(rnd))
        # Denormalized on purpose: a product page shows its rating without counting reviews.
        conn.execute(
            "UPDATE products SET rating_count = r.n, rating_sum = r.total FROM "
            "(SELECT product_id, count(*) AS n, sum(rating) AS total FROM reviews "
            " GROUP BY product_id) AS r WHERE products.id = r.product_id"
        )
    for index in DEFAULT_INDEXES:  # most sandboxes want these; building them takes a while
        table, column = index.split(".")
        db.table(table).create_index([column], index_name=index_name(index))
    conn.execute("ANALYZE")


def seeded_name(uid: int) -> tuple[str, str]:
    """First and last name of seeded user `uid`."""
    return FIRST[(uid - 1) % len(FIRST)], LAST[(uid * 7) % len(LAST)]


def seeded_email(uid: int) -> str:
    """The e-mail of seeded user `uid`: user 1 is the admin Ada, user 2 the customer Grace."""
    if uid == 1:
        return "ada@shop.test"
    if uid == 2:
        return "grace@shop.test"
    first, last = seeded_name(uid)
    return f"{first}.{last}{uid}@shop.test"


def _users(rnd: random.Random) -> Iterator[tuple[object, ...]]:
    for uid in range(1, USERS + 1):
        first, last = seeded_name(uid)
        role = "admin" if uid == 1 else "customer"
        email = seeded_email(uid)
        salt = rnd.randbytes(8)
        yield (uid, email, f"{first.title()} {last.title()}",
               hash_password(DEMO_PASSWORD, salt, SEED_HASH_ITERATIONS), role,
               SEED_EPOCH_S - rnd.randrange(86400 * 365))


def _products(rnd: random.Random) -> Iterator[tuple[object, ...]]:
    for pid in range(1, PRODUCTS + 1):
        name = f"{rnd.choice(ADJECTIVES).title()} {rnd.choice(NOUNS)} {pid}"
        yield (pid, f"SKU-{pid:05d}", name, CATEGORIES[pid % len(CATEGORIES)],
               rnd.randrange(199, 20_000), rnd.randrange(0, 500),
               f"A {name.lower()} from the sandbox shop.", SEED_EPOCH_S - rnd.randrange(86400 * 90))


def _orders(
    rnd: random.Random,
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    products = list(range(1, PRODUCTS + 1))
    cum = list(itertools.accumulate(zipf_weights(PRODUCTS)))
    prices = {pid: 199 + (pid * 37) % 9800 for pid in products}
    orders: list[tuple[object, ...]] = []
    items: list[tuple[object, ...]] = []
    statuses = ("paid", "paid", "paid", "shipped", "shipped", "delivered", "cancelled")
    for oid in range(1, ORDERS + 1):
        n_items = rnd.choice((1, 1, 2, 2, 3))
        chosen = rnd.choices(products, cum_weights=cum, k=n_items)
        total = 0
        for pid in chosen:
            qty = rnd.choice((1, 1, 1, 2, 3))
            total += qty * prices[pid]
            items.append((oid, pid, qty, prices[pid]))
        orders.append((oid, rnd.randrange(1, USERS + 1), rnd.choice(statuses), total,
                       SEED_EPOCH_S - rnd.randrange(86400 * 365)))
    return orders, items


def _reviews(rnd: random.Random) -> Iterator[tuple[object, ...]]:
    products = list(range(1, PRODUCTS + 1))
    picks = rnd.choices(products, weights=zipf_weights(PRODUCTS), k=REVIEWS)
    for rid, pid in enumerate(picks, start=1):
        rating = rnd.choice((5, 5, 4, 4, 4, 3, 2, 1))
        yield (rid, pid, rnd.randrange(1, USERS + 1), rating,
               f"Rated {rating} of 5.", SEED_EPOCH_S - rnd.randrange(86400 * 365))


def add_oauth_clients(conn: sqlite3.Connection) -> None:
    """The OAuth2 clients table, with the demo clients, in a sandbox's own copy of the shop.

    Made when a sandbox starts rather than in the cached seed file: it is tiny, and the seed
    file then serves sandboxes with and without it. Secrets are stored hashed only, each with
    its own salt (fixed here, so every sandbox's table is the same)."""
    conn.execute("CREATE TABLE IF NOT EXISTS oauth_clients (client_id TEXT PRIMARY KEY, "
                 "secret_hash TEXT NOT NULL, scopes TEXT NOT NULL, account INTEGER NOT NULL "
                 "REFERENCES users(id), revoked_at INTEGER)")
    for client_id, (secret, scopes, account) in DEMO_CLIENTS.items():
        salt = hashlib.sha256(b"client salt " + client_id.encode()).digest()[:8]
        conn.execute("INSERT OR IGNORE INTO oauth_clients VALUES (?,?,?,?,NULL)",
                     (client_id, hash_password(secret, salt, SEED_HASH_ITERATIONS), scopes,
                      account))
