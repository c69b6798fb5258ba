"""A rolling restart with and without the balancer asking for readiness."""

from __future__ import annotations

from sandbox.scenarios.runner import run_scenario
from sandbox.settings import Settings

ROLLING = {"deploy.rolling_restart": True, "lb.health_check_s": 0.5, "deploy.drain_s": 1.0,
           "deploy.warmup_s": 1.0}


def failed(readiness: bool) -> dict[str, int]:
    settings = Settings().replace({**ROLLING, "deploy.readiness_check": readiness})
    status = run_scenario("steady", settings, requests=1800, keep_traces=0, warmup=0).metrics["status"]
    return {code: n for code, n in status.items() if code in ("502", "503")}


def test_liveness_alone_sends_requests_to_draining_and_warming_instances() -> None:
    lost = failed(readiness=False)
    assert lost.get("502", 0) > 0  # sent to a process that had exited
    assert lost.get("503", 0) > 0  # sent to a process still warming up


def test_with_readiness_checks_a_rolling_restart_loses_nothing() -> None:
    assert failed(readiness=True) == {}


def test_the_database_down_takes_every_instance_out_of_rotation() -> None:
    settings = Settings().replace({"deploy.readiness_check": True, "faults.db_down": True})
    result = run_scenario("steady", settings, requests=50, keep_traces=50, warmup=0)
    assert result.metrics["status"] == {"503": 50}
    assert not result.metrics["instances"]  # the balancer answered; no instance was tried
    _, trace = result.traces[0]  # the first request: the first health check ran in it
    (lb,) = trace.find("lb")
    assert lb.attrs["lb.result"] == "no live instance"
    assert "the database is not answering" in lb.attrs["lb.not_ready"]
