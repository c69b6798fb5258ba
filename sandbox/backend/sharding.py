"""Sharding: the orders (and their lines) split across several SQLite files by customer.

`db.shards=N` gives N shard files. A customer's orders all live in one shard, chosen by
`shard_of`: a stable hash of the customer id, modulo N. A query that names its customer goes
to one shard; one that does not (an order by its id) must ask every shard: a fan-out, marked
`db.fanout` in its trace. Products, users and everything else stay in the main file.

Each shard is its own database, with its own connection and, with `db.cores`, its own cores:
shards work side by side. One busy customer still lands on one shard (the hot shard).
"""

from __future__ import annotations

import math
import sqlite3
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from sandbox import tracing
from sandbox.backend.database import Database, StoreStats
from sandbox.backend.repositories import ORDER_COLUMNS, OrderRepository, _row, _rows
from sandbox.backend.seed import (
    SEED_FORMAT,
    build_file_atomically,
    cache_dir,
    ensure_seed_file,
    index_name,
)
from sandbox.errors import SeedError
from sandbox.settings import INDEX_CANDIDATES

SHARDED_TABLES = ("orders", "order_items")


def shard_of(customer_id: int, shards: int) -> int:
    """The shard holding `customer_id`'s orders.

    A hash, not the id itself: ids are handed out in sequence, so any pattern in them (a batch
    of accounts made together, even and odd ids) would map straight onto the shards; the hash
    scatters them. CRC-32 of the id's digits, not Python's `hash()`: it must give the same
    answer in every process and run, or a customer's orders would be looked for in the wrong
    file. (Changing N moves most customers to another shard: that is resharding.)
    """
    return zlib.crc32(str(customer_id).encode()) % shards


def shard_paths(seed: int, shards: int) -> list[Path]:
    return [cache_dir() / f"shop-v{SEED_FORMAT}-seed{seed}-shard{k}of{shards}.sqlite"
            for k in range(shards)]


def ensure_shard_files(seed: int, shards: int) -> list[Path]:
    """The seeded shop's orders split into `shards` files, built from the seed file once and
    kept beside it (written to a temporary name and renamed, like the seed file)."""
    paths = shard_paths(seed, shards)
    if all(p.exists() for p in paths):
        return paths
    source = ensure_seed_file(seed)
    try:
        for k, path in enumerate(paths):
            build_file_atomically(path, partial(_build_shard, source=source, k=k, shards=shards))
    except OSError as exc:
        raise SeedError(
            f"could not build the shard files in {cache_dir()}: {exc.strerror}. "
            "Set SANDBOX_CACHE_DIR to a writable folder."
        ) from None
    return paths


def _build_shard(conn: sqlite3.Connection, source: Path, k: int, shards: int) -> None:
    conn.create_function("shard_of", 2, shard_of, deterministic=True)
    conn.execute("ATTACH DATABASE ? AS seed", (str(source),))
    for (sql,) in conn.execute("SELECT sql FROM seed.sqlite_master WHERE type = 'table' "
                               "AND name IN ('orders', 'order_items')").fetchall():
        conn.execute(sql)  # the same tables, column for column
    with conn:
        conn.execute("INSERT INTO orders SELECT * FROM seed.orders "
                     "WHERE shard_of(customer_id, ?) = ?", (shards, k))
        conn.execute("INSERT INTO order_items SELECT i.* FROM seed.order_items AS i "
                     "JOIN orders AS o ON o.id = i.order_id ORDER BY i.id")
    conn.execute("DETACH DATABASE seed")
    for index in INDEX_CANDIDATES:  # the seed file's indexes on these tables, here too
        table, column = index.split(".")
        if table in SHARDED_TABLES:
            conn.execute(f"CREATE INDEX {index_name(index)} ON {table} ({column})")
    conn.execute("ANALYZE")


