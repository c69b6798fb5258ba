"""Alert rules in simulated time: the window, `for:` (pending before firing), resolving."""

from __future__ import annotations

from sandbox.mechanisms.alerting import AlertEvaluator, AlertRule, LiveAlert


def feed(evaluator: AlertEvaluator, failing_ticks: range, ticks: int = 60) -> list[int]:
    """Ten requests a tick; in `failing_ticks` half of them fail. The ticks it fired on."""
    fired = []
    for tick in range(ticks):
        failed = 5 if tick in failing_ticks else 0
        if evaluator.evaluate(tick, failed, 10, [5.0] * 10):
            fired.append(tick)
    return fired


def test_the_condition_must_hold_for_for_s_before_the_alert_fires() -> None:
    rule = AlertRule("error_rate", 0.02, window_s=0.1, for_s=1.0)
    # Errors for 1 s (ticks 10..19): pending from tick 10, never 1 s old: no alert.
    assert feed(AlertEvaluator(rule, 0.0), range(10, 20)) == []
    # Errors for 1.1 s: the condition has held 1 s at tick 20, so it fires there.
    evaluator = AlertEvaluator(rule, 0.0)
    assert feed(evaluator, range(10, 21)) == [20]
    (firing,) = evaluator.firings
    assert firing == {"pending_at_s": 1.1, "fired_at_s": 2.1, "resolved_at_s": 2.2}
    # Without `for:` the same errors fire at once.
    assert feed(AlertEvaluator(AlertRule("error_rate", 0.02, 0.1, 0.0), 0.0),
                range(10, 20)) == [10]


def test_the_window_keeps_a_burst_in_view_until_it_slides_out() -> None:
    """One bad tick, a 1 s window: the share stays over 2% for ten evaluations."""
    evaluator = AlertEvaluator(AlertRule("error_rate", 0.02, window_s=1.0, for_s=0.5), 0.0)
    assert feed(evaluator, range(10, 11)) == [15]
    assert evaluator.firings[0]["resolved_at_s"] == 2.1  # tick 20: the burst left the window
    assert evaluator.report()["peak"] == 0.05  # 5 failed of the 100 the window held


def test_a_p95_rule_reads_the_slowest_twentieth() -> None:
    rule = AlertRule("p95_ms", 250.0, window_s=1.0, for_s=0.0)
    evaluator = AlertEvaluator(rule, 0.0)
    assert not evaluator.evaluate(0, 0, 100, [10.0] * 95 + [900.0] * 5)  # p95 is still 10
    assert evaluator.evaluate(1, 0, 100, [10.0] * 90 + [900.0] * 10)


def test_live_feeding_fires_on_the_same_tick_as_the_whole_ticks() -> None:
    """What auto rollback watches request by request agrees with the run's own report."""
    rule = AlertRule("error_rate", 0.1, window_s=0.5, for_s=0.3)
    whole = AlertEvaluator(rule, 0.0)
    live = LiveAlert(AlertEvaluator(rule, 0.0))
    fired_live = []
    requests = [(t * 25.0, 500 if 1000 <= t * 25.0 < 2000 and t % 3 == 0 else 200)
                for t in range(160)]
    for start, status in requests:
        at = live.observe(start, 5.0, status)
        if at is not None:
            fired_live.append(at)
    for tick in range(40):
        inside = [s for start, s in requests if tick * 100 <= start < tick * 100 + 100]
        whole.evaluate(tick, sum(s >= 500 for s in inside), len(inside), [5.0] * len(inside))
    assert fired_live == [whole.firings[0]["fired_at_s"] * 1000]  # type: ignore[operator]
