"""The run's alert rules, evaluated over its measured requests tick by tick (simulated time).

The same evaluator `deploy.auto_rollback` watches live (`sandbox.mechanisms.alerting`); here it
is replayed over the metrics' ticks after the run, so every run reports whether each rule fired
and when, without a cost per request.
"""

from __future__ import annotations

from typing import Any

from sandbox.mechanisms.alerting import AlertEvaluator
from sandbox.network.path import alert_rules
from sandbox.scenarios.metrics import MetricsRecorder
from sandbox.settings import Settings


def evaluate_alerts(recorder: MetricsRecorder, settings: Settings, origin_ms: float
                    ) -> dict[str, Any]:
    """Rule name -> what it watched, whether and when it fired and resolved, its peak value.
    Times are simulated seconds from `origin_ms` (when the run's settings applied)."""
    ticks = recorder.ticks
    out: dict[str, Any] = {}
    for rule in alert_rules(settings):
        evaluator = AlertEvaluator(rule, origin_ms)
        if ticks:
            for tick in range(min(ticks), max(ticks) + 1):
                answered, refused, failed, latencies, *_ = ticks.get(tick) or (0, 0, 0, [])
                evaluator.evaluate(tick, failed, answered + refused + failed, latencies)
        out[rule.kind] = evaluator.report()
    return out
