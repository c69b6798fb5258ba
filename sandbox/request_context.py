"""What one request carries down the layers besides its trace: the control state.

The network opens a RequestContext for each request it carries, and fills in the pool and
the read route when an app instance takes the request; the database and the app read it
through `current_request`, as they read the trace through `current_trace`.
The trace only records what happened; this decides what happens (which pool a statement
takes its connection from, where lag-tolerant reads go). Outside a request there is none,
and statements simply run.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol


class Pool(Protocol):
    """A connection pool as a request uses it (`network.instance.ConnectionPool`)."""

    def acquire(self, now_ms: float) -> float: ...

    def release(self, end_ms: float) -> None: ...


@dataclass(slots=True)
class RequestContext:
    """One request's control state."""

    # The serving instance's connection pool (None: statements take no connection from one).
    pool: Pool | None = None
    # True once this request has checked a connection out; the network gives it back.
    connection: bool = False
    # Where lag-tolerant reads go when a read router decided: "primary" or "replica";
    # "" leaves it to the app (the replica whenever there is one).
    read_route: str = ""
    # When a list, each SQL statement and its parameters are appended (the bench replays it).
    sql_log: list[tuple[str, tuple[Any, ...]]] | None = None


current_request: ContextVar[RequestContext | None] = ContextVar("current_request", default=None)
