"""Hidden tests: subtler broken caches your tests must catch."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_cache_tests.py")


class ExpiresEarly(visible.RightCache):  # type: ignore[name-defined,misc]
    def expires(self) -> float:
        return self.now() + self.ttl_s / 2  # the bug: entries last half their TTL


class TtlInMinutes(visible.RightCache):  # type: ignore[name-defined,misc]
    def expires(self) -> float:
        return self.now() + self.ttl_s * 60  # the bug: seconds read as minutes


class NeverCaches(visible.RightCache):  # type: ignore[name-defined,misc]
    def get(self, key: str, load: Any) -> Any:
        return load()  # the bug: every read goes to the database; nothing is ever stale


class LocalCopyPerInstance(visible.RightCache):  # type: ignore[name-defined,misc]
    """Keeps a copy in the app's memory in front of Redis, and only its own copy is dropped on
    invalidation: other instances keep serving theirs."""

    def __init__(self, redis: Any, ttl_s: float, now: Any) -> None:
        super().__init__(redis, ttl_s, now)
        self.local: dict[str, tuple[float, Any]] = {}

    def get(self, key: str, load: Any) -> Any:
        if key in self.local and self.now() < self.local[key][0]:
            return self.local[key][1]
        value = super().get(key, load)
        if value is not None:
            self.local[key] = (self.expires(), value)
        return value

    def invalidate(self, key: str) -> None:
        self.local.pop(key, None)
        super().invalidate(key)


@pytest.mark.points(3)
def test_you_catch_wrong_ttls(student: ModuleType) -> None:
    """Entries that expire at half their TTL, or last 60 times too long: your tests must fail."""
    visible.check_catches(student, visible.family(ExpiresEarly), "expires entries too early",
                          "check that an entry is still served shortly before its TTL ends")
    visible.check_catches(student, visible.family(TtlInMinutes),
                          "reads the TTL as minutes", "check shortly after the TTL, not an "
                          "hour later")


@pytest.mark.points(3)
def test_you_catch_a_cache_that_does_not_cache(student: ModuleType) -> None:
    """A cache that always loads: your tests must notice that nothing is cached."""
    visible.check_catches(student, visible.family(NeverCaches), "never caches anything",
                          "a stale-read test proves little if the cache might not cache at "
                          "all: first show that a change nobody announced is not seen yet")


@pytest.mark.points(3)
def test_you_catch_a_copy_other_instances_keep(student: ModuleType) -> None:
    """Each app instance keeps its own copy in memory: an invalidation elsewhere must show."""
    visible.check_catches(student, visible.family(LocalCopyPerInstance),
                          "keeps a copy in each app instance's memory",
                          "make two caches (two app instances on one Redis), invalidate in one "
                          "and read in the other")
