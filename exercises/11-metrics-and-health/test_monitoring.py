"""Graded tests for the metrics and the alert: on their own, then watching the sandbox."""

from __future__ import annotations

import random
from types import ModuleType
from typing import Any

import pytest

from sandbox.grading.harness import make_sandbox, scenario


def metrics_of(student: ModuleType, records: list[tuple[int, float]]) -> Any:
    metrics = student.Metrics()
    for status, latency in records:
        metrics.record(status, latency)
    return metrics


@pytest.mark.points(2)
def test_counts_requests_and_status_classes(student: ModuleType) -> None:
    """Six requests (200, 201, 404, 500, 503, 200): 3 in 2xx, 1 in 4xx, 2 in 5xx."""
    m = metrics_of(student, [(200, 5.0), (201, 7.0), (404, 1.0), (500, 2.0), (503, 9.0),
                             (200, 4.0)])
    assert m.requests() == 6, f"six requests were recorded; requests() says {m.requests()!r}"
    want = {"2xx": 3, "4xx": 1, "5xx": 2}
    assert m.by_class() == want, (f"statuses 200, 201, 404, 500, 503, 200 by class: {want}; "
                                  f"by_class() says {m.by_class()!r}")


@pytest.mark.points(1)
def test_the_error_rate_is_the_share_of_5xx(student: ModuleType) -> None:
    """2 server errors in 8 requests: 0.25. A 404 is the client's mistake, not an error here."""
    assert student.Metrics().error_rate() == 0.0, "no requests yet: the error rate is 0.0"
    m = metrics_of(student, [(200, 1.0)] * 4 + [(404, 1.0), (429, 1.0), (500, 1.0), (502, 1.0)])
    rate = m.error_rate()
    assert rate == pytest.approx(0.25), (
        f"2 of 8 requests got a 5xx, so the error rate is 0.25; yours is {rate!r} (404 and 429 "
        "are the client's problem and do not count)")


@pytest.mark.points(3)
def test_percentiles_are_nearest_rank(student: ModuleType) -> None:
    """Latencies 1 to 100 ms in any order: p50 = 50, p95 = 95, p99 = 99 (nearest rank)."""
    latencies = [float(i) for i in range(1, 101)]
    random.Random(5).shuffle(latencies)
    m = metrics_of(student, [(200, x) for x in latencies])
    got = [m.percentile(p) for p in (50, 95, 99)]
    assert got == [50.0, 95.0, 99.0], (
        f"for latencies 1, 2, ..., 100 ms (recorded in a shuffled order) p50, p95 and p99 are "
        f"50, 95 and 99; yours are {got}")
    small = metrics_of(student, [(200, x) for x in (30.0, 10.0, 20.0)])
    got = [small.percentile(p) for p in (50, 95)]
    assert got == [20.0, 30.0], (
        f"for 10, 20 and 30 ms, p50 is rank ceil(1.5) = 2 (20 ms) and p95 rank ceil(2.85) = 3 "
        f"(30 ms); yours are {got}")
    assert student.Metrics().percentile(95) == 0.0, "no latencies at all: the percentile is 0.0"


def alert_answers(student: ModuleType, events: list[tuple[int, float]], threshold: float = 0.1,
                  window_ms: float = 1000.0, min_requests: int = 10) -> list[bool]:
    """Feed (status, time) events to a new alert; its `firing` answer after each one."""
    alert = student.ErrorRateAlert(threshold, window_ms, min_requests)
    answers = []
    for status, now in events:
        alert.record(status, now)
        answers.append(alert.firing(now))
    return answers


@pytest.mark.points(3)
def test_the_alert_fires_above_the_threshold(student: ModuleType) -> None:
    """Threshold 10%: 1 failure in 20 is quiet; 3 failures in 22 (13.6%) fire."""
    events = [(200, 10.0 * i) for i in range(19)] + [(500, 190.0)]
    answers = alert_answers(student, events)
    assert not any(answers), (f"1 failure in 20 requests (5%) is under the 10% threshold, but "
                              f"your alert fired after request {answers.index(True) + 1}")
    answers = alert_answers(student, [*events, (503, 200.0), (502, 210.0)])
    assert answers[-2:] == [False, True], (
        "after 2 failures in 21 requests (9.5%) the alert is quiet; after 3 in 22 (13.6%) it "
        f"fires. Yours answered {answers[-2:]}")
    exactly = [(200, 10.0 * i) for i in range(9)] + [(500, 90.0)]
    assert alert_answers(student, exactly)[-1] is False, (
        "1 failure in 10 is exactly 10%: the alert fires only ABOVE the threshold")


