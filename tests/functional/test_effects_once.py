"""Effects happen once: a committed order survives whatever fails after it, each order gets one
confirmation e-mail however often its job is delivered, and a job Redis loses shows as lost.

Issue: "the backend's faults and effects", items 8, 9 and 12.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandbox.backend.services import OrderService
from sandbox.errors import ServiceUnavailable
from sandbox.mechanisms.resilience import Dependency
from sandbox.runtime import Sandbox
from sandbox.scenarios import run_scenario
from sandbox.settings import Settings

ORDER = {"items": [{"product_id": 3, "quantity": 1}]}


@pytest.fixture
def redis_url(any_redis_url: str) -> str:
    """These tests run on fakeredis and on a real Redis server (when one was started)."""
    return any_redis_url


def shop(redis_url: str, **switches: object) -> Sandbox:
    """A fresh sandbox (its own FakeServer, or its own key prefix on the real server), auth
    off so that X-User-Id names the customer, and `switches` on top."""
    return Sandbox(Settings().replace({"redis.url": redis_url, "auth.mode": "off", **switches}),
                   seed=11)


@pytest.fixture
def async_shop(redis_url: str) -> Iterator[Sandbox]:
    sb = shop(redis_url, **{"queue.mode": "async"})
    yield sb
    sb.close()


def use(sb: Sandbox, **changes: object) -> None:
    sb.apply(sb.settings.replace({k.replace("__", "."): v for k, v in changes.items()}))


async def post_order(sb: Sandbox, key: str | None = None, user: int = 2,
                     body: dict[str, Any] | None = None) -> httpx.Response:
    headers = {"X-User-Id": str(user), **({"Idempotency-Key": key} if key else {})}
    async with sb.client() as client:
        return await client.post("/orders", json=body or ORDER, headers=headers)


def orders_of(sb: Sandbox, user: int) -> int:
    return int(sb.db.conn.execute("SELECT count(*) FROM orders WHERE customer_id = ?",
                                  (user,)).fetchone()[0])


def confirmations(sb: Sandbox, order_ids: set[int]) -> dict[int, int]:
    """order id -> confirmation rows, for the given orders."""
    rows = sb.db.conn.execute("SELECT order_id, count(*) FROM order_confirmations "
                              "WHERE order_id >= ? GROUP BY order_id", (min(order_ids),))
    return {order_id: n for order_id, n in rows if order_id in order_ids}


# -- item 8: nothing after the commit can fail the order, or place it twice ---------------------


async def test_a_cache_outage_after_the_commit_answers_201_and_a_retry_replays(
    redis_url: str,
) -> None:
    """cache_aside with the cache down: the order commits, the cache cannot drop its copy of
    the product. Before the fix that answered 500 and the retry placed a second order."""
    sb = shop(redis_url, **{"cache.strategy": "cache_aside", "faults.cache_down": True})
    try:
        before = orders_of(sb, 2)
        first = await post_order(sb, key="order-1")
        retry = await post_order(sb, key="order-1")
        assert (first.status_code, retry.status_code) == (201, 201), first.text
        assert retry.json()["id"] == first.json()["id"] and retry.json()["replayed"] is True
        assert orders_of(sb, 2) == before + 1
        assert first.extensions["sandbox.trace"].counts["cache.invalidation_failed"] == 1
        logged = [e for e in sb.ctx.log if str(e["message"]).startswith("cache.invalidation failed")]
        assert logged and logged[0]["key"] == "product:3"
    finally:
        sb.close()


async def test_the_idempotency_key_commits_with_the_order(
    sandbox: Sandbox, grace: dict[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The process dies between the commit and the answer: the client gets a 500 and retries.
    The key was saved in the order's transaction, so the retry is answered with that order
    instead of placing another (before the fix the key was saved only after the follow-up)."""
    def die(*args: object) -> str:
        raise RuntimeError("the app instance died after the commit")

    monkeypatch.setattr(OrderService, "_follow_up", die)
    keyed = {**grace, "Idempotency-Key": "order-2"}
    async with sandbox.client() as client:
        before = orders_of(sandbox, 2)
        first = await client.post("/orders", json=ORDER, headers=keyed)
        monkeypatch.undo()
        retry = await client.post("/orders", json=ORDER, headers=keyed)
    assert first.status_code == 500 and retry.status_code == 201
    assert retry.json()["replayed"] is True
    assert orders_of(sandbox, 2) == before + 1


async def test_a_students_store_that_fails_rolls_the_order_back(sandbox: Sandbox,
                                                                grace: dict[str, str]) -> None:
    """The plugged idempotency store saves inside the order's transaction too: if it cannot
    remember the key, there is no order to remember (before the fix the order stayed)."""
    class Forgetful:
        def replay(self, user_id: int, key: str, items: list[dict[str, int]]) -> None:
            return None

        def remember(self, user_id: int, key: str, items: list[dict[str, int]],
                     order: dict[str, Any]) -> None:
            raise RuntimeError("the key table is full")

    sandbox.ctx.seams.idempotency = Forgetful()
    before = orders_of(sandbox, 2)
    async with sandbox.client() as client:
        response = await client.post("/orders", json=ORDER,
                                     headers={**grace, "Idempotency-Key": "order-3"})
    assert response.status_code == 500
    assert orders_of(sandbox, 2) == before


