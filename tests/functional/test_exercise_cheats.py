"""Dishonest or half-right answers to exercises 17 to 20, kept as tests: each must lose the
points of the graded test named beside it. (The graded tests are called here directly with
the answer as a plain module; the grader's worker isolation is tested in
test_grading_red_team.py.)"""

from __future__ import annotations

import importlib.util
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

EXERCISES = Path(__file__).resolve().parents[2] / "exercises"


def load(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def solution(folder: str, file: str) -> types.ModuleType:
    return load(EXERCISES / folder / "solution" / file, f"cheat_base_{folder[:2]}")


def graded(folder: str, file: str) -> types.ModuleType:
    return load(EXERCISES / folder / file, f"cheat_tests_{folder[:2]}")


def loses(test: Callable[[Any], None], answer: Any) -> None:
    with pytest.raises(AssertionError):
        test(answer)


def test_a_fifo_cache_loses_the_lru_points() -> None:
    """17: a cache that never moves an entry on a hit is FIFO, not LRU."""
    fifo = solution("17-lru-ttl-cache", "lru_cache.py")

    def get(self: Any, key: str, now_s: float) -> Any:
        node = self.entries.get(key)
        return None if node is None or now_s >= node.expires_at else node.value

    fifo.LruTtlCache.get = get
    tests = graded("17-lru-ttl-cache", "test_lru_cache.py")
    loses(tests.test_the_least_recently_used_entry_leaves, fifo)
    loses(tests.test_the_shop_runs_on_your_cache, fifo)


def test_retrying_writes_and_ignoring_the_budget_lose_the_storm_points() -> None:
    """18: a retrier that retries everything, budget or not."""
    greedy = solution("18-retry-with-jitter", "retry.py")
    greedy.Retrier.should_retry = lambda self, made, outcome, idempotent: (
        outcome != "ok" and made < self.max_attempts)
    tests = graded("18-retry-with-jitter", "test_retry.py")
    loses(tests.test_only_failures_of_idempotent_calls_are_retried, greedy)
    loses(tests.test_the_budget_stops_a_retry_storm, greedy)


def test_selling_without_taking_stock_or_reading_then_writing_oversells() -> None:
    """19: prices without touching the stock, and the naive read-then-write."""
    tests = graded("19-oversell-proof-stock", "test_stock.py")
    free = types.ModuleType("free")

    def take_order(lines: list[list[int]]) -> Iterator[Any]:
        yield ("SELECT 1", ())
        return {product_id: 1 for product_id, _ in lines}

    free.take_order = take_order  # type: ignore[attr-defined]
    loses(tests.test_the_flash_sale_never_oversells, free)
    naive = types.ModuleType("naive")
    naive.take_order = tests.read_then_write  # type: ignore[attr-defined]
    loses(tests.test_the_flash_sale_never_oversells, naive)


def test_a_plain_create_index_in_disguise_holds_the_lock_too_long() -> None:
    """20: yields that pretend to be batches around one plain CREATE INDEX."""
    tests = graded("20-online-index-migration", "test_migration.py")
    cheat = types.ModuleType("cheat")

    def add_index_online(conn: Any, table: str, column: str, index: str,
                         batch_size: int = 500) -> Iterator[str]:
        yield "prepared"
        for _ in range(50):
            yield "batch"
        conn.execute(f'CREATE INDEX "{index}" ON "{table}" ("{column}")')
        yield "swapped"

    cheat.add_index_online = add_index_online  # type: ignore[attr-defined]
    tests.test_the_index_is_there_and_used(cheat)  # the index is real...
    loses(tests.test_the_lock_is_never_held_long, cheat)  # ...and so is the outage
    meter = tests.LockMeter(tests.shop(10))
    with pytest.raises(AttributeError):
        meter.holds = []  # the answer holds the meter: its record is read-only


def test_a_backfill_that_chases_new_rows_never_ends() -> None:
    """20: copying until no row is left, on a table that gets a new order at every step."""
    chaser = solution("20-online-index-migration", "migration.py")
    tests = graded("20-online-index-migration", "test_migration.py")

    def add_index_online(conn: Any, table: str, column: str, index: str,
                         batch_size: int = 500) -> Iterator[str]:
        shadow = f"_new_{table}"
        conn.execute("BEGIN IMMEDIATE")
        chaser.create_shadow(conn, table, shadow)
        conn.execute(f'CREATE INDEX "{index}" ON "{shadow}" ("{column}")')
        chaser.install_triggers(conn, table, shadow, chaser.columns(conn, table))
        conn.execute("COMMIT")
        yield "prepared"
        last = chaser.copy_batch(conn, table, shadow, 0, batch_size)
        while last is not None:  # the new order of each step is always one more row
            yield "batch"
            last = chaser.copy_batch(conn, table, shadow, last, batch_size)
        chaser.swap(conn, table, shadow)
        yield "swapped"

    chaser.add_index_online = add_index_online
    with pytest.raises(AssertionError, match="chases them for ever"):
        tests.test_writes_between_batches_are_kept(chaser)
