"""Graded tests for the LRU cache with a TTL: hits, expiry, eviction order, then the shop."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from sandbox.grading.harness import make_sandbox, scenario


def walk(cache: Any) -> list[str]:
    """The keys on the cache's own linked list, read by following `next` from `cache.head`
    to the tail sentinel (the one node whose `next` is None); and, following `prev` back from
    `cache.tail`, the same keys in reverse. Not keys_newest_first(): the list itself."""
    limit = len(cache) + 2  # a loop in the links must not run forever
    forward: list[str] = []
    node = cache.head.next
    while node is not None and node.next is not None and len(forward) <= limit:
        forward.append(node.key)
        node = node.next
    assert node is not None and len(forward) <= limit, (
        "following next from cache.head must reach cache.tail (the node whose next is None) "
        f"after the entries; it went {forward[:8]} and then "
        + ("ran off the end of the list" if node is None else "kept going (a loop?)"))
    backward: list[str] = []
    node = cache.tail.prev
    while node is not None and node.prev is not None and len(backward) <= limit:
        backward.append(node.key)
        node = node.prev
    assert backward[::-1] == forward, (
        f"the prev links disagree with the next links: from the head the keys are {forward}, "
        f"from the tail back {backward}; every link must be set both ways")
    return forward


@pytest.mark.points(2)
def test_a_put_value_comes_back(student: ModuleType) -> None:
    """get returns what put stored, and None for a key never put."""
    cache = student.LruTtlCache(3, 10.0)
    assert cache.get("a", 0.0) is None, "an empty cache has nothing: get must return None"
    cache.put("a", {"id": 1}, 0.0)
    cache.put("b", {"id": 2}, 0.0)
    got = (cache.get("a", 1.0), cache.get("b", 1.0), cache.get("c", 1.0))
    assert got == ({"id": 1}, {"id": 2}, None), (
        f"after put('a', {{'id': 1}}) and put('b', {{'id': 2}}), get a, b and c gave {got}")
    assert len(cache) == 2, f"two keys were put; len(cache) is {len(cache)}"


@pytest.mark.points(2)
def test_an_entry_expires_after_its_ttl(student: ModuleType) -> None:
    """ttl_s=10: live at 9.9 s after its put, missing from 10 s on; a get does not extend it."""
    cache = student.LruTtlCache(3, 10.0)
    cache.put("a", "lamp", 100.0)
    assert cache.get("a", 109.9) == "lamp", "9.9 s after its put a 10 s entry is still live"
    assert cache.get("a", 110.0) is None, (
        "10 s after its put the entry has expired: get must return None (compare now_s with "
        "the time it was put plus ttl_s)")
    cache.put("b", "kettle", 200.0)
    cache.get("b", 205.0)
    assert cache.get("b", 210.5) is None, (
        "a get at 205 s must not make an entry put at 200 s live past 210 s: the TTL counts "
        "from the put")


@pytest.mark.points(3)
def test_the_least_recently_used_entry_leaves(student: ModuleType) -> None:
    """Full at 3: a get makes 'a' recent, so putting 'd' evicts 'b', the least recently used."""
    cache = student.LruTtlCache(3, 60.0)
    for second, key in enumerate("abc"):
        cache.put(key, key.upper(), float(second))
    assert cache.get("a", 3.0) == "A"
    cache.put("d", "D", 4.0)
    held = {key: cache.get(key, 5.0) for key in "abcd"}
    assert held["b"] is None, (
        f"'b' was the least recently used ('a' was read after it) and must be evicted; "
        f"the cache still answered {held['b']!r}")
    assert (held["a"], held["c"], held["d"]) == ("A", "C", "D"), (
        f"only 'b' should have been evicted; gets returned {held}")
    assert len(cache) == 3, f"max_entries is 3; the cache holds {len(cache)}"


@pytest.mark.points(2)
def test_the_list_keeps_the_order_of_use(student: ModuleType) -> None:
    """Walking your linked list from head to tail gives the keys most recently used first."""
    cache = student.LruTtlCache(4, 60.0)
    for key in "abcd":
        cache.put(key, key, 0.0)
    cache.get("b", 1.0)
    cache.put("c", "c2", 2.0)
    order = walk(cache)
    assert order == ["c", "b", "d", "a"], (
        f"after putting a, b, c, d, reading b and putting c again, the list from the head "
        f"should be ['c', 'b', 'd', 'a']; it is {order}")


@pytest.mark.points(1)
def test_delete_forgets_a_key(student: ModuleType) -> None:
    """delete drops the entry (True); deleting a key not held returns False."""
    cache = student.LruTtlCache(3, 60.0)
    cache.put("a", 1, 0.0)
    cache.put("b", 2, 0.0)
    assert cache.delete("a") is True, "delete('a') on a held key must return True"
    assert cache.get("a", 1.0) is None, "a deleted key must be gone"
    assert cache.delete("zzz") is False, "deleting a key that is not held returns False"
    order = walk(cache)
    assert order == ["b"], f"the deleted node must leave the linked list too; it holds {order}"


def hits_and_misses(student: ModuleType | None, switches: dict[str, Any],
                    requests: int = 400) -> dict[str, Any]:
    """`steady` traffic through the shop with the student's LRU cache as the product cache,
    or with the sandbox's own LRU-evicting cache when `student` is None."""
    sb = make_sandbox({"cache.strategy": "cache_aside", "cache.eviction": "lru", **switches},
                      plug=("lru_cache", student) if student else None)
    return scenario(sb, "steady", requests=requests, warmup=0)


def compare_with_the_sandbox(student: ModuleType, switches: dict[str, Any]) -> dict[str, Any]:
    mine, own = hits_and_misses(student, switches), hits_and_misses(None, switches)
    got, want = mine["cache"], own["cache"]
    assert want["evictions"] > 0, "the run must evict to mean anything"
    assert got["stale_reads"] == 0, (
        f"{got['stale_reads']} reads were served after the product had changed: delete must "
        "forget the entry")
    assert (got["hits"], got["misses"]) == (want["hits"], want["misses"]), (
        f"with max_entries={switches['cache.max_entries']} and ttl_s={switches['cache.ttl_s']}, "
        f"the sandbox's own LRU cache had {want['hits']} hits and {want['misses']} misses on "
        f"this traffic; yours had {got['hits']} and {got['misses']}. More hits: entries outlive "
        "their TTL or the cache grows past max_entries; fewer: the wrong entry is evicted")
    return mine


@pytest.mark.points(5)
def test_the_shop_runs_on_your_cache(student: ModuleType) -> None:
    """Your cache as the shop's product cache: the same hits as the sandbox's own LRU."""
    mine = compare_with_the_sandbox(student, {"cache.max_entries": 20, "cache.ttl_s": 1.0})
    assert mine["cache"]["hit_rate"] > 0.3
