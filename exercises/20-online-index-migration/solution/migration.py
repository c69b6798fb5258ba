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
    # BEGIN SOLUTION
    # TODO: an AFTER INSERT trigger that copies NEW into the shadow (INSERT OR REPLACE: the
    # TODO: row may already be there), an AFTER UPDATE that does the same with the new values,
    # TODO: and an AFTER DELETE that deletes OLD.id from the shadow
    names = ", ".join(f'"{c}"' for c in cols)
    values = ", ".join(f'NEW."{c}"' for c in cols)
    copy_new = f'INSERT OR REPLACE INTO "{shadow}" ({names}) VALUES ({values});'
    conn.execute(f'CREATE TRIGGER "{shadow}_ins" AFTER INSERT ON "{table}" BEGIN {copy_new} END')
    conn.execute(f'CREATE TRIGGER "{shadow}_upd" AFTER UPDATE ON "{table}" BEGIN '
                 # The id itself may change: the row under its old id goes first.
                 f'DELETE FROM "{shadow}" WHERE id = OLD.id; {copy_new} END')
    conn.execute(f'CREATE TRIGGER "{shadow}_del" AFTER DELETE ON "{table}" BEGIN '
                 f'DELETE FROM "{shadow}" WHERE id = OLD.id; END')
    # END SOLUTION


def copy_batch(conn: Any, table: str, shadow: str, after_id: int, batch_size: int) -> int | None:
    """Copy the next `batch_size` rows (by id, those above `after_id`) into the shadow, in one
    short transaction. Returns the last id copied, or None when no rows were left.

    A row the triggers already put in the shadow is newer than the one read here: keep it."""
    # BEGIN SOLUTION
    # TODO: in one BEGIN IMMEDIATE ... COMMIT: find the id that ends this batch, copy the rows
    # TODO: after_id < id <= that id with INSERT OR IGNORE (the triggers' copies are newer)
    conn.execute("BEGIN IMMEDIATE")
    try:
        last = conn.execute(
            f'SELECT MAX(id) FROM (SELECT id FROM "{table}" WHERE id > ? ORDER BY id LIMIT ?)',
            (after_id, batch_size)).fetchone()[0]
        if last is not None:
            conn.execute(f'INSERT OR IGNORE INTO "{shadow}" SELECT * FROM "{table}" '
                         "WHERE id > ? AND id <= ?", (after_id, last))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(last) if last is not None else None
    # END SOLUTION


def swap(conn: Any, table: str, shadow: str) -> None:
    """In one transaction: drop the old table (its triggers go with it) and give the shadow
    its name. Readers and writers see either the old table or the new one, never neither."""
    # BEGIN SOLUTION
    # TODO: BEGIN IMMEDIATE; DROP TABLE the old one; ALTER TABLE the shadow RENAME TO its name;
    # TODO: COMMIT (and ROLLBACK if anything failed)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(f'DROP TABLE "{table}"')
        conn.execute(f'ALTER TABLE "{shadow}" RENAME TO "{table}"')
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    # END SOLUTION


def add_index_online(conn: Any, table: str, column: str, index: str,
                     batch_size: int = 500) -> Iterator[str]:
    """Add `CREATE INDEX index ON table (column)` without holding the write lock for long.

    A generator: yield after each step that released the lock ("prepared", then "batch"
    after each copied batch, then "swapped"), so that the caller's writes get in between.
    Name the shadow table `_new_<table>`.
    """
    # BEGIN SOLUTION
    # TODO: create the shadow, create the index on it (cheap: it is empty) and the triggers,
    # TODO: and note the highest id, all in one short transaction; yield "prepared"
    # TODO: copy batch after batch from id 0 (yield "batch" after each) up to that highest id
    # TODO: then swap, and yield "swapped"
    shadow = f"_new_{table}"
    conn.execute("BEGIN IMMEDIATE")
    create_shadow(conn, table, shadow)
    # On the shadow the index grows with each batch: no long sort at the end.
    conn.execute(f'CREATE INDEX "{index}" ON "{shadow}" ("{column}")')
    install_triggers(conn, table, shadow, columns(conn, table))
    # Rows inserted from now on reach the shadow through the trigger: the backfill stops at
    # today's highest id, or on a busy table it would chase new rows for ever.
    highest = conn.execute(f'SELECT MAX(id) FROM "{table}"').fetchone()[0] or 0
    conn.execute("COMMIT")
    yield "prepared"
    last: int | None = 0
    while last is not None and last < highest:
        last = copy_batch(conn, table, shadow, last, batch_size)
        yield "batch"
    swap(conn, table, shadow)
    yield "swapped"
    # END SOLUTION
