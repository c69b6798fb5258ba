"""Hidden tests: a consumer that dies between e-mail and record, a queue down for a whole
pass, and another dying relay in the shop."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_outbox_relay.py")


@pytest.mark.points(2)
def test_a_consumer_dying_after_the_email_sends_no_second_one(student: ModuleType) -> None:
    """The consumer dies after the provider sent the e-mail, before it recorded the event: the
    redelivery asks the provider again with the same key, so the customer still gets one."""
    conn = visible.shop()
    student.create_tables(conn)
    provider = visible.Provider()
    dying = visible.CrashingConnection(conn, "INSERT", 1)
    with pytest.raises(visible.Crash):
        student.handle(dying, "order-8-confirmation", {"order_id": 8}, provider, 10)
    again = student.handle(conn, "order-8-confirmation", {"order_id": 8}, provider, 11)
    assert again is True, "the event was never recorded, so the redelivery does the work"
    assert provider.sent == {"order-8-confirmation"}, (
        f"the provider is asked with the event id as its key; keys used: {dict(provider.calls)}")
    assert student.handle(conn, "order-8-confirmation", {"order_id": 8}, provider, 12) is False


@pytest.mark.points(2)
def test_a_queue_down_for_a_pass_keeps_every_event_waiting(student: ModuleType) -> None:
    """The queue refuses the first publish of a pass: nothing is marked, and the next pass
    publishes all three in order."""
    conn, ids = visible.orders_with_events(student, 3)
    queue = visible.Queue(crash_at=1, when="before")
    with pytest.raises(visible.Crash):
        student.relay(conn, queue, 10, 100)
    assert visible.waiting(conn) == 3, "nothing reached the queue, so all three still wait"
    assert student.relay(conn, queue, 11, 100) == 3
    assert [e for e, _ in queue.jobs] == [f"order-{i}-confirmation" for i in ids]


@pytest.mark.points(3)
def test_the_shop_with_a_relay_that_dies_often(student: ModuleType) -> None:
    """Another seed, the relay dying around every second publish: one e-mail per order."""
    metrics, sb = visible.shop_run(student, 3, 2)
    placed: Any = metrics["status"].get("201", 0)
    queue = sb.queue_metrics()
    assert placed > 20 and queue["emails_sent"] == placed and queue["pending"] == 0
