"""Graded tests for your tests: they must pass on right caches and fail on broken ones.

This is mutation testing: each broken cache below is a right one with one bug put in. A test
suite is as good as the bugs it catches, and a test that fails on a right cache is wrong too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import fakeredis
import pytest

from sandbox.grading.remote import student_functions
from sandbox.mechanisms.cache import Cache, make_strategy
from sandbox.mechanisms.redis_store import RedisStore
from sandbox.settings import CacheSettings

Now = Callable[[], float]
Load = Callable[[], dict[str, Any] | None]
# A family of caches: called once per student test, it returns that test's `make_cache`
# (every cache one make_cache makes shares one fresh Redis).
Family = Callable[[], Callable[[float, Now], Any]]


class RightCache:
    """Cache-aside done right: JSON with its expiry time in Redis, DEL on invalidation."""

    prefix = "cache:"

    def __init__(self, redis: Any, ttl_s: float, now: Now) -> None:
        self.redis, self.ttl_s, self.now = redis, ttl_s, now

    def expires(self) -> float:
        return self.now() + self.ttl_s

    def live(self, entry: dict[str, Any]) -> bool:
        return bool(self.now() < entry["expires_at"])

    def get(self, key: str, load: Load) -> dict[str, Any] | None:
        raw = self.redis.get(self.prefix + key)
        if raw is not None:
            entry = json.loads(raw)
            if self.live(entry):
                return entry["value"]  # type: ignore[no-any-return]
        value = load()
        if value is not None:
            self.redis.set(self.prefix + key, json.dumps({"value": value,
                                                          "expires_at": self.expires()}))
        return value

    def invalidate(self, key: str) -> None:
        self.redis.delete(self.prefix + key)


class GenerationCache:
    """Also right, built differently: invalidation bumps a per-key generation number, and an
    entry counts only if it was stored under the current generation. Its expiry is inclusive:
    an entry is still served at exactly ttl_s seconds."""

    def __init__(self, redis: Any, ttl_s: float, now: Now) -> None:
        self.redis, self.ttl_s, self.now = redis, ttl_s, now

    def get(self, key: str, load: Load) -> dict[str, Any] | None:
        generation, raw = self.redis.mget(f"gen:{key}", f"entry:{key}")
        generation = int(generation or 0)
        if raw is not None:
            entry = json.loads(raw)
            if entry["gen"] == generation and self.now() <= entry["stored"] + self.ttl_s:
                return entry["value"]  # type: ignore[no-any-return]
        value = load()
        if value is not None:
            self.redis.set(f"entry:{key}", json.dumps({"value": value, "gen": generation,
                                                       "stored": self.now()}))
        return value

    def invalidate(self, key: str) -> None:
        self.redis.incr(f"gen:{key}")


class NeverInvalidates(RightCache):
    def invalidate(self, key: str) -> None:
        pass  # the bug: a write leaves the old entry in place until its TTL ends


class InvalidatesTheWrongKey(RightCache):
    def invalidate(self, key: str) -> None:
        self.redis.delete(key)  # the bug: entries live under "cache:" + key


class IgnoresTheTtl(RightCache):
    def live(self, entry: dict[str, Any]) -> bool:
        return True  # the bug: the expiry time is stored, and never looked at


def family(cls: type) -> Family:
    """make_cache factories for one cache class, one fresh Redis per student test."""

    def new_family() -> Callable[[float, Now], Any]:
        redis = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
        return lambda ttl_s, now: cls(redis, ttl_s, now)

    return new_family


class _StudentClock:
    """The sandbox's Cache reads `clock.now_ms`; here that is the student's `now()`."""

    def __init__(self, now: Now) -> None:
        self._now = now

    @property
    def now_ms(self) -> float:
        return self._now() * 1000.0


class SandboxCache:
    """The sandbox's own cache (sandbox/mechanisms/cache.py: the Redis store and one of its
    strategies), behind the interface your tests use."""

    def __init__(self, store: RedisStore, ttl_s: float, now: Now, strategy: str,
                 invalidate_on_write: bool) -> None:
        settings = CacheSettings(strategy=strategy, ttl_s=ttl_s,  # type: ignore[arg-type]
                                 max_entries=100_000, invalidate_on_write=invalidate_on_write)
        self.strategy = make_strategy(Cache(store, _StudentClock(now), settings))  # type: ignore[arg-type]
        self.loaders: dict[str, Load] = {}

    def get(self, key: str, load: Load) -> dict[str, Any] | None:
        self.loaders[key] = load  # a write-through cache loads the new row when told of a write
        return self.strategy.read(key, load)

    def invalidate(self, key: str) -> None:
        self.strategy.written(key, self.loaders.get(key, lambda: None))


def sandbox_family(strategy: str, invalidate_on_write: bool = True) -> Family:
    def new_family() -> Callable[[float, Now], Any]:
        store = RedisStore()  # in-process fakeredis with a server of its own
        return lambda ttl_s, now: SandboxCache(store, ttl_s, now, strategy, invalidate_on_write)

    return new_family


@dataclass
class Outcome:
    test: str
    kind: str  # "passed", "failed" (an assert did not hold) or "crashed" (another exception)
    detail: str = ""

    def describe(self) -> str:
        if self.kind == "passed":
            return f"{self.test} passed"
        if self.kind == "failed":
            return f"{self.test} failed: {self.detail}"
        return f"{self.test} crashed with {self.detail}"


def student_tests(student: ModuleType) -> list[tuple[str, Callable[[Any], None]]]:
    tests = student_functions(student, prefix="test")
    assert tests, "cache_tests.py has no test functions (their names start with test_)"
    return tests


def run_student_tests(student: ModuleType, new_family: Family) -> list[Outcome]:
    """Run each of the student's tests on a fresh family of caches."""
    outcomes = []
    for name, test in student_tests(student):
        try:
            test(new_family())
        except (AssertionError, pytest.fail.Exception) as exc:
            outcomes.append(Outcome(name, "failed", str(exc).split("\n")[0][:200] or "assert"))
        except Exception as exc:
            outcomes.append(Outcome(name, "crashed", f"{type(exc).__name__}: {exc}"[:200]))
        else:
            outcomes.append(Outcome(name, "passed"))
    return outcomes


