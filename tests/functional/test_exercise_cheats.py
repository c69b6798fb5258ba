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


# 17 without the linked list: an OrderedDict does the ordering, and keys_newest_first() is
# rewritten to read it. It once scored 22/22.
BY_AN_ORDERED_DICT = '''
from collections import OrderedDict


class Node:
    def __init__(self, key, value, expires_at):
        self.key, self.value, self.expires_at = key, value, expires_at
        self.prev = self.next = None


class LruTtlCache:
    def __init__(self, max_entries, ttl_s):
        self.max_entries, self.ttl_s = max_entries, ttl_s
        self.od = OrderedDict()  # key -> (value, expires_at), most recent last
        self.head, self.tail = Node("<head>", None, 0.0), Node("<tail>", None, 0.0)
        self.head.next, self.tail.prev = self.tail, self.head

    def __len__(self):
        return len(self.od)

    def keys_newest_first(self):
        return list(reversed(self.od))

    def get(self, key, now_s):
        held = self.od.get(key)
        if held is None or now_s >= held[1]:
            return None
        self.od.move_to_end(key)
        return held[0]

    def put(self, key, value, now_s):
        self.od[key] = (value, now_s + self.ttl_s)
        self.od.move_to_end(key)
        while len(self.od) > max(1, self.max_entries):
            self.od.popitem(last=False)

    def delete(self, key):
        return self.od.pop(key, None) is not None
'''


def test_an_ordered_dict_loses_the_linked_list_points(tmp_path: Path) -> None:
    """17: an OrderedDict in place of the linked list answers every get right, but the tests
    walk the list from head and tail themselves: it loses those points (2 + 1 + hidden 3)."""
    (tmp_path / "od_cache.py").write_text(BY_AN_ORDERED_DICT, encoding="utf-8")
    cheat = load(tmp_path / "od_cache.py", "cheat_od_17")
    tests = graded("17-lru-ttl-cache", "test_lru_cache.py")
    hidden = load(EXERCISES / "17-lru-ttl-cache" / "hidden" / "test_lru_cache_hidden.py",
                  "cheat_hidden_17")
    for right in (tests.test_a_put_value_comes_back, tests.test_an_entry_expires_after_its_ttl,
                  tests.test_the_least_recently_used_entry_leaves,
                  hidden.test_putting_a_held_key_again_replaces_it):
        right(cheat)  # a working cache: only the list tells it apart
    loses(tests.test_the_list_keeps_the_order_of_use, cheat)
    loses(tests.test_delete_forgets_a_key, cheat)
    loses(hidden.test_a_long_random_run_matches_a_model, cheat)
    reference = solution("17-lru-ttl-cache", "lru_cache.py")
    tests.test_the_list_keeps_the_order_of_use(reference)
    tests.test_delete_forgets_a_key(reference)
    hidden.test_a_long_random_run_matches_a_model(reference)

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


@pytest.mark.parametrize("reach", ["error.envelope(request_id)",
                                   'getattr(error, "envelope")(request_id)'])
def test_the_sandboxs_own_envelope_loses_the_envelope_point(tmp_path: Path, reach: str) -> None:
    """08: render_error handing an ApiError's body to the sandbox's ApiError.envelope()
    answers every request right; the hidden test that reads how the body is built takes its
    point, and the reference solution keeps all of them. Graded as the grader grades."""
    import shutil

    from sandbox.course.exercises import load_exercise
    from sandbox.grading.runner import run_exercise

    folder = tmp_path / "08-error-envelope"
    shutil.copytree(EXERCISES / "08-error-envelope", folder,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(EXERCISES / "pytest.ini", tmp_path / "pytest.ini")
    answer = (folder / "solution" / "error_envelope.py").read_text(encoding="utf-8")
    honest_line = "    return status, envelope(code, message, request_id, details)\n"
    assert honest_line in answer
    cheat = answer.replace(honest_line, "    if isinstance(error, ApiError):  # logged above\n"
                           f"        return status, {reach}\n" + honest_line)
    exercise = load_exercise(folder)
    for name, text in (("honest", answer), ("cheat", cheat)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "error_envelope.py").write_text(text, encoding="utf-8")
    honest = run_exercise(exercise, hidden=True, student_dir=tmp_path / "honest")
    cheated = run_exercise(exercise, hidden=True, student_dir=tmp_path / "cheat")
    assert honest.score == honest.max_score, honest.output
    lost = [o.test.name for o in cheated.outcomes if not o.passed]
    assert lost == ["test_the_body_is_built_by_your_envelope"], cheated.output
    assert cheated.score == honest.max_score - 1
