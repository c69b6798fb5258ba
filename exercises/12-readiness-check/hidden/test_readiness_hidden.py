"""Hidden tests: the database down in the sandbox; three instances restarting quickly."""

from __future__ import annotations

from types import ModuleType

import pytest

from sandbox.grading.harness import make_sandbox, send
from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_readiness.py")


@pytest.mark.points(2)
def test_with_the_database_down_no_instance_is_ready(student: ModuleType) -> None:
    """faults.db_down: the balancer's health check, asking your check, takes every instance
    out of rotation, and the request is answered 503 by the balancer itself."""
    sb = make_sandbox({"deploy.readiness_check": True, "faults.db_down": True},
                      plug=("readiness", student))
    response = send(sb, "GET", "/products/1")
    assert response.status_code == 503, f"expected 503, got {response.status_code}"
    in_rotation = [i.name for i in sb.network.instances if i.alive]
    assert not in_rotation, (f"the database is down, yet your check said {in_rotation} "
                             "ready: ping the database")


@pytest.mark.points(3)
def test_three_instances_with_a_short_drain(student: ModuleType) -> None:
    """Three instances, health checks every 0.25 s, a 0.5 s drain: still no request fails."""
    switches = {"topology.instances": 3, "lb.health_check_s": 0.25, "deploy.drain_s": 0.5,
                "deploy.warmup_s": 0.8}
    metrics, _ = visible.rolling_restart(student, switches, 2000, seed=3)
    failed = visible.lost(metrics)
    assert not failed, f"requests failed while three instances restarted in turn: {failed}"
