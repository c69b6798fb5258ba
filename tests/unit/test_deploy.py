"""The rolling-restart schedule and the sandbox's own readiness check."""

from __future__ import annotations

from sandbox.network.deploy import RESTART_MS, InstanceStatus, RollingRestart, check_readiness


def test_each_instance_drains_stops_starts_and_warms_in_turn() -> None:
    rollout = RollingRestart(start_ms=1000.0, drain_ms=2000.0, warmup_ms=1500.0)
    started = 1000.0 + 2000.0 + RESTART_MS
    assert rollout.phase(0, 999.0)[0] == "serving"
    assert rollout.phase(0, 1000.0)[0] == "draining"
    assert rollout.phase(0, 3000.0)[0] == "stopped"
    assert rollout.phase(0, started) == ("starting", started)
    assert rollout.phase(0, started + 1500.0) == ("serving", started)
    # The second instance begins once the first is warm.
    assert rollout.phase(1, started + 1499.0)[0] == "serving"
    assert rollout.phase(1, started + 1500.0)[0] == "draining"


def status(**changes: object) -> InstanceStatus:
    fields: dict[str, object] = {"name": "app-1", "started_ms": float("-inf"),
                                 "warmup_ms": 1000.0, "draining": False,
                                 "ping_database": lambda: True}
    fields.update(changes)
    return InstanceStatus(**fields)  # type: ignore[arg-type]


def test_readiness_says_no_while_draining_warming_or_without_a_database() -> None:
    assert check_readiness(status(), 0.0) == (True, "ready")
    assert check_readiness(status(draining=True), 0.0)[0] is False
    assert check_readiness(status(started_ms=500.0), 1499.0)[0] is False
    assert check_readiness(status(started_ms=500.0), 1500.0)[0] is True
    assert check_readiness(status(ping_database=lambda: False), 0.0)[0] is False
