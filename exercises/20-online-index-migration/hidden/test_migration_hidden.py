"""Hidden tests: the batch size is the one asked for, the table keeps its definition, and a
heavier crowd of writes (ids moved too) during the migration."""

from __future__ import annotations

import random
from types import ModuleType

import pytest

from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_migration.py")


@pytest.mark.points(2)
def test_batches_are_the_size_asked_for(student: ModuleType) -> None:
    """2,050 rows in batches of 100: 21 batches, and the table keeps its columns and key."""
    conn = visible.shop(2050)
    before = conn.execute("PRAGMA table_info(orders)").fetchall()
    meter, steps = visible.migrate(student, conn, batch_size=100)
    assert steps.count("batch") == 21, f"2,050 rows / 100 per batch is 21 batches; got {steps}"
    after = conn.execute("PRAGMA table_info(orders)").fetchall()
    assert after == before, f"the table's definition changed: {before} became {after}"
    assert meter.longest * 20 <= visible.one_create_index_hold(), (
        "batches of 100 hold the lock for a small share of one CREATE INDEX on 20,000 rows")


@pytest.mark.points(3)
def test_a_crowd_of_writes_moving_ids(student: ModuleType) -> None:
    """Twenty writes between every step, some moving a row to another id: nothing lost."""
    conn, model = visible.shop(), visible.shop()
    shoppers = visible.Shoppers(conn, model, seed=21)
    rng = random.Random(5)
    write = shoppers.write

    def more() -> None:
        write(20)
        old, new = rng.randrange(1, visible.ROWS), shoppers.next_id
        shoppers.next_id += 1
        for c in (conn, model):
            c.execute("UPDATE orders SET id = ? WHERE id = ?", (new, old))

    shoppers.write = more  # type: ignore[method-assign]
    visible.migrate(student, conn, shoppers)
    assert visible.table(conn) == visible.table(model), (
        "rows written during the migration (some moved to a new id) were lost or out of date")