def open_shards(seed: int, shards: int, indexes: Sequence[str]) -> list[Database]:
    """Private in-memory copies of the seeded shard files (writes never touch the files)."""
    stores = []
    for k, path in enumerate(ensure_shard_files(seed, shards)):
        stores.append(_shard_database(k, path))
        stores[-1].set_indexes(indexes)
    return stores


def _shard_database(k: int, path: Path | None = None) -> Database:
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    if path is not None:
        source = sqlite3.connect(path)
        try:
            source.backup(conn)
        finally:
            source.close()
    store = Database(conn)
    store.shard = k
    store.stats = StoreStats()
    return store


def reshard(sources: Sequence[Database], shards: int, indexes: Sequence[str]) -> list[Database]:
    """Resharding: every order and order line of `sources` (the main file, or the shards of
    the old layout) moved into `shards` new shard databases, each customer's to its shard."""
    stores = [_shard_database(k) for k in range(shards)]
    template = sources[0].conn
    for (sql,) in template.execute("SELECT sql FROM sqlite_master WHERE type = 'table' "
                                   "AND name IN ('orders', 'order_items')").fetchall():
        for store in stores:
            store.conn.execute(sql)
    move_orders(sources, stores, lambda c: shard_of(c, shards))
    for store in stores:
        store.set_indexes(indexes)
    return stores


def move_orders(sources: Sequence[Database], targets: Sequence[Database],
                route: Callable[[int], int]) -> None:
    """Copy every order and its lines from `sources` into `targets[route(customer_id)]`
    (untraced: this is a migration, not traffic). Each source gets a temporary table of where
    each of its customers goes, and SQLite selects each target's rows by joining it."""
    with ExitStack() as stack:
        for db in (*sources, *targets):
            stack.enter_context(db.unpriced())
        _move(sources, targets, route)


def _move(sources: Sequence[Database], targets: Sequence[Database],
          route: Callable[[int], int]) -> None:
    for source in sources:
        conn = source.conn
        conn.execute("CREATE TEMP TABLE shard_route (customer_id INTEGER PRIMARY KEY, shard INT)")
        try:
            customers = conn.execute("SELECT DISTINCT customer_id FROM orders").fetchall()
            conn.executemany("INSERT INTO temp.shard_route VALUES (?, ?)",
                             ((c, route(c)) for (c,) in customers))
            for k, target in enumerate(targets):
                with target.transaction():
                    target.conn.executemany(
                        "INSERT INTO orders VALUES (?, ?, ?, ?, ?)",
                        conn.execute("SELECT o.* FROM orders AS o JOIN temp.shard_route AS r "
                                     "USING (customer_id) WHERE r.shard = ?", (k,)))
                    target.conn.executemany(
                        "INSERT INTO order_items (order_id, product_id, quantity, price_cents) "
                        "VALUES (?, ?, ?, ?)",
                        conn.execute("SELECT i.order_id, i.product_id, i.quantity, i.price_cents "
                                     "FROM order_items AS i JOIN orders AS o ON o.id = i.order_id "
                                     "JOIN temp.shard_route AS r USING (customer_id) "
                                     "WHERE r.shard = ? ORDER BY i.id", (k,)))
        finally:
            conn.execute("DROP TABLE temp.shard_route")


