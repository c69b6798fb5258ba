"""Graded tests for the outbox relay: an order and its event commit together, the relay
publishes then marks, and it is crashed at each step; then the shop's order path with your
outbox, its relay dying now and then."""

from __future__ import annotations

import sqlite3
from collections import Counter
from types import ModuleType
from typing import Any

import pytest

from sandbox.backend.database import Database
from sandbox.backend.seed import ensure_seed_file
from sandbox.grading.harness import make_sandbox, scenario
from sandbox.plugs.connection import TracedConnection
from sandbox.runtime import DATA_SEED

NOW_S = 1_700_000_500
LINES = [[7, 2, 1999], [9, 1, 500]]


# Stands for the relay's process dying (or the queue going away) at a chosen step. A built-in
# class: an exception crossing back from your code's worker keeps its type only if it is one.
Crash = ConnectionError


def shop() -> TracedConnection:
    """A connection to a new, empty shop database (the shop's tables, no rows)."""
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


class CrashingConnection:
    """The shop's connection, which dies at the `nth` statement starting with `word`."""

    def __init__(self, conn: TracedConnection, word: str, nth: int) -> None:
        self.conn, self.word, self.left = conn, word.upper(), nth

    def execute(self, sql: str, params: Any = ()) -> Any:
        if str(sql).lstrip().upper().startswith(self.word):
            self.left -= 1
            if self.left == 0:
                raise Crash(f"the relay's process died at: {sql}")
        return self.conn.execute(sql, params)

    def transaction(self) -> Any:
        return self.conn.transaction()


class Queue:
    """The queue the relay publishes to; it can die at the `crash_at`-th publish, before
    taking the job ("before") or just after ("after")."""

    def __init__(self, crash_at: int = 0, when: str = "before") -> None:
        self.jobs: list[tuple[str, dict[str, Any]]] = []
        self.calls, self.crash_at, self.when = 0, crash_at, when

    def __call__(self, event_id: str, payload: dict[str, Any]) -> None:
        self.calls += 1
        crash = self.calls == self.crash_at
        if crash and self.when == "before":
            raise Crash("the queue is not answering")
        self.jobs.append((str(event_id), dict(payload)))
        if crash:
            raise Crash("the relay's process died right after publishing")


class Provider:
    """The e-mail provider: one e-mail per idempotency key, however often it is asked."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.sent: set[str] = set()

    def __call__(self, key: str, payload: dict[str, Any]) -> None:
        self.calls[str(key)] += 1
        self.sent.add(str(key))


def waiting(conn: TracedConnection) -> int:
    return int(conn.execute("SELECT count(*) FROM event_outbox WHERE published_at IS NULL")
               .fetchone()[0])


def orders_with_events(student: ModuleType, count: int) -> tuple[TracedConnection, list[int]]:
    conn = shop()
    student.create_tables(conn)
    return conn, [student.place_order(conn, 40 + i, LINES, NOW_S + i) for i in range(count)]


def relay_until_done(student: ModuleType, conn: Any, queue: Queue, crash_ok: bool) -> None:
    """Relay passes until nothing waits (a crash is expected once, if `crash_ok`)."""
    for _ in range(10):
        try:
            if student.relay(conn, queue, NOW_S + 100, 100) == 0 and waiting(conn) == 0:
                return
        except Crash:
            assert crash_ok, "the relay crashed where nothing should fail"
            crash_ok = False
            conn = conn.conn if isinstance(conn, CrashingConnection) else conn
    raise AssertionError(f"after 10 relay passes {waiting(conn)} events still wait")


@pytest.mark.points(1)
def test_an_event_in_a_rolled_back_transaction_never_existed(student: ModuleType) -> None:
    """add_event writes inside the caller's transaction: rolled back, the event is gone."""
    conn = shop()
    student.create_tables(conn)
    with pytest.raises(LookupError), conn.transaction():
        student.add_event(conn, "evt-1", {"n": 1}, NOW_S)
        raise LookupError("the order's transaction fails after the event was written")
    row_id = student.add_event(conn, "evt-2", {"n": 2}, NOW_S)
    rows = conn.execute("SELECT id, event_id, published_at FROM event_outbox").fetchall()
    assert [r[1] for r in rows] == ["evt-2"], (
        "only the event written outside the rolled-back transaction may be in event_outbox "
        f"(add_event must not commit on its own); found {rows}")
    assert rows[0][0] == row_id and rows[0][2] is None, (
        f"add_event returns the new row's id, and published_at starts NULL; row {rows[0]}")


@pytest.mark.points(3)
def test_the_order_and_its_event_commit_together(student: ModuleType) -> None:
    """place_order writes the order, its lines and its event together; if the event cannot be
    written, there is no order either."""
    conn, (order_id,) = orders_with_events(student, 1)
    order = conn.execute("SELECT customer_id, status, total_cents FROM orders WHERE id = ?",
                         (order_id,)).fetchone()
    assert order == (40, "paid", 2 * 1999 + 500), f"the order row is wrong: {order}"
    lines = conn.execute("SELECT count(*) FROM order_items WHERE order_id = ?",
                         (order_id,)).fetchone()[0]
    assert lines == 2, f"the order has two lines; order_items has {lines}"
    events = conn.execute("SELECT event_id FROM event_outbox").fetchall()
    assert events == [(f"order-{order_id}-confirmation",)], f"one event for it; found {events}"
    before = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    crashing = CrashingConnection(conn, "INSERT INTO event_outbox", 1)
    with pytest.raises(Crash):
        student.place_order(crashing, 41, LINES, NOW_S)
    after = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    assert after == before, (
        "writing the event failed, so the whole order must be rolled back (one transaction); "
        f"orders went from {before} to {after}")


