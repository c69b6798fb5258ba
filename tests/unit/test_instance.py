from __future__ import annotations

from sandbox.network.instance import AppInstance


def serve(instance: AppInstance, arrive_ms: float, work_ms: float) -> float:
    """One request through the instance, the way the network path drives it."""
    started = instance.start(arrive_ms)
    instance.finish(started + work_ms)
    return started


def test_requests_wait_when_every_worker_is_busy() -> None:
    inst = AppInstance("app-1", app=None, concurrency=2)
    starts = [serve(inst, 0.0, 10.0) for _ in range(3)]
    assert starts == [0.0, 0.0, 10.0]
    assert inst.served == 3


def test_active_counts_unfinished_requests() -> None:
    inst = AppInstance("app-1", app=None, concurrency=2)
    for _ in range(3):
        serve(inst, 0.0, 10.0)  # finish at 10, 10 and 20
    assert inst.active(0.0) == 3
    assert inst.active(9.999) == 3
    assert inst.active(10.0) == 1
    assert inst.active(19.0) == 1
    assert inst.active(20.0) == 0


def test_idle_instance() -> None:
    inst = AppInstance("app-3", app="asgi", concurrency=4)
    assert inst.name == "app-3"
    assert inst.app == "asgi"
    assert inst.alive is True
    assert inst.served == 0
    assert inst.active(0.0) == 0
    assert inst.start(123.0) == 123.0


def test_late_arrival_does_not_wait() -> None:
    inst = AppInstance("app-1", app=None, concurrency=1)
    assert serve(inst, 0.0, 10.0) == 0.0
    assert serve(inst, 50.0, 10.0) == 50.0
    assert serve(inst, 55.0, 10.0) == 60.0


def test_more_concurrency_means_less_waiting() -> None:
    one = AppInstance("a", app=None, concurrency=1)
    four = AppInstance("b", app=None, concurrency=4)
    assert [serve(one, 0.0, 5.0) for _ in range(4)] == [0.0, 5.0, 10.0, 15.0]
    assert [serve(four, 0.0, 5.0) for _ in range(4)] == [0.0, 0.0, 0.0, 0.0]


def test_set_concurrency_grow() -> None:
    inst = AppInstance("app-1", app=None, concurrency=1)
    serve(inst, 0.0, 10.0)
    assert inst.start(0.0) == 10.0  # would wait with one worker
    inst.finish(20.0)
    inst.set_concurrency(3)
    assert serve(inst, 0.0, 1.0) == 0.0


def test_set_concurrency_shrink_keeps_busy_workers() -> None:
    inst = AppInstance("app-1", app=None, concurrency=3)
    serve(inst, 0.0, 10.0)
    serve(inst, 0.0, 20.0)
    inst.set_concurrency(1)
    # One worker left, and it is not free before the busiest one finishes.
    assert serve(inst, 0.0, 5.0) == 20.0
    assert serve(inst, 0.0, 5.0) == 25.0


def test_set_concurrency_same_size_keeps_state() -> None:
    inst = AppInstance("app-1", app=None, concurrency=2)
    serve(inst, 0.0, 10.0)
    serve(inst, 0.0, 10.0)
    inst.set_concurrency(2)
    assert serve(inst, 0.0, 1.0) == 10.0
