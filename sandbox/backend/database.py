"""The shop's SQLite database, with every statement traced and costed by the work it really does.

Cost model: SQLite runs each statement as a program of virtual-machine steps; a progress
handler counts them. A statement's simulated time is a fixed round trip plus a price per VM
step, so a full scan of 200,000 rows costs what it should next to an index search, and the
same statement on the same data always costs the same. Each statement's span also records its
real query plan (`EXPLAIN QUERY PLAN`: SCAN or SEARCH) and an estimate of the rows examined
(VM steps / 3, and never fewer than the rows returned).
"""

from __future__ import annotations

import bisect
import sqlite3
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import sqlite_utils

from sandbox import tracing
from sandbox.backend.seed import ensure_seed_file, index_name
from sandbox.clock import SimClock
from sandbox.errors import ServiceUnavailable
from sandbox.mechanisms.resilience import Dependency, DependencyFailed
from sandbox.request_context import Pool, current_request
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


@dataclass
class StoreStats:
    """What one database file did in traced requests: a shard's figures (see sharding.py)."""

    queries: int = 0
    rows_scanned: int = 0
    core_waits: int = 0
    statement_ms: list[float] = field(default_factory=list)  # each statement, waits included


class Cores:
    """A database file's cores (`db.cores`) over simulated time: a statement runs on the first
    core free for as long as its work takes, and waits when none is.

    Requests are simulated one after another, not interleaved: one that arrived earlier may
    already have run its statements up to a later time. So each core keeps the intervals it is
    busy and a statement takes the first gap long enough at or after its arrival, rather than
    queueing behind whatever ran last.
    """

    def __init__(self, count: int) -> None:
        self.busy: list[list[tuple[float, float]]] = [[] for _ in range(count)]

    def run(self, arrive_ms: float, work_ms: float, horizon_ms: float) -> float:
        """When a statement arriving at `arrive_ms` starts (it holds a core for `work_ms`).
        Nothing later will arrive before `horizon_ms`, so intervals ending before it go."""
        best_core, best_start = 0, float("inf")
        for number, intervals in enumerate(self.busy):
            while intervals and intervals[0][1] < horizon_ms:
                intervals.pop(0)
            start = arrive_ms
            for begin, end in intervals:
                if end <= start:
                    continue
                if begin >= start + work_ms:
                    break  # the gap before this interval is long enough
                start = end
            if start < best_start:
                best_core, best_start = number, start
        if work_ms > 0:
            bisect.insort(self.busy[best_core], (best_start, best_start + work_ms))
        return best_start


