"""Hidden tests: the load is read at the decision's time; three instances, the first one dies."""

from __future__ import annotations

from types import ModuleType

import pytest

from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_least_connections.py")


@pytest.mark.points(1)
def test_the_load_is_read_at_the_moment_of_the_decision(student: ModuleType) -> None:
    """Loads change as requests finish: choose asks instance.active(now_ms) for `now_ms`."""
    early_busy = visible.FakeInstance("app-1", lambda t: 5 if t < 100 else 0)
    steady = visible.FakeInstance("app-2", 2)
    balancer = student.LeastConnections()
    first = balancer.choose([early_busy, steady], "client-7", 50.0)
    later = balancer.choose([early_busy, steady], "client-7", 150.0)
    assert (first, later) == (1, 0), (
        f"app-1 has 5 requests in flight at 50 ms and none at 150 ms, app-2 always 2: the "
        f"choices should be 1 then 0, yours were {first!r} then {later!r}")
    assert 150.0 in early_busy.asked, "ask each instance for its load at now_ms"


@pytest.mark.points(4)
def test_three_instances_and_the_first_one_dies(student: ModuleType) -> None:
    """Three instances, app-1 dies 0.8 s in: every choice is still the least busy live one."""
    switches = {"topology.instances": 3, "faults.instance_down": 1,
                "faults.instance_down_at_s": 0.8, "lb.health_check_s": 0.25}
    _, decisions = visible.run_with_balancer(student, switches, 800, seed=3)
    assert any(not d.alive[0] for d in decisions), "app-1 must be marked dead during the run"
    problem = visible.first_wrong(decisions)
    assert not problem, problem
