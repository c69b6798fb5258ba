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


def test_a_rolling_rollback_stops_the_rollout_then_goes_back_one_at_a_time() -> None:
    """The order stops the deploy: app-2's restart is under way (its v1 process is gone, v2's
    not started), so it brings v1 back; then app-1, already on v2, rolls back after it."""
    from sandbox.network.deploy import NEW, OLD, Rollout

    rollout = Rollout("rolling", 2, start_ms=1000.0, drain_ms=1000.0, warmup_ms=1000.0)
    step = 1000.0 + RESTART_MS + 1000.0  # 2.5 s an instance
    assert rollout.finished_ms() == 1000.0 + 2 * step
    rollout.rollback(4600.0)  # app-1 is on v2; app-2 began its restart at 3.5 s
    assert rollout.restarts[1] == [(3500.0, OLD)]  # no v2 process starts after the order
    assert rollout.restarts[0] == [(1000.0, NEW), (1000.0 + 2 * step, OLD)]  # after app-2's
    assert rollout.rolled_back_ms == 1000.0 + 2 * step + 1000.0  # the last v2 has exited
    assert rollout.finished_ms() is None
    assert rollout.old_process(1, 5000.0) == ("starting", 5000.0, OLD)
    assert rollout.old_process(0, 9000.0) == ("serving", 1000.0 + 2 * step + 1500.0, OLD)


def test_no_instance_starts_v2_after_a_rolling_rollback_is_ordered() -> None:
    """Wherever the deploy is when the order comes, no v2 process starts after it, and from
    `rolled_back_ms` on none runs at all."""
    from sandbox.network.deploy import NEW, Rollout

    for order_ms in range(1000, 9000, 100):
        rollout = Rollout("rolling", 3, start_ms=1000.0, drain_ms=1000.0, warmup_ms=1000.0)
        rollout.rollback(float(order_ms))
        v2_starts = [drain_at + 1000.0 + RESTART_MS for restarts in rollout.restarts
                     for drain_at, version in restarts if version == NEW]
        assert all(start <= order_ms for start in v2_starts), order_ms
        done = rollout.rolled_back_ms
        assert done is not None
        for i in range(3):
            for later in (done, done + 1.0, done + 5000.0, 1e6):
                assert rollout.old_process(i, later)[2] != NEW, (order_ms, i, later)


def test_a_rollout_not_yet_reached_by_the_rollback_never_happens() -> None:
    from sandbox.network.deploy import OLD, Rollout

    rollout = Rollout("rolling", 3, start_ms=1000.0, drain_ms=1000.0, warmup_ms=1000.0)
    rollout.rollback(2000.0)  # app-1 is draining; app-2 and app-3 not begun
    assert rollout.restarts[1] == rollout.restarts[2] == []
    assert rollout.restarts[0] == [(1000.0, OLD)]  # its drain goes on; v1 comes back
    assert rollout.rolled_back_ms == 2000.0  # no v2 process ever served


def test_a_second_set_gets_its_share_after_the_switch_and_none_after_a_rollback() -> None:
    from sandbox.network.deploy import Rollout

    canary = Rollout("canary", 2, 1000.0, 1000.0, 1000.0, canary_share=0.1, canary_ms=3000.0)
    assert canary.new_set == 2 and canary.new_share(5000.0) == 0.0  # not switched yet
    assert canary.new_process(1200.0)[0] == "stopped"
    assert canary.new_process(1600.0)[0] == "starting"
    canary.switched_ms = 2500.0
    assert canary.new_share(2500.0) == 0.1 and canary.new_share(5500.0) == 1.0
    assert canary.finished_ms() == 5500.0
    canary.rollback(3000.0)
    assert canary.new_share(9000.0) == 0.0 and canary.rolled_back_ms == 3000.0
    blue_green = Rollout("blue_green", 2, 1000.0, 1000.0, 1000.0, switched_ms=2500.0)
    assert blue_green.new_share(2500.0) == 1.0
    assert blue_green.old_process(0, 9000.0)[2] == "v1"  # the old set is left running


class ScriptedController:
    """A canary controller that answers from a script: (from_ms, share, verdict) rows."""

    def __init__(self, script: list[tuple[float, float, str]]) -> None:
        self.script = script
        self.verdict = "watching"
        self.seen: list[tuple[str, int]] = []

    def observe(self, now_ms: float, version: str, status: int, latency_ms: float) -> None:
        self.seen.append((version, status))

    def share(self, now_ms: float) -> float:
        row = [r for r in self.script if r[0] <= now_ms][-1]
        self.verdict = row[2]
        return row[1]


def test_a_controller_steers_the_canary_promotes_it_or_rolls_it_back() -> None:
    """A plugged canary controller (exercise 24) sets the share; its verdict finishes the
    deploy or rolls it back, and an answer out of range is clamped."""
    from sandbox.network.deploy import Rollout

    script = [(0.0, 0.05, "watching"), (3000.0, 1.7, "watching"), (4000.0, 1.0, "promoted")]
    good = Rollout("canary", 2, 1000.0, 1000.0, 1000.0, switched_ms=2500.0,
                   controller=ScriptedController(script))
    assert good.new_share(2600.0) == 0.05 and good.finished_ms() is None
    assert good.new_share(3100.0) == 1.0  # 1.7 is clamped
    assert good.new_share(4200.0) == 1.0 and good.finished_ms() == 4200.0
    bad = Rollout("canary", 2, 1000.0, 1000.0, 1000.0, switched_ms=2500.0,
                  controller=ScriptedController([(0.0, 0.05, "watching"),
                                                 (3000.0, 0.0, "rolled_back")]))
    assert bad.new_share(2600.0) == 0.05
    assert bad.new_share(3200.0) == 0.0 and bad.rollback_ms == 3200.0
    assert bad.finished_ms() is None and bad.new_share(9000.0) == 0.0


def test_the_deploy_summary_says_when_a_rollback_has_not_finished_or_had_no_alert() -> None:
    """A rollback still under way has no completion time, and one a canary controller ordered
    has no alert: the summary says so rather than failing on the missing numbers."""
    from sandbox.render import deploy_summary

    deploy = {"strategy": "rolling", "bad_release": "errors", "started_at_s": 1.0, "errors": 0,
              "errors_by_version": {}, "switched_at_s": None, "finished_at_s": None,
              "rollback": {"alert_fired_at_s": 5.6, "ordered_at_s": 5.6, "completed_at_s": None,
                           "from_deploy_start_s": None, "from_alert_s": None}}
    rows = dict(deploy_summary(deploy))
    assert rows["rolled back"] == "ordered 5.6 s, still under way when the run ended"
    deploy["rollback"] = {"alert_fired_at_s": None, "ordered_at_s": 4.2, "completed_at_s": 4.2,
                          "from_deploy_start_s": 3.2, "from_alert_s": None}
    assert dict(deploy_summary(deploy))["rolled back"] == (
        "ordered 4.2 s, done 4.2 s (3.2 s after the deploy began)")
    deploy["rollback"] = {"alert_fired_at_s": 5.6, "ordered_at_s": 5.6, "completed_at_s": 10.0,
                          "from_deploy_start_s": 9.0, "from_alert_s": 4.4}
    assert dict(deploy_summary(deploy))["rolled back"] == (
        "ordered 5.6 s, done 10 s (9 s after the deploy began, 4.4 s after the alert)")
