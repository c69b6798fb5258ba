"""Graded tests for cache-aside: hits, misses, TTL and invalidation, then a read-heavy run."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import fakeredis
import pytest

from sandbox.grading.harness import make_sandbox, scenario


class Clock:
    """A simulated clock for the tests: it only moves when a test moves it."""

    def __init__(self) -> None:
        self.s = 1000.0

    def __call__(self) -> float:
        return self.s


class Database:
    """A stand-in for the database: one row per key, counting how often each is loaded."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {"product:1": {"id": 1, "name": "red lamp",
                                                              "price_cents": 1999}}
        self.loads: list[str] = []

    def loader(self, key: str) -> Callable[[], dict[str, Any] | None]:
        def load() -> dict[str, Any] | None:
            self.loads.append(key)
            row = self.rows.get(key)
            return dict(row) if row is not None else None

        return load


def new_redis() -> Any:
    return fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)


def make(student: ModuleType, ttl_s: float = 30.0, redis: Any = None,
         clock: Clock | None = None) -> tuple[Any, Clock, Database]:
    clock = clock or Clock()
    return student.CacheAside(redis or new_redis(), ttl_s, clock), clock, Database()


@pytest.mark.points(3)
def test_a_miss_loads_then_a_hit_does_not(student: ModuleType) -> None:
    """The first get loads from the database; the next gets are served from the cache."""
    cache, _, db = make(student)
    first = cache.get("product:1", db.loader("product:1"))
    assert first == db.rows["product:1"], f"a miss must return what load() returned; got {first}"
    assert db.loads == ["product:1"], f"a miss calls load() once; it was called {len(db.loads)} times"
    again = [cache.get("product:1", db.loader("product:1")) for _ in range(3)]
    assert again == [db.rows["product:1"]] * 3, f"hits must return the cached value; got {again}"
    assert len(db.loads) == 1, (
        f"after the first get the value is cached, so 3 more gets must not call load(); it was "
        f"called {len(db.loads) - 1} more times")


@pytest.mark.points(3)
def test_an_entry_expires_after_its_ttl(student: ModuleType) -> None:
    """ttl_s=10 on the simulated clock: still a hit at 9.9 s, loaded again after 10 s."""
    cache, clock, db = make(student, ttl_s=10.0)
    cache.get("product:1", db.loader("product:1"))
    db.rows["product:1"]["price_cents"] = 2500  # changed behind the cache's back
    clock.s += 9.9
    assert cache.get("product:1", db.loader("product:1"))["price_cents"] == 1999, (
        "9.9 s after it was stored, a 10 s entry is still live: serve the cached copy")
    assert len(db.loads) == 1, "a live entry must not be loaded again"
    clock.s += 0.2
    fresh = cache.get("product:1", db.loader("product:1"))
    assert len(db.loads) == 2, (
        "10.1 s after it was stored, a 10 s entry has expired: get must call load() again (time "
        "is the `now()` you were given: the simulated clock, not time.time())")
    assert fresh["price_cents"] == 2500, f"after expiry, return the fresh value; got {fresh}"
    clock.s += 5.0
    cache.get("product:1", db.loader("product:1"))
    assert len(db.loads) == 2, "the reloaded value is cached again for another ttl_s seconds"


@pytest.mark.points(3)
def test_invalidate_forces_a_fresh_load(student: ModuleType) -> None:
    """After invalidate(key) the next get loads the new row instead of serving the old copy."""
    cache, _, db = make(student)
    cache.get("product:1", db.loader("product:1"))
    db.rows["product:1"]["price_cents"] = 2500
    cache.invalidate("product:1")
    fresh = cache.get("product:1", db.loader("product:1"))
    assert fresh["price_cents"] == 2500, (
        f"the price changed and invalidate('product:1') was called, yet get returned {fresh}: "
        "a stale read")
    assert len(db.loads) == 2, "after an invalidation the next get must load from the database"
    cache.get("product:1", db.loader("product:1"))
    assert len(db.loads) == 2, "and the fresh value is cached again"


@pytest.mark.points(2)
def test_the_cache_lives_in_redis(student: ModuleType) -> None:
    """Two app instances (two CacheAside objects) on one Redis share entries and invalidations."""
    redis, clock = new_redis(), Clock()
    first, _, db = make(student, redis=redis, clock=clock)
    second = student.CacheAside(redis, 30.0, clock)
    first.get("product:1", db.loader("product:1"))
    second.get("product:1", db.loader("product:1"))
    assert len(db.loads) == 1, (
        "the second instance must find the entry the first one stored: keep entries in Redis, "
        "not in a Python dict")
    db.rows["product:1"]["name"] = "blue lamp"
    second.invalidate("product:1")
    seen = first.get("product:1", db.loader("product:1"))
    assert seen["name"] == "blue lamp", (
        f"an invalidation on one instance must reach the others; the first still saw {seen}")


# Both runs use the same scenario, seed and switches; only the cache code differs. Both start
# with an empty cache (no warm-up). Entries live one simulated second, so over the run's two
# seconds many expire and are loaded again; no eviction (a large max_entries), so that only
# the TTL and invalidations decide what is cached.
SWITCHES = {"cache.strategy": "cache_aside", "cache.ttl_s": 1.0, "cache.max_entries": 100_000}


def read_heavy(student: ModuleType | None, switches: dict[str, object], requests: int,
               seed: int = 7) -> dict[str, Any]:
    """`steady` traffic (mostly product views, some orders and reviews) through a sandbox with
    the student's cache plugged in, or the sandbox's own cache-aside when `student` is None."""
    sb = make_sandbox(switches, plug=("cache_aside", student) if student else None, seed=seed)
    return scenario(sb, "steady", requests=requests, warmup=0)


def compare_with_the_sandbox(student: ModuleType, switches: dict[str, object], requests: int,
                             seed: int = 7) -> dict[str, Any]:
    mine, own = (read_heavy(student, switches, requests, seed),
                 read_heavy(None, switches, requests, seed))
    writes = own["status"].get("201", 0)
    assert writes > 0, "the scenario must contain writes (orders, reviews) to mean anything"
    assert own["cache"]["stale_reads"] == 0
    got, want = mine["cache"], own["cache"]
    assert got["stale_reads"] == 0, (
        f"{got['stale_reads']} reads were served from the cache after the product behind them "
        f"had changed ({writes} orders and reviews changed products during the run): a write "
        "must invalidate the entry")
    assert (got["hits"], got["misses"]) == (want["hits"], want["misses"]), (
        f"the same traffic gave the sandbox's cache-aside {want['hits']} hits and "
        f"{want['misses']} misses, and yours {got['hits']} hits and {got['misses']} misses. Too "
        "few hits: entries are not kept or expire too soon; too many: they outlive their TTL")
    assert mine["status"] == own["status"], (
        f"responses differ: the sandbox's cache gave {own['status']}, yours {mine['status']}")
    return mine


@pytest.mark.points(5)
def test_read_heavy_traffic_through_the_sandbox(student: ModuleType) -> None:
    """Your cache in the shop: the same hits as the sandbox's cache-aside, and no stale reads."""
    mine = compare_with_the_sandbox(student, SWITCHES, 400)
    assert mine["cache"]["hit_rate"] > 0.4