@pytest.mark.points(2)
def test_the_relay_publishes_oldest_first_and_marks_them(student: ModuleType) -> None:
    """Three orders: one pass publishes their events in order and marks them; the next pass
    publishes nothing. batch_size limits a pass."""
    conn, ids = orders_with_events(student, 3)
    queue = Queue()
    assert student.relay(conn, queue, NOW_S + 10, 2) == 2, "batch_size 2: two in this pass"
    assert student.relay(conn, queue, NOW_S + 10, 100) == 1, "then the third"
    assert student.relay(conn, queue, NOW_S + 10, 100) == 0, "then nothing is left"
    want = [f"order-{i}-confirmation" for i in ids]
    assert [e for e, _ in queue.jobs] == want, (
        f"each event published once, oldest first: {want}; yours {[e for e, _ in queue.jobs]}")
    assert queue.jobs[0][1] == {"order_id": ids[0], "customer_id": 40}, (
        f"the payload travels as it was written; got {queue.jobs[0][1]}")
    assert waiting(conn) == 0, "every published event is marked (published_at set)"


@pytest.mark.points(5)
def test_a_crashed_relay_loses_nothing_and_emails_once(student: ModuleType) -> None:
    """The relay dies at one step of a pass (the queue down, just after a publish, before a
    mark, in the middle of a batch), then runs again: every event reaches the queue, and
    through your consumer every customer gets exactly one e-mail."""
    for where in ("queue down", "after publish", "before mark", "mid batch"):
        crash_and_recover(student, where)


def crash_and_recover(student: ModuleType, where: str) -> None:
    """Four orders, a relay that dies at `where`, passes until nothing waits, then the
    consumer over everything the queue got."""
    conn, ids = orders_with_events(student, 4)
    queue: Queue
    crashing: Any = conn
    if where == "queue down":
        queue = Queue(crash_at=1, when="before")
    elif where == "after publish":
        queue = Queue(crash_at=2, when="after")
    elif where == "before mark":
        queue, crashing = Queue(), CrashingConnection(conn, "UPDATE", 1)
    else:
        queue, crashing = Queue(), CrashingConnection(conn, "UPDATE", 3)
    relay_until_done(student, crashing, queue, crash_ok=True)
    published = Counter(e for e, _ in queue.jobs)
    want = {f"order-{i}-confirmation" for i in ids}
    assert set(published) == want, (
        f"crash '{where}': events that never reached the queue: {sorted(want - set(published))}"
        " (mark an event only after its publish returned)")
    provider = Provider()
    for event_id, payload in queue.jobs:
        student.handle(conn, event_id, payload, provider, NOW_S + 200)
    assert provider.sent == want and max(provider.calls.values()) == 1, (
        f"crash '{where}': the queue held {sum(published.values())} jobs for {len(want)} "
        f"events; each customer gets one e-mail: your consumer asked the provider "
        f"{dict(provider.calls)}")


@pytest.mark.points(2)
def test_the_consumer_drops_a_repeat(student: ModuleType) -> None:
    """handle(): True and one e-mail the first time; False and no call to the provider after."""
    conn = shop()
    student.create_tables(conn)
    provider = Provider()
    first = student.handle(conn, "order-5-confirmation", {"order_id": 5}, provider, NOW_S)
    again = student.handle(conn, "order-5-confirmation", {"order_id": 5}, provider, NOW_S)
    assert (first, again) == (True, False), (
        f"the first delivery returns True, a repeat False; yours {first}, {again}")
    assert dict(provider.calls) == {"order-5-confirmation": 1}, (
        f"a repeat must not ask the provider again; calls: {dict(provider.calls)}")


def shop_run(student: ModuleType, seed: int, crash_every: int) -> tuple[dict[str, Any], Any]:
    """The `orders` scenario with queue.mode=async and your outbox; the relay dies around
    every `crash_every`-th publish (alternately before and after the queue takes the job)."""
    sb = make_sandbox({"queue.mode": "async"}, plug=("outbox", student), seed=seed)
    part = sb.plugs["outbox"]
    real, calls = part.publish, [0]

    def dying(event_id: str, payload: dict[str, Any]) -> None:
        calls[0] += 1
        if calls[0] % crash_every == 0:
            if calls[0] % (2 * crash_every) == 0:
                real(event_id, payload)  # the queue has it; the relay dies before marking
            raise Crash("the relay's process died")
        real(event_id, payload)

    part.publish = dying
    metrics = scenario(sb, "orders", requests=250, warmup=0)
    sb.drain()
    return metrics, sb


@pytest.mark.points(5)
def test_the_shop_sends_one_email_per_order_with_a_dying_relay(student: ModuleType) -> None:
    """The shop's orders go through your outbox while the relay keeps dying: every order gets
    its e-mail, exactly one, and nothing is left waiting."""
    metrics, sb = shop_run(student, 7, 4)
    placed = metrics["status"].get("201", 0)
    queue = sb.queue_metrics()
    assert placed > 20, f"the run should place orders; it placed {placed}"
    assert queue["pending"] == 0 and sb.plugs["outbox"].waiting() == 0, (
        f"after the run every event is published; {sb.plugs['outbox'].waiting()} still wait")
    assert queue["emails_sent"] == placed, (
        f"{placed} orders were placed and {queue['emails_sent']} confirmation e-mails sent: "
        "with a relay that dies now and then, no order may go without its e-mail")
    assert queue["published"] > placed, "the crashes should have caused some repeats"
