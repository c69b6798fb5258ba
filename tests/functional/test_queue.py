"""The job queue: async latency, at-least-once delivery, idempotency, backoff, dead letters."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

import orjson
import pytest

from sandbox.clock import SimClock
from sandbox.mechanisms.events import EventBus
from sandbox.mechanisms.queue import JOB_MS, JobFailed, JobQueue
from sandbox.mechanisms.redis_store import RedisStore
from sandbox.runtime import Sandbox
from sandbox.scenarios import run_scenario
from sandbox.settings import Settings


@pytest.fixture
def redis_url(any_redis_url: str) -> str:
    """This module's tests run on fakeredis and on a real Redis server."""
    return any_redis_url


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStore]:
    s = RedisStore(redis_url)
    yield s
    s.close()


def test_async_mode_takes_the_follow_up_work_out_of_the_request(redis_url: str) -> None:
    base = {"redis.url": redis_url}
    sync = run_scenario("spike", Settings().replace(base), requests=4000).metrics
    queued = run_scenario("spike", Settings().replace({**base, "queue.mode": "async"}),
                          requests=4000).metrics
    assert queued["endpoints"]["place_order"]["p95"] < sync["endpoints"]["place_order"]["p95"] / 2
    q = queued["queue"]
    orders_placed = sync["queue"]["pubsub"]["published"]  # one event per order, both modes
    assert orders_placed > 20 and q["pubsub"]["published"] == orders_placed
    assert q["published"] == orders_placed
    assert q["processed"] == q["published"] and q["lost"] == 0 and q["pending"] == 0
    assert sync["queue"]["published"] == 0


def test_ten_thousand_jobs_with_crashing_workers_lose_nothing_and_apply_once(
    redis_url: str,
) -> None:
    settings = Settings().replace({"redis.url": redis_url, "faults.worker_crash_rate": 0.1,
                                   "faults.poison_rate": 0.02, "queue.workers": 4})
    sb = Sandbox(settings, seed=5)
    try:
        jobs = sb.ctx.jobs
        assert jobs is not None
        rng = random.Random(1)
        poison: set[str] = set()
        expected_sold: dict[int, int] = {}
        order_ids = range(500_001, 510_501)  # 10,500 jobs; ids no seeded order uses
        for order_id in order_ids:
            product, quantity = rng.randint(1, 50), rng.randint(1, 3)
            fields = {"order_id": str(order_id), "lines": orjson.dumps([[product, quantity]])
                      .decode()}
            if rng.random() < 0.02:
                fields["poison"] = "1"
            job_id = jobs.publish(fields)
            if "poison" in fields:
                poison.add(job_id)
            else:
                expected_sold[product] = expected_sold.get(product, 0) + quantity
            if order_id % 50 == 0:  # time passes while orders arrive
                sb.clock.advance(100)
                sb.background()
        sb.drain()
        stats = jobs.stats.as_dict(jobs.pending)
        assert stats["published"] == len(order_ids)
        assert stats["lost"] == 0 and stats["pending"] == 0
        assert stats["crashes"] > 500 and stats["claimed"] > 0
        assert stats["duplicates"] > 0  # some crashed after the work: delivered again
        assert stats["dead_lettered"] == len(poison)
        assert {d["job_id"] for d in jobs.dead_letters()} == poison
        confirmed = sb.db.query_one(
            "SELECT count(*), count(DISTINCT order_id) FROM order_confirmations "
            "WHERE order_id > 500000")
        assert confirmed == (len(order_ids) - len(poison),) * 2  # each good job exactly once
        sold = dict(sb.db.query("SELECT product_id, sold FROM product_sales"))
        assert sold == expected_sold
    finally:
        sb.close()


def test_failures_retry_with_doubling_backoff_then_dead_letter(store: RedisStore) -> None:
    clock = SimClock()
    attempts: list[float] = []

    def always_fails(job_id: str, fields: dict[str, str]) -> bool:
        attempts.append(clock.now_ms)
        raise JobFailed("nope")

    settings = Settings().replace({"queue.workers": 1, "queue.max_attempts": 4,
                                   "queue.backoff_ms": 100, "network.jitter": 0})
    queue = JobQueue(store, clock, lambda: settings, random.Random(0), always_fails)
    queue.publish({"order_id": "1"})
    for _ in range(200):
        clock.advance(50)
        queue.run_until(clock.now_ms)
    assert len(attempts) == 4
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    # each gap: the job's own duration (JOB_MS, give or take 20%) plus 100, 200, then 400 ms
    # of backoff
    for gap, backoff in zip(gaps, (100, 200, 400), strict=True):
        assert backoff + 0.8 * JOB_MS <= gap <= backoff + 1.2 * JOB_MS + 50  # + one poll step
    assert queue.stats.dead_lettered == 1 and queue.pending == 0
    assert queue.dead_letters()[0]["attempts"] == "4"


def test_a_job_held_by_a_dead_worker_is_taken_over_after_the_timeout(store: RedisStore) -> None:
    clock = SimClock()
    done: list[tuple[str, float]] = []
    settings = Settings().replace({"queue.workers": 2, "queue.visibility_timeout_s": 1,
                                   "faults.worker_crash_rate": 1.0})
    queue = JobQueue(store, clock, lambda: settings,
                     random.Random(3), lambda job_id, f: done.append((job_id, clock.now_ms)) or True)
    queue.publish({"order_id": "1"})
    queue.run_until(0)
    assert queue.stats.crashes == 1 and queue.pending == 1
    settings = settings.replace({"faults.worker_crash_rate": 0.0})
    clock.jump_to(500)
    queue.run_until(500)
    assert queue.stats.processed == 0  # still within the visibility timeout
    clock.jump_to(1100)
    queue.run_until(1100)
    assert queue.stats.claimed == 1 and queue.stats.processed == 1 and queue.pending == 0


def test_pubsub_fans_out_to_every_listener_and_keeps_nothing(store: RedisStore) -> None:
    bus = EventBus(store, store.key("events:test"))
    try:
        for i in range(5):
            bus.publish(i + 1, 2)
        bus.deliver(wait_s=0.2 if store.url else 0.0)
        assert bus.received == {"analytics": 5, "loyalty": 5, "warehouse": 5}
        late = EventBus(store, store.key("events:test"), subscribers=("latecomer",))
        late.deliver(wait_s=0.05 if store.url else 0.0)
        assert late.received == {"latecomer": 0}  # published before it listened: gone
        late.close()
    finally:
        bus.close()
