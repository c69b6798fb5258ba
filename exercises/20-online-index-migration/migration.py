"""Adding an index to a big, busy table without stopping its writes for long.

`CREATE INDEX` reads the whole table and sorts it while it holds the database's write lock:
on a large table, every order, every signup waits that long. SQLite cannot build an index
bit by bit, so the online way is the one the big online-schema-change tools take: build a
**shadow copy** of the table that has the index from the start, fill it in small batches
(each a short transaction, so writes get in between), keep it in step with **triggers** for
every write made meanwhile, and finally **swap** the two in one short transaction.

The connection you get runs each statement on its own unless you open a transaction
yourself: `conn.execute("BEGIN IMMEDIATE")` ... `conn.execute("COMMIT")`. The write lock is
held from BEGIN IMMEDIATE to COMMIT: keep that stretch short.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def columns(conn: Any, table: str) -> list[str]:
    """The table's column names, in order."""
    return [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")').fetchall()]


def create_shadow(conn: Any, table: str, shadow: str) -> None:
    """Create an empty table `shadow` with exactly `table`'s definition (its primary key and
    constraints too, which `CREATE TABLE ... AS SELECT` would lose)."""
    found = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                         (table,)).fetchone()
    if found is None:
        raise ValueError(f"there is no table {table!r}")
    rest = found[0].split("(", 1)[1]  # everything after the table's name
    conn.execute(f'CREATE TABLE "{shadow}" ({rest}')


def install_triggers(conn: Any, table: str, shadow: str, cols: list[str]) -> None:
    """Make every INSERT, UPDATE and DELETE on `table` do the same to `shadow` from now on,
    so that rows written during the copy are not lost or left out of date.

    Name them `<shadow>_ins`, `<shadow>_upd` and `<shadow>_del`."""
    # TODO: an AFTER INSERT trigger that copies NEW into the shadow (INSERT OR REPLACE: the
    # TODO: row may already be there), an AFTER UPDATE that does the same with the new values,
    # TODO: and an AFTER DELETE that deletes OLD.id from the shadow
    raise NotImplementedError("not written yet: see the TODO above")


def copy_batch(conn: Any, table: str, shadow: str, after_id: int, batch_size: int) -> int | None:
    """Copy the next `batch_size` rows (by id, those above `after_id`) into the shadow, in one
    short transaction. Returns the last id copied, or None when no rows were left.

    A row the triggers already put in the shadow is newer than the one read here: keep it."""
    # TODO: in one BEGIN IMMEDIATE ... COMMIT: find the id that ends this batch, copy the rows
    # TODO: after_id < id <= that id with INSERT OR IGNORE (the triggers' copies are newer)
    raise NotImplementedError("not written yet: see the TODO above")


def swap(conn: Any, table: str, shadow: str) -> None:
    """In one transaction: drop the old table (its triggers go with it) and give the shadow
    its name. Readers and writers see either the old table or the new one, never neither."""
    # TODO: BEGIN IMMEDIATE; DROP TABLE the old one; ALTER TABLE the shadow RENAME TO its name;
    # TODO: COMMIT (and ROLLBACK if anything failed)
    raise NotImplementedError("not written yet: see the TODO above")


def add_index_online(conn: Any, table: str, column: str, index: str,
                     batch_size: int = 500) -> Iterator[str]:
    """Add `CREATE INDEX index ON table (column)` without holding the write lock for long.

    A generator: yield after each step that released the lock ("prepared", then "batch"
    after each copied batch, then "swapped"), so that the caller's writes get in between.
    Name the shadow table `_new_<table>`.
    """
    # TODO: create the shadow, create the index on it (cheap: it is empty) and the triggers,
    # TODO: and note the highest id, all in one short transaction; yield "prepared"
    # TODO: copy batch after batch from id 0 (yield "batch" after each) up to that highest id
    # TODO: then swap, and yield "swapped"
    raise NotImplementedError("not written yet: see the TODO above")
