"""A deploy's times tell the truth: it happens in the measured part of a run (not in its
warm-up), every time it reports is inside the run, and a rolling rollback stops the rollout
before it rolls back."""

from __future__ import annotations

import functools
import json
from typing import Any

from sandbox.scenarios.runner import run_scenario
from sandbox.settings import Settings

# Quick phases: a rolling step is drain 2 s + restart 0.5 s + warm-up 1 s = 3.5 s.
QUICK = {"deploy.release": True, "deploy.drain_s": 2.0, "deploy.warmup_s": 1.0,
         "lb.health_check_s": 0.5, "deploy.readiness_check": True,
         "deploy.auto_rollback": True}


@functools.cache
def _run(switches: tuple[tuple[str, Any], ...], requests: int, warmup: int) -> str:
    settings = Settings().replace(dict(switches))
    result = run_scenario("steady", settings, requests=requests, warmup=warmup, keep_traces=0)
    return json.dumps(result.metrics)


def run(requests: int, warmup: int, **switches: Any) -> dict[str, Any]:
    """Metrics of a seeded `steady` run with QUICK deploys; each distinct run happens once per
    test session."""
    chosen = {**QUICK, **switches}
    metrics: dict[str, Any] = json.loads(_run(tuple(sorted(chosen.items())), requests, warmup))
    return metrics


def reported_times(metrics: dict[str, Any]) -> dict[str, float]:
    """Every time a run reports about its alerts and its deploy, by where it is reported."""
    times: dict[str, float] = {}
    for name, alert in metrics["alerts"].items():
        for n, firing in enumerate(alert["firings"]):
            for key, value in firing.items():
                times[f"alerts.{name}.firings.{n}.{key}"] = value
    deploy = metrics["deploy"]
    for key in ("started_at_s", "switched_at_s", "finished_at_s"):
        times[f"deploy.{key}"] = deploy[key]
    for key in ("alert_fired_at_s", "ordered_at_s", "completed_at_s"):
        times[f"deploy.rollback.{key}"] = (deploy["rollback"] or {}).get(key)
    return {where: t for where, t in times.items() if t is not None}


def test_a_slow_rolling_release_after_a_warm_up_deploys_in_the_measured_part() -> None:
    """The warm-up runs without the deploy, so the slow release's queues do not pile up there
    and push the run's origin past its own requests (it used to report p95 alerts tens of
    seconds before the run began, and a deploy that never served a request)."""
    metrics = run(2400, 1500, **{"deploy.strategy": "rolling", "deploy.bad_release": "slow"})
    deploy = metrics["deploy"]
    assert deploy["started_at_s"] == 1.0
    assert deploy["requests_by_version"].get("v2", 0) > 0  # v2 served in the measured part
    timeline = deploy["timeline"]
    assert [row["second"] for row in timeline] == list(range(len(timeline)))
    assert len(timeline) == 8  # 2,400 requests at 300/s: eight seconds, each with its row
    assert sum(n for row in timeline for n in row["served"].values()) == metrics["requests"]
    assert any("v2" in row["served"] for row in timeline)
    # The shop the run begins with is healthy: no deploy, no queue left from the warm-up.
    assert timeline[0]["instances"] == {"app-1": "v1", "app-2": "v1"}
    assert metrics["timeline"][0]["mean_latency_ms"] < 50
    times = reported_times(metrics)
    assert "alerts.p95_ms.firings.0.fired_at_s" in times  # the slow v2 is noticed
    for where, t in times.items():
        assert 0 <= t <= metrics["duration_s"], (where, t)
    assert deploy["started_at_s"] <= times["alerts.p95_ms.firings.0.pending_at_s"]


def test_errors_releases_of_every_strategy_after_a_warm_up_report_times_inside_the_run() -> None:
    for strategy in ("rolling", "blue_green", "canary"):
        metrics = run(2400, 900, **{"deploy.strategy": strategy,
                                    "deploy.bad_release": "errors"})
        deploy = metrics["deploy"]
        assert deploy["requests_by_version"].get("v2", 0) > 0, strategy
        assert deploy["rollback"] is not None, strategy
        for where, t in reported_times(metrics).items():
            assert 0 <= t <= metrics["duration_s"], (strategy, where, t)
        fired = deploy["rollback"]["alert_fired_at_s"]
        assert fired == metrics["alerts"]["error_rate"]["fired_at_s"], strategy


def switches_to_v2(timeline: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """(second, instance) of each change into a v2 process, as the timeline shows them."""
    changes: list[tuple[int, str]] = []
    last: dict[str, str] = {}
    for row in timeline:
        for name, states in row["instances"].items():
            for state in states.split(">"):
                before = last.get(name, "")
                if state.startswith("v2") and not before.startswith("v2"):
                    changes.append((row["second"], name))
                last[name] = state
    return changes


def test_a_rolling_rollback_stops_the_rollout_before_rolling_back() -> None:
    """The alert fires while app-2 drains for its restart into v2: that restart brings v1
    back instead, and then app-1, the one on v2, rolls back; no process starts v2 after the
    order."""
    metrics = run(3600, 0, **{"deploy.strategy": "rolling", "deploy.bad_release": "errors"})
    deploy = metrics["deploy"]
    rollback = deploy["rollback"]
    ordered = rollback["ordered_at_s"]
    assert 4.5 < ordered < 6.5  # app-2 drains from 4.5 s, its new process would start at 7 s
    assert switches_to_v2(deploy["timeline"]) == [(3, "app-1")]  # app-1 at 3.5 s, then none
    assert all(not s.startswith("v2") for row in deploy["timeline"]
               for s in row["instances"]["app-2"].split(">"))
    # app-1 waits for app-2's restart (to 8 s), drains 2 s: no v2 process from 10 s on.
    assert rollback["completed_at_s"] == 10.0
    assert rollback["from_deploy_start_s"] == 9.0
    assert 0 < rollback["completed_at_s"] <= metrics["duration_s"]
    last = deploy["timeline"][-1]
    assert {name: states.split(">")[-1] for name, states in last["instances"].items()} == {
        "app-1": "v1", "app-2": "v1"}
    assert set(last["served"]) == {"v1"}


def test_a_rollback_still_under_way_when_the_run_ends_reports_no_completion() -> None:
    """The rollback's completion would come after the run: it is not reported as done."""
    metrics = run(2400, 0, **{"deploy.strategy": "rolling", "deploy.bad_release": "errors"})
    rollback = metrics["deploy"]["rollback"]
    assert metrics["duration_s"] < 10.0 and rollback["ordered_at_s"] is not None
    assert rollback["completed_at_s"] is None
    assert rollback["from_deploy_start_s"] is None and rollback["from_alert_s"] is None
