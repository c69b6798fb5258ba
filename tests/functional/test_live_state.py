"""Mechanisms that move: the state a run's picture is drawn from, looked at while it runs.

Issue #15: show the token bucket draining and refilling for one client, the cache filling and
evicting (keys, TTL left), the queue's waiting/claimed/dead jobs, live during a run. These
tests run real scenarios and read what `watch` was shown.
"""

from __future__ import annotations

import itertools

import pytest

from sandbox.scenarios.live_state import LiveState
from sandbox.scenarios.runner import WATCH_EVERY, run_scenario
from sandbox.settings import Settings

SETTINGS = {"ratelimit.algorithm": "token_bucket", "ratelimit.limit": 2, "ratelimit.burst": 2,
            "cache.strategy": "cache_aside", "cache.max_entries": 50, "queue.mode": "async"}


def watched(changes: dict[str, object], requests: int = 600) -> tuple[list[LiveState], dict]:
    states: list[LiveState] = []
    result = run_scenario("spike", Settings().replace(changes), requests=requests,
                          keep_traces=0, watch=states.append)
    return states, result.metrics


@pytest.fixture(scope="module")
def everything_on() -> tuple[list[LiveState], dict]:
    """One watched run with a limiter, a small cache and the queue (shared: it is the same
    seeded run for every test that reads it)."""
    return watched(SETTINGS)


def test_watching_changes_nothing_a_run_measures(
        everything_on: tuple[list[LiveState], dict]) -> None:
    states, metrics = everything_on
    plain = run_scenario("spike", Settings().replace(SETTINGS), requests=600, keep_traces=0)
    assert metrics == plain.metrics
    assert len(states) == 600 // WATCH_EVERY + 1  # every 50 requests, then at the end
    assert [s.done for s in states[:3]] == [50, 100, 150] and states[-1].done == 600
    times = [s.t_s for s in states]
    assert times == sorted(times) and 0.0 < times[0] < 1.0  # seconds since measuring began


def test_the_busiest_clients_bucket_drains_and_refills(
        everything_on: tuple[list[LiveState], dict]) -> None:
    states, metrics = everything_on
    limits = [s.limit for s in states]
    assert all(limit is not None for limit in limits)
    assert {limit.capacity for limit in limits if limit} == {4.0}  # limit + burst
    left = [limit.left for limit in limits if limit]
    assert all(0.0 <= v <= 4.0 for v in left)
    assert min(left) < 4.0  # the bucket was drawn down ...
    assert metrics["ratelimit"]["rejected"] > 0  # ... empty at times: 429s
    assert any(b > a for a, b in itertools.pairwise(left))  # ... and refilled in between
    assert limits[-1] is not None and limits[-1].client.startswith("addr:client-")


def test_the_cache_fills_to_its_size_and_evicts_by_its_policy(
        everything_on: tuple[list[LiveState], dict]) -> None:
    states, metrics = everything_on
    caches = [s.cache for s in states if s.cache]
    assert len(caches) == len(states)
    entries = [c.entries for c in caches]
    assert entries[0] < entries[-1] <= 50 and max(entries) == 50  # filling, then full
    evicted = [c.evictions for c in caches]
    assert evicted == sorted(evicted) and evicted[-1] == metrics["cache"]["evictions"] > 0
    last = caches[-1]
    assert len(last.next_out) == 3 and len(last.kept) == 3
    assert all(0.0 <= k.ttl_left_s <= 30.0 for k in (*last.next_out, *last.kept))
    assert {k.key for k in last.next_out}.isdisjoint({k.key for k in last.kept})


def test_the_queue_shows_waiting_claimed_and_done_jobs(
        everything_on: tuple[list[LiveState], dict]) -> None:
    states, metrics = everything_on
    queues = [s.queue for s in states if s.queue]
    assert len(queues) == len(states)
    assert queues[-1].processed == metrics["queue"]["processed"] > 0
    assert queues[-1].waiting == queues[-1].claimed == 0  # drained at the end
    assert any(q.waiting + q.claimed for q in queues[:-1])  # work was in flight during the run


@pytest.mark.parametrize("algorithm", ["fixed_window", "sliding_window"])
def test_window_limiters_show_requests_left(algorithm: str) -> None:
    states, _ = watched({"ratelimit.algorithm": algorithm, "ratelimit.limit": 3}, requests=300)
    left = [s.limit.left for s in states if s.limit]
    assert len(left) == len(states) and all(0.0 <= v <= 3.0 for v in left)
    assert min(left) < 3.0


def test_switched_off_parts_are_absent() -> None:
    states, _ = watched({}, requests=100)
    assert all(s.limit is None and s.cache is None and s.queue is None for s in states)
