"""Graded tests for the idempotent consumer: one job at a time, then crashing workers."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from collections import Counter
from types import ModuleType
from typing import Any

import pytest

from sandbox.backend.database import Database
from sandbox.backend.seed import ensure_seed_file
from sandbox.grading.harness import make_sandbox
from sandbox.mechanisms.queue import JobFailed
from sandbox.plugs.connection import TracedConnection
from sandbox.runtime import DATA_SEED, Sandbox

NOW_S = 1_700_000_500
ORDER = 123_456  # an order id no seeded confirmation uses


class Email:
    """A stand-in for the e-mail provider: counts what was sent, fails while `down`."""

    def __init__(self) -> None:
        self.sent = 0
        self.down = False

    def __call__(self) -> None:
        if self.down:
            raise JobFailed("the e-mail provider is not answering")
        self.sent += 1


def shop() -> TracedConnection:
    """The worker's connection to a new, empty shop database (the shop's tables, no rows)."""
    source = sqlite3.connect(ensure_seed_file(DATA_SEED))
    try:
        tables = [sql for (sql,) in source.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    finally:
        source.close()
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    for sql in tables:
        conn.execute(sql)
    return TracedConnection(Database(conn))


def job(order_id: int = ORDER, lines: list[list[Any]] | None = None) -> dict[str, str]:
    return {"order_id": str(order_id), "lines": json.dumps(lines or [[7, 2], [9, 1]])}


def sold(conn: TracedConnection, *products: int) -> dict[int, int]:
    """product id -> units counted as sold (0 when none)."""
    return {p: (conn.execute("SELECT sold FROM product_sales WHERE product_id = ?", (p,))
                .fetchone() or (0,))[0] for p in products}


def confirmations(conn: TracedConnection, order_id: int = ORDER) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT order_id, job_id, confirmed_at FROM order_confirmations "
                        "WHERE order_id = ?", (order_id,)).fetchall()


@pytest.mark.points(3)
def test_a_job_confirms_its_order(student: ModuleType) -> None:
    """One delivery: returns True, e-mails once, records the confirmation, counts each line."""
    conn, email = shop(), Email()
    before = sold(conn, 7, 9)
    done = student.confirm_order(conn, "1-0", job(), NOW_S, email)
    assert done is True, f"the first delivery does the work and returns True; it returned {done!r}"
    assert email.sent == 1, f"the customer must get one e-mail; send_email was called {email.sent} times"
    assert confirmations(conn) == [(ORDER, "1-0", NOW_S)], (
        f"order_confirmations must hold (order_id, job_id, confirmed_at) = ({ORDER}, '1-0', "
        f"{NOW_S}); it holds {confirmations(conn)}")
    after = sold(conn, 7, 9)
    assert after == {7: before[7] + 2, 9: before[9] + 1}, (
        f"the job sells 2 of product 7 and 1 of product 9: product_sales went from {before} to "
        f"{after}")


@pytest.mark.points(3)
def test_a_second_delivery_changes_nothing(student: ModuleType) -> None:
    """The same job delivered again (a worker died before acking it): False, and no effect."""
    conn, email = shop(), Email()
    student.confirm_order(conn, "1-0", job(), NOW_S, email)
    counted = sold(conn, 7, 9)
    again = student.confirm_order(conn, "1-0", job(), NOW_S + 30, email)
    assert again is False, (
        f"the second delivery of a job already done must return False; it returned {again!r}")
    assert sold(conn, 7, 9) == counted, (
        f"the second delivery counted the sales again: {counted} became {sold(conn, 7, 9)}")
    assert len(confirmations(conn)) == 1 and email.sent == 1, (
        f"the second delivery must not confirm or e-mail again: {len(confirmations(conn))} "
        f"confirmations, {email.sent} e-mails")


@pytest.mark.points(3)
def test_a_failed_e_mail_is_retried_later(student: ModuleType) -> None:
    """send_email raises: the error reaches the queue, nothing is recorded, the retry works."""
    conn, email = shop(), Email()
    before = sold(conn, 7, 9)
    email.down = True
    try:
        answer = student.confirm_order(conn, "1-0", job(), NOW_S, email)
    except Exception:
        pass  # any exception will do: the queue sees a failure and retries
    else:
        raise AssertionError(
            f"send_email() raised, yet confirm_order returned {answer!r}: let the failure reach "
            "the queue (no try/except around it), so that the queue retries the job")
    assert confirmations(conn) == [] and sold(conn, 7, 9) == before, (
        "the e-mail failed, yet the order was recorded as confirmed or its sales counted; the "
        "retry would then skip it and the customer never hears from the shop")
    email.down = False
    assert student.confirm_order(conn, "1-0", job(), NOW_S + 1, email) is True, (
        "once the e-mail provider is back, the retried delivery must do the work")
    assert email.sent == 1 and len(confirmations(conn)) == 1


def place_orders(sb: Sandbox, count: int, seed: int) -> list[Any]:
    """POST /orders `count` times through the shop (auth off: the caller is X-User-Id)."""
    rng = random.Random(seed)

    async def go() -> list[Any]:
        async with sb.client() as client:
            responses = []
            for i in range(count):
                sb.clock.advance(20.0)  # orders arrive over time, while workers work
                items = [{"product_id": rng.randint(1, 300), "quantity": rng.randint(1, 3)}]
                responses.append(await client.post("/orders", json={"items": items},
                                                   headers={"X-User-Id": str(2 + i % 50)}))
            return responses

    return asyncio.run(go())


def crashing_workers(student: ModuleType, orders: int, seed: int,
                     switches: dict[str, object] | None = None) -> None:
    """Orders through the shop with queued follow-up work, workers that crash now and then,
    and some poison jobs; then every fact the run must satisfy."""
    sb = make_sandbox({"auth.mode": "off", "queue.mode": "async", "faults.worker_crash_rate": 0.1,
                       "faults.poison_rate": 0.05, **(switches or {})},
                      plug=("order_consumer", student), seed=seed)
    jobs = sb.ctx.jobs
    assert jobs is not None
    sold_before = dict(sb.db.conn.execute("SELECT product_id, sold FROM product_sales"))
    deliveries: Counter[str] = Counter()
    handler = jobs.handler

    def counting(job_id: str, fields: dict[str, str]) -> bool:
        deliveries[job_id] += 1
        return handler(job_id, fields)

    jobs.handler = counting
    placed = [r for r in place_orders(sb, orders, seed) if r.status_code == 201]
    sb.drain()
    stats = jobs.stats.as_dict(jobs.pending)
    # The run means something only if jobs really were delivered more than once.
    assert stats["crashes"] > 0 and stats["claimed"] > 0
    assert any(n > 1 for n in deliveries.values())
    # What should have happened, from the jobs as published.
    published = sb.redis.client.xrange(jobs.stream)
    poison = {int(f["order_id"]) for _, f in published if f.get("poison") == "1"}
    good = {int(r.json()["id"]) for r in placed} - poison
    assert poison and len(published) == len(placed)
    expected = Counter(sold_before)
    for _, fields in published:
        if int(fields["order_id"]) in good:
            for product_id, quantity in json.loads(fields["lines"]):
                expected[product_id] += quantity
    # What did happen.
    assert stats["lost"] == 0 and stats["pending"] == 0, f"jobs lost or stuck: {stats}"
    dead = {int(d["order_id"]) for d in jobs.dead_letters()}
    assert not dead - poison, (
        f"{len(dead - poison)} good orders ended in the dead-letter stream, e.g. "
        f"{sorted(dead - poison)[:3]}: their jobs failed on every redelivery. A second delivery "
        "of a job already done must succeed, doing nothing (that is idempotency)")
    assert dead == poison, (
        f"{len(poison - dead)} of the {len(poison)} poison jobs (whose e-mail always fails) "
        "never reached the dead-letter stream: the failure must reach the queue, so it can "
        "retry the job and finally set it aside")
    rows = dict(sb.db.conn.execute("SELECT order_id, COUNT(*) FROM order_confirmations "
                                   "WHERE order_id >= ? GROUP BY order_id",
                                   (min(good | poison),)))
    missing = sorted(good - set(rows))
    assert not missing, f"{len(missing)} orders were never confirmed, e.g. {missing[:5]}"
    assert not set(rows) & poison, "a poison job's order cannot have been confirmed"
    now_sold = Counter(dict(sb.db.conn.execute("SELECT product_id, sold FROM product_sales")))
    wrong = {p: (now_sold[p], n) for p, n in expected.items() if now_sold[p] != n}
    redelivered = sum(1 for n in deliveries.values() if n > 1)
    assert not wrong, (
        f"product_sales is wrong for {len(wrong)} products (counted, should be): "
        f"{dict(list(wrong.items())[:5])}. {redelivered} jobs were delivered more than once; "
        "a redelivered job's sales were counted again")
    assert stats["duplicates"] > 0, (
        "some jobs were delivered again after their work was done; your function must return "
        "False for those")


@pytest.mark.points(5)
def test_crashing_workers_lose_nothing_and_count_once(student: ModuleType) -> None:
    """150 orders, queued; workers crash 1 time in 10: all confirmed once, poison dead-lettered."""
    crashing_workers(student, 150, seed=3)
