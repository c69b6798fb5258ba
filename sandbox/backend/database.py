"""The shop's SQLite database, with every statement traced and costed by the work it really does.

Cost model: SQLite runs each statement as a program of virtual-machine steps; a progress
handler counts them. A statement's simulated time is a fixed round trip plus a price per VM
step, so a full scan of 200,000 rows costs what it should next to an index search, and the
same statement on the same data always costs the same. Each statement's span also records its
real query plan (`EXPLAIN QUERY PLAN`: SCAN or SEARCH) and an estimate of the rows examined
(VM steps / 3, and never fewer than the rows returned).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlite_utils

from sandbox import tracing
from sandbox.backend.seed import ensure_seed_file, index_name
from sandbox.errors import ServiceUnavailable
from sandbox.settings import DEFAULT_INDEXES, INDEX_CANDIDATES

# The progress handler fires once every STEP_GRAIN VM steps; counts are in these units.
STEP_GRAIN = 100
# Simulated cost: a round trip to the database, and a price per VM step (a 200,000-row scan
# takes about 600,000 steps, so about 12 ms; an index search about 0.6 ms all in).
ROUND_TRIP_MS = 0.6
MS_PER_STEP = 0.00002
# Rows examined are estimated from the measured steps: a scan loop costs about three VM steps
# per row (read the column, compare, move to the next row).
STEPS_PER_ROW = 3


class Database:
    """One open shop database: traced queries, real plans, live index changes.

    Args:
        conn: an open connection holding the shop schema.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self._ticks = 0
        conn.set_progress_handler(self._tick, STEP_GRAIN)
        self._plans: dict[str, str] = {}
        self._schema_generation = 0
        self.indexes: tuple[str, ...] = self._existing_indexes()
        self.available = True  # faults can take the database down

    @classmethod
    def open_seeded(cls, seed: int, indexes: Sequence[str] = DEFAULT_INDEXES) -> Database:
        """A private in-memory copy of the seeded shop, with exactly `indexes`."""
        source = sqlite3.connect(ensure_seed_file(seed))
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        try:
            source.backup(conn)
        finally:
            source.close()
        database = cls(conn)
        database.set_indexes(indexes)
        return database

    def _tick(self) -> int:
        self._ticks += 1
        return 0

    # -- indexes ----------------------------------------------------------------------------

    def _existing_indexes(self) -> tuple[str, ...]:
        names = {
            row[0] for row in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'idx_%'"
            )
        }
        return tuple(i for i in INDEX_CANDIDATES if index_name(i) in names)

    def set_indexes(self, wanted: Iterable[str]) -> None:
        """Create and drop real indexes until exactly `wanted` exist."""
        wanted = tuple(wanted)
        for index in INDEX_CANDIDATES:
            name = index_name(index)
            table, column = index.split(".")
            if index in wanted and index not in self.indexes:
                self.db.table(table).create_index([column], index_name=name, if_not_exists=True)
            elif index not in wanted and index in self.indexes:
                self.conn.execute(f"DROP INDEX IF EXISTS {name}")
        self.indexes = self._existing_indexes()
        self._plans.clear()  # plans depend on the indexes
        self._schema_generation += 1

    # -- statements -------------------------------------------------------------------------

    def plan(self, sql: str, params: Sequence[Any] = ()) -> str:
        """The query plan as one line, for example `SEARCH orders USING INDEX ...`."""
        return self._plan(sql, params)

    def _plan(self, sql: str, params: Sequence[Any]) -> str:
        plan = self._plans.get(sql)
        if plan is None:
            # The schema generation in a comment makes the text new after an index change:
            # Python's statement cache would otherwise replay the old plan.
            explain = f"EXPLAIN QUERY PLAN {sql} -- schema {self._schema_generation}"
            rows = self.conn.execute(explain, params).fetchall()
            plan = "; ".join(row[3] for row in rows)
            self._plans[sql] = plan
        return plan

    def _run(self, sql: str, params: Sequence[Any], write: bool) -> tuple[sqlite3.Cursor, list[Any]]:
        if not self.available:
            raise ServiceUnavailable("The database is unavailable. Try again shortly.")
        trace = tracing.current_trace.get()
        if trace is None:
            cur = self.conn.execute(sql, params)
            return cur, ([] if write else cur.fetchall())
        with trace.span("db.write" if write else "db.query", "db") as span:
            self._ticks = 0
            cur = self.conn.execute(sql, params)
            rows = [] if write else cur.fetchall()
            steps = self._ticks * STEP_GRAIN
            plan = self._plan(sql, params)
            returned = cur.rowcount if write else len(rows)
            scanned = max(returned, steps // STEPS_PER_ROW)
            attrs = span.attrs
            attrs["db.sql"] = sql
            attrs["db.plan"] = plan
            attrs["db.vm_steps"] = steps
            attrs["db.rows_scanned"] = scanned
            attrs["db.rows"] = returned
            counts = trace.counts
            counts["db.queries"] = counts.get("db.queries", 0) + 1
            counts["db.rows_scanned"] = counts.get("db.rows_scanned", 0) + scanned
            if trace.sql_log is not None:
                trace.sql_log.append((sql, tuple(params)))
            trace.clock.now_ms += ROUND_TRIP_MS + steps * MS_PER_STEP
        return cur, rows

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run a read and return its rows (tuples)."""
        return self._run(sql, params, write=False)[1]

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Any | None:
        rows = self._run(sql, params, write=False)[1]
        return rows[0] if rows else None

    def write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run an INSERT, UPDATE or DELETE; the cursor has `lastrowid` and `rowcount`."""
        return self._run(sql, params, write=True)[0]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together, or none do."""
        self.conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()
