"""Deploys that go wrong (issue #17, item 3) and the alert rule every run evaluates (item 1):
seeded runs of each strategy, with a healthy and a broken v2, with and without auto rollback."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from sandbox.commands.cli import main
from sandbox.errors import EXIT_OK, EXIT_USAGE
from sandbox.scenarios.runner import run_scenario
from sandbox.settings import Settings

REQUESTS = 1800  # 6 simulated seconds of `steady`
# Short phases so a whole rolling deploy (2.5 s an instance) fits the run; readiness checks
# on, so only the broken release fails requests, not the restarts' gaps.
FAST = {"deploy.release": True, "deploy.drain_s": 1.0, "deploy.warmup_s": 1.0,
        "lb.health_check_s": 0.5, "deploy.readiness_check": True}


@functools.cache
def _run(switches: tuple[tuple[str, Any], ...], requests: int) -> str:
    settings = Settings().replace(dict(switches))
    result = run_scenario("steady", settings, requests=requests, warmup=0, keep_traces=0)
    return json.dumps(result.metrics)


def run(requests: int = REQUESTS, **switches: Any) -> dict[str, Any]:
    """Metrics of a seeded run; each distinct run happens once per test session."""
    metrics: dict[str, Any] = json.loads(_run(tuple(sorted(switches.items())), requests))
    return metrics


def deploy(strategy: str, bad: str = "off", rollback: bool = False, **more: Any
           ) -> dict[str, Any]:
    switches = {**FAST, "deploy.strategy": strategy, "deploy.bad_release": bad,
                "deploy.auto_rollback": rollback, **more}
    return run(**switches)


def server_errors(metrics: dict[str, Any]) -> int:
    return sum(n for code, n in metrics["status"].items() if code.startswith("5"))


def test_the_default_alert_rules_stay_quiet_in_a_healthy_steady_run() -> None:
    alerts = run(requests=1500)["alerts"]
    assert set(alerts) == {"error_rate", "p95_ms"}
    assert not alerts["error_rate"]["fired"] and not alerts["p95_ms"]["fired"]
    assert alerts["error_rate"]["peak"] == 0.0


def test_a_broken_release_fires_the_alert_and_for_s_delays_it() -> None:
    healthy = deploy("blue_green")
    assert not healthy["alerts"]["error_rate"]["fired"]
    broken = deploy("blue_green", "errors")["alerts"]["error_rate"]
    switched = deploy("blue_green", "errors")["deploy"]["switched_at_s"]
    assert broken["fired"]
    # The errors begin with the switch; the alert waits its `for_s` (1 s) on top.
    assert switched + 1.0 <= broken["fired_at_s"] <= switched + 1.3
    later = deploy("blue_green", "errors", **{"alert.for_s": 2.0})["alerts"]["error_rate"]
    assert later["fired_at_s"] == broken["fired_at_s"] + 1.0
    assert later["firings"][0]["pending_at_s"] == broken["firings"][0]["pending_at_s"]


def test_the_broken_release_is_served_by_the_instances_running_v2() -> None:
    """Only v2 fails, and with 500 (the new code's bug), about half of what it serves."""
    rolling = deploy("rolling", "errors")
    figures = rolling["deploy"]
    assert set(figures["errors_by_version"]) == {"v2"}
    assert rolling["status"].get("500") == figures["errors_by_version"]["v2"]
    share = figures["errors_by_version"]["v2"] / figures["requests_by_version"]["v2"]
    assert 0.4 < share < 0.6  # deploy.bad_error_rate = 0.5
    assert server_errors(deploy("blue_green")) == 0  # a healthy v2 fails nothing


def test_a_canary_serves_far_fewer_errors_than_a_rolling_deploy_of_the_same_bad_release() -> None:
    canary = deploy("canary", "errors", rollback=True)["deploy"]
    rolling = deploy("rolling", "errors", rollback=True)["deploy"]
    assert canary["rollback"] is not None and rolling["rollback"] is not None
    assert canary["errors"] * 10 < rolling["errors"]
    # The alert fired while only the canary's tenth of the traffic was on v2.
    assert canary["rollback"]["alert_fired_at_s"] < canary["switched_at_s"] + 3.0


def test_auto_rollback_cuts_errors_and_reports_how_long_it_took() -> None:
    kept = deploy("blue_green", "errors")["deploy"]
    undone = deploy("blue_green", "errors", rollback=True)["deploy"]
    assert kept["rollback"] is None and kept["finished_at_s"] is not None
    assert undone["errors"] * 2.5 < kept["errors"]
    back = undone["rollback"]
    assert back["from_alert_s"] == 0.0  # one switch of the router
    assert back["from_deploy_start_s"] == back["completed_at_s"] - undone["started_at_s"]
    assert undone["timeline"][-1]["served"] == {"v1": undone["timeline"][-1]["served"]["v1"]}
    # Rolling back a rolling deploy takes restarts: seconds, not an instant (this one is
    # still under way when the 6 s run ends, so it reports no completion yet).
    rolling = deploy("rolling", "errors", rollback=True)["deploy"]["rollback"]
    assert rolling["ordered_at_s"] < 5.0 and rolling["completed_at_s"] is None
    # With quicker restarts the rollback ends inside the run, and the errors end with it.
    quick = {"deploy.drain_s": 0.3, "deploy.warmup_s": 0.3, "lb.health_check_s": 0.2}
    rolling_kept = deploy("rolling", "errors", **quick)["deploy"]
    rolling_undone = deploy("rolling", "errors", rollback=True, **quick)["deploy"]
    assert rolling_undone["rollback"]["completed_at_s"] < 5.0
    assert rolling_undone["errors"] < 0.7 * rolling_kept["errors"]
    assert rolling_undone["timeline"][-1]["served"].keys() == {"v1"}


def test_a_slow_release_fires_the_latency_rule_and_rolls_back() -> None:
    slow = deploy("canary", "slow", rollback=True)
    assert slow["alerts"]["p95_ms"]["fired"] and not slow["alerts"]["error_rate"]["fired"]
    assert slow["deploy"]["rollback"] is not None
    kept = deploy("canary", "slow")
    # v2 holds each worker 300 ms longer: its instances' queues grow without bound.
    assert slow["latency_ms"]["p95"] * 100 < kept["latency_ms"]["p95"]


def test_blue_green_has_no_readiness_gap_where_a_rolling_restart_has_one() -> None:
    """Liveness checks only: the rolling restart sends requests to gone and warming processes;
    blue_green switches once the new set says it is ready, and keeps the old one running."""
    liveness = {"deploy.readiness_check": False}
    rolling = deploy("rolling", **liveness)
    blue_green = deploy("blue_green", **liveness)
    assert rolling["status"].get("502", 0) > 0 and rolling["status"].get("503", 0) > 0
    assert server_errors(blue_green) == 0
    assert blue_green["deploy"]["switched_at_s"] is not None
    assert blue_green["deploy"]["requests_by_version"]["v2"] > REQUESTS / 2


def test_the_timeline_shows_each_instance_change_version_second_by_second() -> None:
    timeline = deploy("rolling", **{"deploy.readiness_check": False})["deploy"]["timeline"]
    assert [row["second"] for row in timeline] == list(range(len(timeline)))
    assert timeline[0]["instances"] == {"app-1": "v1", "app-2": "v1"}
    assert timeline[-1]["instances"]["app-1"] == "v2"
    assert timeline[-1]["instances"]["app-2"].startswith("v2")  # v2+: still warming up
    seen = "".join(row["instances"]["app-1"] for row in timeline)
    for state in ("v1~", "--", "v2+"):  # draining, gone, warming up
        assert state in seen
    green = deploy("blue_green", **{"deploy.readiness_check": False})["deploy"]["timeline"]
    assert set(green[-1]["instances"]) == {"app-1", "app-2", "app-3", "app-4"}
    assert green[0]["instances"]["app-3"].startswith("--")


def test_rolling_restart_is_the_older_name_of_a_rolling_release() -> None:
    quick = {"deploy.drain_s": 1.0, "deploy.warmup_s": 1.0}
    older = run(requests=1200, **{"deploy.rolling_restart": True, **quick})
    newer = run(requests=1200, **{"deploy.release": True, **quick})
    assert older["status"] == newer["status"] and older["deploy"] == newer["deploy"]
    assert older["deploy"]["timeline"]  # a deploy happened under the older name too


def test_bad_deploy_and_alert_values_are_refused_with_the_valid_ones(
        capsys: pytest.CaptureFixture[str]) -> None:
    for assignment, expected in (("deploy.strategy=big_bang", "rolling | blue_green | canary"),
                                 ("deploy.bad_release=maybe", "off | errors | slow"),
                                 ("deploy.canary_percent=150", "from 0 to 100"),
                                 ("alert.window_s=0", "from 0.1 to 3,600")):
        assert main(["scenario", "steady", "--set", assignment]) == EXIT_USAGE
        err = " ".join(capsys.readouterr().err.split())
        assert expected in err and "Traceback" not in err


def test_sandbox_scenario_prints_the_alerts_and_the_deploy_timeline(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["scenario", "steady", "--requests", "1200", "--warmup", "0", "--set",
                 "deploy.release=on", "--set", "deploy.strategy=blue_green", "--set",
                 "deploy.warmup_s=0.5", "--set", "deploy.bad_release=errors", "--set",
                 "deploy.auto_rollback=on", "--set", "alert.for_s=0.3", "--set",
                 "lb.health_check_s=0.2"])
    out = " ".join(capsys.readouterr().out.split())
    assert code == EXIT_OK
    assert "error_rate: 5xx share > 2.0%" in out and "for 0.3 s" in out
    assert "rolled back: ordered" in out and "deploy timeline" in out
    assert "app-3" in out and "v2" in out


def test_the_metrics_panel_lists_the_alerts_and_the_deploy_timeline() -> None:
    from rich.console import Console

    from sandbox.tui.widgets.metrics_panel import deploy_view, headline_table

    metrics = deploy("canary", "errors", rollback=True)
    console = Console(width=60, record=True)
    console.print(headline_table(metrics))
    console.print(deploy_view(metrics["deploy"]))
    text = " ".join(console.export_text().split())
    assert "alert error_rate at " in text and "alert p95_ms no" in text
    assert "rolled back" in text and "app-4" in text and "v2+" in text