async def test_reviews_and_product_edits_survive_a_cache_outage(
    sandbox: Sandbox, grace: dict[str, str], ada: dict[str, str],
) -> None:
    """Every write that invalidates after its commit answers success and counts the failure."""
    use(sandbox, cache__strategy="cache_aside", faults__cache_down=True)
    async with sandbox.client() as client:
        review = await client.post("/products/5/reviews", headers=grace,
                                   json={"rating": 4, "body": "Sturdy."})
        patch = await client.patch("/products/5", headers=ada, json={"stock": 9})
    assert (review.status_code, patch.status_code) == (201, 200)
    assert review.extensions["sandbox.trace"].counts["cache.invalidation_failed"] == 2
    assert patch.extensions["sandbox.trace"].counts["cache.invalidation_failed"] == 1
    assert patch.json()["stock"] == 9


async def test_an_order_placed_while_redis_is_down_is_queued_in_the_outbox(
    async_shop: Sandbox,
) -> None:
    """Async mode with Redis down: the job waits in the outbox, and reaches the workers once
    Redis is back. Before the fix the order committed and answered 500, with no job at all."""
    sb = async_shop
    use(sb, faults__cache_down=True)
    response = await post_order(sb)
    assert response.status_code == 201 and response.json()["confirmation"] == "queued"
    assert sb.queue_metrics()["pending"] == 1  # in the outbox, not lost
    use(sb, faults__cache_down=False)
    sb.clock.advance(1000)
    sb.drain()
    order_id = response.json()["id"]
    assert confirmations(sb, {order_id}) == {order_id: 1}
    q: dict[str, Any] = sb.queue_metrics()
    assert (q["published"], q["processed"], q["emails_sent"], q["pending"], q["lost"]) == (
        1, 1, 1, 0, 0)


def test_a_run_with_the_cache_down_fails_no_request_and_shows_the_stale_risk() -> None:
    """The run's metrics count the invalidations that failed; no request fails."""
    settings = Settings().replace({"cache.strategy": "cache_aside", "faults.cache_down": True})
    metrics = run_scenario("spike", settings, requests=3000).metrics
    assert "500" not in metrics["status"] and metrics["status"]["201"] > 0
    assert metrics["cache"]["invalidation_failed"] >= metrics["status"]["201"]


# -- item 9: one e-mail per order, however often its job is delivered --------------------------


def count_email_calls(sb: Sandbox) -> list[int]:
    """Counts every call that got through to the e-mail provider (a one-item list)."""
    email = sb.ctx.email
    assert email is not None
    calls = [0]
    real = Dependency.call

    def counted(action: Any) -> Any:
        result = real(email, action)  # raises when the call failed: nothing reached them
        calls[0] += 1
        return result

    email.call = counted  # type: ignore[method-assign]
    return calls


@pytest.mark.parametrize("crash_rate", [0.3, 0.6])
async def test_crashing_workers_send_one_email_per_order(redis_url: str,
                                                         crash_rate: float) -> None:
    """Workers die before acknowledging, half of them after the work: the job is delivered
    again. Before the fix every such redelivery e-mailed the customer again."""
    sb = shop(redis_url, **{"queue.mode": "async", "faults.worker_crash_rate": crash_rate})
    try:
        calls = count_email_calls(sb)
        rng = random.Random(4)
        placed: set[int] = set()
        for i in range(60):
            sb.clock.advance(20.0)
            body = {"items": [{"product_id": rng.randint(1, 300), "quantity": 1}]}
            response = await post_order(sb, user=2 + i, body=body)
            if response.status_code == 201:
                placed.add(response.json()["id"])
        sb.drain()
        q: dict[str, Any] = sb.queue_metrics()
        assert q["duplicates"] > 0  # redeliveries of finished work did happen
        assert len(placed) > 50 and confirmations(sb, placed) == dict.fromkeys(placed, 1)
        assert calls[0] == len(placed)
        assert (q["emails_sent"], q["email_repeats"]) == (len(placed), 0)
    finally:
        sb.close()