@pytest.mark.points(2)
def test_it_only_counts_the_window_and_enough_requests(student: ModuleType) -> None:
    """A failure 1 s ago leaves a 1 s window; fewer than min_requests requests never fire."""
    few = alert_answers(student, [(500, 0.0), (500, 1.0), (503, 2.0)])
    assert not any(few), ("3 requests, all failed, are fewer than min_requests (10): the alert "
                          f"must not judge yet; yours answered {few}")
    burst = [(500, float(i)) for i in range(10)]
    later = [(200, 1000.0 + 10.0 * i) for i in range(10)]
    answers = alert_answers(student, burst + later)
    assert answers[9] is True, "10 failures out of 10 recent requests: the alert fires"
    assert answers[-1] is False, (
        "the 10 failures at 0-9 ms are 1000 ms or more in the past by 1090 ms (window 1000 ms: "
        "a request counts while now - t < 1000), leaving 10 good requests: the alert is quiet")
    edge = student.ErrorRateAlert(0.5, 1000.0, 1)
    edge.record(500, 0.0)
    answers = [edge.firing(t) for t in (0.0, 999.0, 1000.0)]
    assert answers == [True, True, False], (
        "one failure at 0 ms, window 1000 ms: it counts at 0 and 999 ms, and has left the "
        f"window at exactly 1000 ms (now - t < window_ms). Your alert answered {answers}")


# -- in the sandbox ---------------------------------------------------------------------------


def watch(student: ModuleType, error_rate: float, requests: int = 900,
          seed: int = 7) -> tuple[dict[str, Any], Any, list[tuple[int, float]]]:
    """Run `steady` with the student's monitoring watching, one call in `error_rate` to an
    app instance failing (502). Returns the sandbox's metrics, the plugged monitor and every
    request's (status, finish time)."""
    key = (str(student.__file__), error_rate, requests, seed)
    if key not in _runs:  # two tests watch the same run: run it once
        faults = {"faults.hop": "app", "faults.hop_error_rate": error_rate} if error_rate else {}
        sb = make_sandbox(faults, plug=("monitoring", student), seed=seed)
        seen: list[tuple[int, float]] = []
        sb.network.observers.append(
            lambda trace: seen.append((trace.status, trace.root.start_ms + trace.duration_ms)))
        metrics = scenario(sb, "steady", requests=requests, warmup=0)
        _runs[key] = (metrics, sb.plugs["monitoring"], seen)
    return _runs[key]


_runs: dict[tuple[str, float, int, int], tuple[dict[str, Any], Any, list[tuple[int, float]]]] = {}


@pytest.mark.points(5)
def test_your_numbers_match_the_sandboxs_own(student: ModuleType) -> None:
    """900 requests, one app call in ten failing: your count, classes, error rate and p50,
    p95, p99 agree with the sandbox's own metrics."""
    sandbox, monitor, _ = watch(student, 0.1)
    mine = monitor.metrics
    assert mine.requests() == sandbox["requests"], (
        f"the sandbox counted {sandbox['requests']} requests, your metrics {mine.requests()}")
    classes: dict[str, int] = {}
    for code, n in sandbox["status"].items():
        classes[f"{code[0]}xx"] = classes.get(f"{code[0]}xx", 0) + n
    assert mine.by_class() == classes, (f"statuses {sandbox['status']} by class are {classes}; "
                                        f"yours are {mine.by_class()}")
    rate = classes.get("5xx", 0) / sandbox["requests"]
    assert mine.error_rate() == pytest.approx(rate), (
        f"error rate: the sandbox's numbers give {rate:.4f}, yours is {mine.error_rate()!r}")
    for p in ("p50", "p95", "p99"):
        want = sandbox["latency_ms"][p]
        got = round(mine.percentile(float(p[1:])), 3)
        assert got == want, f"{p}: the sandbox measured {want} ms, your metrics say {got} ms"


@pytest.mark.points(4)
def test_the_alert_fires_on_an_outage_and_not_on_a_healthy_run(student: ModuleType) -> None:
    """A 5% / 2 s alert: one call in ten failing makes it fire; one in fifty never does."""
    _, bad, _ = watch(student, 0.1)
    assert bad.changes and bad.changes[0][1] is True, (
        "one request in ten failed for the whole run (10% > 5%), yet your alert never fired")
    assert bad.firing, "the failures never stopped, so the alert should still fire at the end"
    _, mild, seen = watch(student, 0.02)
    failures = sum(1 for status, _ in seen if status >= 500)
    assert not mild.changes, (
        f"about one request in fifty failed ({failures} of {len(seen)}), under the 5% "
        f"threshold, yet your alert fired at {mild.changes[0][0]:.0f} ms: an alert that fires on "
        "a healthy shop is soon ignored")