class Database:
    """One open shop database: traced queries, real plans, live index changes.

    Args:
        conn: an open connection holding the shop schema.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        # SQLite calls the progress handler every STEP_GRAIN VM steps; counting those calls
        # prices a statement. The handler appends to a list, C calling C: a Python method
        # would run about 30 times for one page of products. It returns None, so the
        # statement goes on; the count is the list's length.
        self._ticks: list[None] = []
        conn.set_progress_handler(partial(self._ticks.append, None), STEP_GRAIN)
        self._plans: dict[str, str] = {}
        self._schema_generation = 0
        self.indexes: tuple[str, ...] = self._existing_indexes()
        self.available = True  # faults can take the database down
        # When set, every statement is a call to a dependency that can be slow or fail,
        # guarded by a timeout, retries and a circuit breaker (see mechanisms/resilience.py).
        self.guard: Dependency | None = None
        # Replication: a primary with a replica records each committed write here, with the
        # simulated time of its commit; `clock` gives that time.
        self.replication_log: deque[tuple[float, str, tuple[Any, ...]]] | None = None
        self.clock: SimClock | None = None
        self._txn: list[tuple[str, tuple[Any, ...]]] | None = None
        # A replica compares each answer with the primary's (not traced, not charged) to
        # count stale reads: the sandbox's oracle, which a real replica does not have.
        self.truth: Database | None = None
        self.lag_ms = 0.0
        # Sharding (sharding.py): which shard this file is, and its figures. None: the main file.
        self.shard: int | None = None
        self.stats: StoreStats | None = None
        # `db.cores`: when set, statements wait for one of this file's cores to be free.
        self.cores: Cores | None = None

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
        tables = self.tables()
        for index in INDEX_CANDIDATES:
            name = index_name(index)
            table, column = index.split(".")
            if table not in tables:  # a shard holds only the orders; the main file, the rest
                continue
            if index in wanted and index not in self.indexes:
                self.db.table(table).create_index([column], index_name=name, if_not_exists=True)
            elif index not in wanted and index in self.indexes:
                self.conn.execute(f"DROP INDEX IF EXISTS {name}")
        self.indexes = self._existing_indexes()
        self._plans.clear()  # plans depend on the indexes
        self._schema_generation += 1

    def tables(self) -> set[str]:
        return {row[0] for row in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}

    def among(self, indexes: Iterable[str]) -> tuple[str, ...]:
        """Those of `indexes` on tables this file has."""
        tables = self.tables()
        return tuple(i for i in indexes if i.split(".")[0] in tables)

    def schema(self, tables: Iterable[str]) -> list[str]:
        """The CREATE TABLE statements of `tables`."""
        names = tuple(tables)
        return [row[0] for row in self.conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name IN ("
            + ", ".join("?" * len(names)) + ")", names)]

    @contextmanager
    def unpriced(self) -> Iterator[sqlite3.Connection]:
        """The bare connection for bulk work that is not traffic (a migration): no step
        counting while it runs."""
        self.conn.set_progress_handler(None, 0)
        try:
            yield self.conn
        finally:
            self.conn.set_progress_handler(partial(self._ticks.append, None), STEP_GRAIN)
            self._ticks.clear()

    def set_cores(self, cores: int) -> None:
        """Give this file `cores` cores (0: statements never wait for one)."""
        self.cores = Cores(cores) if cores else None

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
        if self.guard is not None:
            try:
                # A write that timed out may have happened: not to be repeated blindly.
                self.guard.call(lambda: None, idempotent=sql.lstrip()[:6].upper() == "SELECT")
            except DependencyFailed as exc:
                raise ServiceUnavailable(
                    "The database is not answering. Try again shortly.",
                    headers={"Retry-After": "1"} if "circuit open" in exc.reason else None,
                ) from None
        trace = tracing.current_trace.get()
        if trace is None:
            cur = self.conn.execute(sql, params)
            rows = [] if write else cur.fetchall()
            self._ticks.clear()  # not priced; and the list must not grow without end
            self._replicate(sql, params)
            return cur, rows
        context = current_request.get()
        if context is not None and context.pool is not None and not context.connection:
            self._check_out(trace, context.pool)
            context.connection = True
        if self.truth is not None:  # a replica applies writes continuously, `lag_ms` behind
            self.replicate_until(self.truth, trace.clock.now_ms - self.lag_ms)
        with trace.span("db.write" if write else "db.query", "db") as span:
            ticks = self._ticks
            ticks.clear()
            cur = self.conn.execute(sql, params)
            rows = [] if write else cur.fetchall()
            steps = len(ticks) * STEP_GRAIN
            plan = self._plans.get(sql) or self._plan(sql, params)
            returned = cur.rowcount if write else len(rows)
            scanned = max(returned, steps // STEPS_PER_ROW)
            attrs = span.attrs
            attrs["db.sql"] = sql
            attrs["db.plan"] = plan
            attrs["db.vm_steps"] = steps
            attrs["db.rows_scanned"] = scanned
            attrs["db.rows"] = returned
            counts = trace.counts
            truth = self.truth
            if truth is not None:
                attrs["db.replica"] = True
                counts["db.replica_queries"] = counts.get("db.replica_queries", 0) + 1
                # Stale: the replica still lacks writes committed before this moment, and its
                # answer differs from the primary's because of it.
                log = truth.replication_log
                behind = bool(log) and log[0][0] <= trace.clock.now_ms  # type: ignore[index]
                if behind and not write and truth.conn.execute(sql, params).fetchall() != rows:
                    attrs["db.stale"] = True
                    counts["db.stale_reads"] = counts.get("db.stale_reads", 0) + 1
            counts["db.queries"] = counts.get("db.queries", 0) + 1
            counts["db.rows_scanned"] = counts.get("db.rows_scanned", 0) + scanned
            if context is not None and context.sql_log is not None:
                context.sql_log.append((sql, tuple(params)))
            work_ms = steps * MS_PER_STEP
            if self.cores is None and self.stats is None:  # the default path: nothing more
                trace.clock.now_ms += ROUND_TRIP_MS + work_ms
            else:
                self._charge(trace, attrs, work_ms, scanned)
        if self.replication_log is not None:
            self._replicate(sql, params)
        return cur, rows

    def _charge(self, trace: tracing.Trace, attrs: dict[str, Any], work_ms: float,
                scanned: int) -> None:
        """Advance the request's clock by one statement on a file with limited cores or a shard's
        figures to keep: the statement arrives half a round trip from now, waits for a free core,
        works, and its answer travels back."""
        start = trace.clock.now_ms
        arrive = start + ROUND_TRIP_MS / 2
        run_at = arrive
        cores = self.cores
        if cores is not None:
            # This request arrived at its root's start; every request simulated after it
            # arrived later, so no statement to come can start before that.
            run_at = cores.run(arrive, work_ms, trace.root.start_ms)
            if run_at > arrive:
                attrs["db.core_wait_ms"] = round(run_at - arrive, 3)
                trace.counts["db.core_waits"] = trace.counts.get("db.core_waits", 0) + 1
        trace.clock.now_ms = run_at + work_ms + ROUND_TRIP_MS / 2
        stats = self.stats
        if stats is not None:
            attrs["db.shard"] = self.shard
            stats.queries += 1
            stats.rows_scanned += scanned
            stats.core_waits += run_at > arrive
            stats.statement_ms.append(trace.clock.now_ms - start)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run a read and return its rows (tuples)."""
        return self._run(sql, params, write=False)[1]

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Any | None:
        rows = self._run(sql, params, write=False)[1]
        return rows[0] if rows else None

    def _check_out(self, trace: tracing.Trace, pool: Pool) -> None:
        """Take a connection from the instance's pool for the rest of the request."""
        with trace.span("db.pool", "db") as span:
            ready = pool.acquire(trace.clock.now_ms)
            if ready > trace.clock.now_ms:
                span.attrs["db.pool_wait_ms"] = round(ready - trace.clock.now_ms, 3)
                trace.counts["db.pool_waits"] = trace.counts.get("db.pool_waits", 0) + 1
                trace.clock.now_ms = ready

    def write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run an INSERT, UPDATE or DELETE; the cursor has `lastrowid` and `rowcount`."""
        return self._run(sql, params, write=True)[0]

    def _replicate(self, sql: str, params: Sequence[Any]) -> None:
        """Record a change for the replica (by the statement: UPDATE ... RETURNING is a read
        call that changes data, too)."""
        if self.replication_log is None or sql.lstrip()[:6].upper() == "SELECT":
            return
        if self._txn is not None:
            self._txn.append((sql, tuple(params)))
        else:
            self.replication_log.append((self._now(), sql, tuple(params)))

    def _now(self) -> float:
        return self.clock.now_ms if self.clock is not None else 0.0

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together, or none do."""
        self.conn.execute("BEGIN")
        self._txn = [] if self.replication_log is not None else None
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            self._txn = None  # nothing of it happened, so nothing of it replicates
            raise
        self.conn.execute("COMMIT")
        if self._txn is not None and self.replication_log is not None:
            now = self._now()
            self.replication_log.extend((now, sql, params) for sql, params in self._txn)
        self._txn = None

    def replicate_until(self, primary: Database, until_ms: float) -> int:
        """Apply the primary's writes committed up to `until_ms` to this replica."""
        log = primary.replication_log
        applied = 0
        while log and log[0][0] <= until_ms:
            _, sql, params = log.popleft()
            self.conn.execute(sql, params)
            applied += 1
        return applied

    def close(self) -> None:
        self.conn.close()
