"""What a student's SQL gets: a connection-like object over one of the sandbox's Databases.

It offers the small part of sqlite3's connection an exercise needs: `execute(sql, params)`
returning a cursor-like result (`fetchall`, `fetchone`, iteration, `rowcount`, `lastrowid`),
and `transaction()`, a context manager whose statements commit together or not at all. Every
statement goes through the Database, so inside a request it is traced, costed and counted in
`db.queries` like the sandbox's own; outside one it simply runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.backend.database import Database

_READS = ("SELECT", "WITH", "VALUES", "EXPLAIN", "PRAGMA")


class Rows:
    """The answer to one statement, read the way a sqlite3 cursor is read."""

    def __init__(self, rows: list[Any], rowcount: int = -1, lastrowid: int | None = None) -> None:
        self.rows = rows
        self.rowcount = rowcount  # rows changed by a write; -1 for a read, as in sqlite3
        self.lastrowid = lastrowid
        self._next = 0

    def fetchall(self) -> list[Any]:
        rest, self._next = self.rows[self._next:], len(self.rows)
        return rest

    def fetchone(self) -> Any | None:
        if self._next >= len(self.rows):
            return None
        self._next += 1
        return self.rows[self._next - 1]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class TracedConnection:
    """`execute` and `transaction` over a sandbox Database (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        words = sql.lstrip().split(None, 1)
        if (words and words[0].upper() in _READS) or "RETURNING" in sql.upper():
            rows = self.db.query(sql, params)
            return Rows(rows, -1 if words and words[0].upper() in _READS else len(rows))
        cur = self.db.write(sql, params)
        return Rows([], cur.rowcount, cur.lastrowid)

    def transaction(self) -> AbstractContextManager[None]:
        """`with conn.transaction():` the statements inside commit together, or none does."""
        return self.db.transaction()
