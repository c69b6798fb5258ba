"""Hidden tests: re-putting a key, a long random run against a model, and short-lived entries in the shop."""

from __future__ import annotations

import random
from collections import OrderedDict
from types import ModuleType
from typing import Any

import pytest

from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_lru_cache.py")


@pytest.mark.points(2)
def test_putting_a_held_key_again_replaces_it(student: ModuleType) -> None:
    """A second put of a key replaces its value and expiry, and evicts nothing."""
    cache = student.LruTtlCache(2, 10.0)
    cache.put("a", 1, 0.0)
    cache.put("b", 2, 0.0)
    cache.put("a", 3, 5.0)
    assert len(cache) == 2 and cache.get("b", 6.0) == 2, "re-putting 'a' must not evict 'b'"
    assert cache.get("a", 12.0) == 3, "the second put starts a new TTL and a new value"


@pytest.mark.points(3)
def test_a_long_random_run_matches_a_model(student: ModuleType) -> None:
    """Hundreds of seeded gets, puts and deletes give the same answers as a simple model."""
    rng = random.Random(18)
    cache = student.LruTtlCache(5, 3.0)
    model: OrderedDict[str, tuple[int, float]] = OrderedDict()  # key -> (value, expires)
    now = 0.0
    for step in range(300):
        now += rng.random()
        key, op = f"k{rng.randrange(9)}", rng.random()
        if op < 0.5:
            held = model.get(key)
            want: Any = held[0] if held and now < held[1] else None
            if want is not None:
                model.move_to_end(key, last=False)
            got = cache.get(key, now)
            assert got == want, f"step {step}: get({key!r}) at {now:.2f} s gave {got!r}, not {want!r}"
        elif op < 0.9:
            model[key] = (step, now + 3.0)
            model.move_to_end(key, last=False)
            while len(model) > 5:
                model.popitem(last=True)
            cache.put(key, step, now)
        else:
            assert cache.delete(key) is (model.pop(key, None) is not None)
    assert visible.walk(cache) == list(model), "the order of use differs at the end"


@pytest.mark.points(2)
def test_short_lived_entries_in_the_shop(student: ModuleType) -> None:
    """Entries living 0.3 s in the shop, so the TTL decides: the same hits as the sandbox's."""
    visible.compare_with_the_sandbox(student, {"cache.max_entries": 40, "cache.ttl_s": 0.3})