class ShardedOrderRepository(OrderRepository):
    """The orders repository over N shards: routes each call by customer, or fans out.

    Args:
        shards: one database per shard, shard k at index k.
    """

    def __init__(self, shards: Sequence[Database]) -> None:
        super().__init__(shards[0])
        self.shards = list(shards)
        self.parts = [OrderRepository(db) for db in self.shards]
        # Order ids must stay unique across shards, and no shard can hand them out alone:
        # this sandbox keeps one counter (real systems use a ticket service or ids that embed
        # the shard and a timestamp).
        self._next_id = 1 + max(int(db.conn.execute("SELECT coalesce(max(id), 0) FROM orders")
                                    .fetchone()[0]) for db in self.shards)

    def _part(self, customer_id: int) -> OrderRepository:
        return self.parts[shard_of(customer_id, len(self.parts))]

    def _fan_out(self, ask: Callable[[OrderRepository], Any]) -> list[Any]:
        """Ask every shard, in parallel: the shards start together and the answer is ready when
        the slowest has answered."""
        tracing.count("db.fanouts")
        trace = tracing.current_trace.get()
        if trace is None:
            return [ask(part) for part in self.parts]
        start, end = trace.clock.now_ms, trace.clock.now_ms
        answers = []
        for part in self.parts:
            trace.clock.now_ms = start
            answers.append(ask(part))
            end = max(end, trace.clock.now_ms)
        trace.clock.now_ms = end
        return answers

    def by_id(self, order_id: int) -> dict[str, Any] | None:
        """An order by id: the id does not say which customer, so every shard is asked."""
        with tracing.span("repository.orders.by_id", "repository") as span:
            span.set("db.fanout", len(self.parts))
            found = [row for row in self._fan_out(
                lambda part: part.db.query_one("SELECT * FROM orders WHERE id = ?", (order_id,)))
                if row is not None]
            return _row(ORDER_COLUMNS, found[0]) if found else None

    def items(self, order_id: int, customer_id: int | None = None) -> list[dict[str, Any]]:
        if customer_id is not None:
            return self._part(customer_id).items(order_id)
        with tracing.span("repository.order_items.by_order", "repository") as span:
            span.set("db.fanout", len(self.parts))
            sql = ("SELECT order_id, product_id, quantity, price_cents FROM order_items "
                   "WHERE order_id = ?")
            return [item for rows in self._fan_out(lambda part: part.db.query(sql, (order_id,)))
                    for item in _rows(("order_id", "product_id", "quantity", "price_cents"),
                                      rows)]

    def by_customer(self, customer_id: int, limit: int) -> list[dict[str, Any]]:
        return self._part(customer_id).by_customer(customer_id, limit)

    def with_items_by_customer(self, customer_id: int, limit: int) -> list[dict[str, Any]]:
        part = self._part(customer_id)
        part.history_loader = self.history_loader  # a student's loader reads the right shard
        return part.with_items_by_customer(customer_id, limit)

    def add(self, customer_id: int, lines: list[tuple[int, int, int]], now_s: int,
            order_id: int | None = None) -> int:
        order_id = self._next_id
        self._next_id += 1
        return self._part(customer_id).add(customer_id, lines, now_s, order_id)

    @contextmanager
    def shard_transaction(self) -> Iterator[None]:
        """A transaction open on every shard (BEGIN takes no lock until a write). Commits shard
        by shard: not atomic across files, as no two separate databases are without two-phase
        commit; in one process nothing can fail between the commits."""
        with ExitStack() as stack:
            for db in self.shards:
                stack.enter_context(db.transaction())
            yield


def shard_figures(stores: Sequence[Database]) -> dict[str, Any]:
    """Per shard: orders held, queries, their share, rows examined, core waits, and a
    statement's time there (waits included) as p95 and in total. Empty for one database."""
    if not stores:
        return {}
    by_shard: dict[str, Any] = {}
    total = sum(store.stats.queries for store in stores if store.stats) or 1
    for store in stores:
        stats = store.stats or StoreStats()
        times = sorted(stats.statement_ms)
        p95 = times[max(1, math.ceil(0.95 * len(times))) - 1] if times else 0.0
        by_shard[str(store.shard)] = {
            "orders": store.conn.execute("SELECT count(*) FROM orders").fetchone()[0],
            "queries": stats.queries,
            "query_share": round(stats.queries / total, 4),
            "rows_scanned": stats.rows_scanned,
            "core_waits": stats.core_waits,
            "p95_ms": round(p95, 3),
            "db_ms": round(sum(times), 3),
        }
    return {"count": len(stores), "routing": f"crc32(customer_id) % {len(stores)}",
            "by_shard": by_shard}