def check_passes(student: ModuleType, new_family: Family, what: str) -> None:
    """Every one of the student's tests passes on a right cache."""
    wrong = [o for o in run_student_tests(student, new_family) if o.kind != "passed"]
    if not wrong:
        return
    if wrong[0].kind == "crashed":
        raise AssertionError(f"on {what}, which has no bug, {wrong[0].describe()}; each test "
                             "must run to its end on a right cache")
    raise AssertionError(
        f"on {what}, which has no bug, {wrong[0].describe()}. A test that fails on a right "
        "cache is a false alarm: check what get returns, not how the cache got it (a right "
        "cache may call load at other moments than yours does, or serve an entry at exactly "
        "its TTL)")


def check_catches(student: ModuleType, new_family: Family, bug: str, how: str) -> None:
    """At least one of the student's tests fails (by an assert) on a cache with `bug`."""
    check_passes(student, family(RightCache), "a right cache")
    outcomes = run_student_tests(student, new_family)
    if any(o.kind == "failed" for o in outcomes):
        return
    crashed = [o for o in outcomes if o.kind == "crashed"]
    if crashed:
        raise AssertionError(
            f"on a cache that {bug}, {crashed[0].describe()}: a test should catch a bug with "
            "an assert that fails, not crash")
    raise AssertionError(f"all your tests passed on a cache that {bug}: {how}")


@pytest.mark.points(3)
def test_your_tests_pass_on_right_caches(student: ModuleType) -> None:
    """Your tests pass on two right caches that work differently inside."""
    check_passes(student, family(RightCache), "a right cache (delete on invalidation)")
    check_passes(student, family(GenerationCache),
                 "a right cache built differently (a generation number per key)")


@pytest.mark.points(3)
def test_you_catch_a_cache_that_never_invalidates(student: ModuleType) -> None:
    """A cache whose invalidate() does nothing: one of your tests must fail."""
    check_catches(student, family(NeverInvalidates), "ignores invalidate()",
                  "none of them changes a row, invalidates its key, and asserts that the next "
                  "get returns the new row")


@pytest.mark.points(3)
def test_you_catch_invalidation_of_the_wrong_key(student: ModuleType) -> None:
    """A cache whose invalidate() deletes a key it never stored: one of your tests must fail."""
    check_catches(student, family(InvalidatesTheWrongKey), "invalidates the wrong key",
                  "check the value get returns after an invalidation, not only that "
                  "invalidate() ran without an error")


@pytest.mark.points(3)
def test_you_catch_a_cache_that_ignores_its_ttl(student: ModuleType) -> None:
    """A cache that never lets an entry expire: one of your tests must fail."""
    check_catches(student, family(IgnoresTheTtl), "ignores its TTL",
                  "change a row without invalidating it, move the clock past the TTL, and "
                  "assert that get returns the new row")


@pytest.mark.points(4)
def test_on_the_sandboxs_own_cache(student: ModuleType) -> None:
    """The sandbox's real cache: you pass on its 3 strategies, and fail with invalidation off."""
    for strategy in ("cache_aside", "read_through", "write_through"):
        check_passes(student, sandbox_family(strategy),
                     f"the sandbox's own cache (cache.strategy={strategy})")
    check_catches(student, sandbox_family("cache_aside", invalidate_on_write=False),
                  "is the sandbox's own, switched to cache.invalidate_on_write=off",
                  "that switch makes writes leave old entries in place, so a read after an "
                  "invalidation must see the old row and your assert must fail")