async def test_an_email_sent_just_before_a_failure_is_not_sent_again(
    async_shop: Sandbox, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The e-mail went out, then the database failed before the confirmation committed: the
    job is retried and asks for the e-mail again. The provider knows the order's key and sends
    nothing the second time."""
    sb = async_shop
    repo = sb.ctx.repos.confirmations
    real = repo.count_sales
    failures = [1]

    def flaky(sold: list[tuple[int, int]]) -> None:
        if failures[0]:
            failures[0] -= 1
            raise ServiceUnavailable("The database is unavailable. Try again shortly.")
        real(sold)

    monkeypatch.setattr(repo, "count_sales", flaky)
    response = await post_order(sb)
    sb.drain()
    order_id = response.json()["id"]
    assert confirmations(sb, {order_id}) == {order_id: 1}
    q: dict[str, Any] = sb.queue_metrics()
    assert (q["retries"], q["processed"], q["emails_sent"], q["email_repeats"]) == (1, 1, 1, 1)


def test_the_scenario_reports_one_email_per_order() -> None:
    """`sandbox scenario spike --set queue.mode=async --set faults.worker_crash_rate=0.6`."""
    settings = Settings().replace({"queue.mode": "async", "faults.worker_crash_rate": 0.6})
    q = run_scenario("spike", settings).metrics["queue"]
    assert q["crashes"] > 50 and q["duplicates"] > 0
    assert q["emails_sent"] == q["processed"] == q["published"] and q["email_repeats"] == 0


# -- item 12: a job Redis no longer has is lost, and shows -------------------------------------


async def test_a_job_deleted_behind_the_queues_back_is_lost(async_shop: Sandbox) -> None:
    """Someone deletes a job nobody has read yet. Before the fix `lost` was arithmetic on the
    queue's own counters, so it stayed 0, and the queue waited for the job forever."""
    sb = async_shop
    for _ in range(3):
        response = await post_order(sb)
    jobs = sb.ctx.jobs
    assert jobs is not None and jobs.pending == 1  # the last order's job is still unread
    sb.redis.client.xdel(jobs.stream, jobs.store.run("XRANGE", ("XRANGE", jobs.stream, "-", "+"),
                                                     kind="queue")[0][-1][0])
    sb.drain(limit_ms=60_000)
    q: dict[str, Any] = sb.queue_metrics()
    assert (q["published"], q["processed"], q["pending"], q["lost"]) == (3, 2, 0, 1)
    assert confirmations(sb, {response.json()["id"]}) == {}  # the loss is real


async def test_a_held_job_deleted_from_the_stream_is_lost(async_shop: Sandbox) -> None:
    """A worker died holding a job; before another can claim it, the entry is deleted. (The
    old arithmetic happened to show this loss, but counted the empty claim as a claim.)"""
    sb = async_shop
    use(sb, faults__worker_crash_rate=1.0)
    await post_order(sb)
    sb.clock.advance(100)
    sb.background()  # a worker takes the job and dies
    jobs = sb.ctx.jobs
    assert jobs is not None and len(jobs.held) == 1 and jobs.stats.crashes == 1
    sb.redis.client.xdel(jobs.stream, next(iter(jobs.held)))
    use(sb, faults__worker_crash_rate=0.0)
    sb.drain(limit_ms=60_000)
    q: dict[str, Any] = sb.queue_metrics()
    assert (q["processed"], q["pending"], q["lost"], q["claimed"]) == (0, 0, 1, 0)


async def test_reconciling_finds_a_loss_before_any_worker_does(async_shop: Sandbox) -> None:
    """The figures check Redis itself: the loss shows at once, not when a worker trips on it."""
    sb = async_shop
    await post_order(sb)
    jobs = sb.ctx.jobs
    assert jobs is not None and jobs.pending == 1
    sb.redis.client.delete(jobs.stream)  # as a Redis restarted without saving would
    q: dict[str, Any] = sb.queue_metrics()
    assert (q["pending"], q["lost"]) == (0, 1)


async def test_nothing_is_lost_through_crashes_poison_and_a_redis_outage(
    redis_url: str,
) -> None:
    """Workers crash, some jobs are poison, and Redis is down for a while in the middle: every
    good order is confirmed and e-mailed once, every poison job is dead-lettered, lost is 0.
    (Before the fix, orders placed during the outage failed with 500 and had no job.)"""
    sb = shop(redis_url, **{"queue.mode": "async", "faults.worker_crash_rate": 0.3,
                            "faults.poison_rate": 0.1})
    try:
        rng = random.Random(9)
        placed: set[int] = set()
        for i in range(80):
            if i in (30, 45):
                use(sb, faults__cache_down=i == 30)
            sb.clock.advance(25.0)
            body = {"items": [{"product_id": rng.randint(1, 300), "quantity": 1}]}
            response = await post_order(sb, user=2 + i, body=body)
            assert response.status_code in (201, 409), response.text
            if response.status_code == 201:
                placed.add(response.json()["id"])
        sb.drain()
        q: dict[str, Any] = sb.queue_metrics()
        jobs = sb.ctx.jobs
        assert jobs is not None
        poison = {int(d["order_id"]) for d in jobs.dead_letters()}
        assert poison and q["crashes"] > 0
        assert (q["lost"], q["pending"]) == (0, 0)
        assert q["published"] == len(placed) == q["processed"] + q["dead_lettered"]
        assert confirmations(sb, placed) == dict.fromkeys(placed - poison, 1)
        assert q["emails_sent"] == len(placed - poison) and q["email_repeats"] == 0
    finally:
        sb.close()
