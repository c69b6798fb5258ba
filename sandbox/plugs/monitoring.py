"""A monitoring agent made of the student's metrics and alert, watching every request.

The network calls each of its `observers` with every finished trace; the student's `Metrics`
records each one, and their `ErrorRateAlert` is asked after each whether it fires.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox.plugs import PlugError, PlugPoint, need
from sandbox.tracing import Trace

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

# The alert the agent runs: more than 5% of the last 2 s of requests failed, judged once
# at least 100 requests are in that window.
ALERT_THRESHOLD = 0.05
ALERT_WINDOW_MS = 2000.0
ALERT_MIN_REQUESTS = 100


class StudentMonitor:
    """Feeds the student's `Metrics` and `ErrorRateAlert` from every finished request, and
    keeps the alert's changes as (time, firing) pairs."""

    def __init__(self, module: ModuleType) -> None:
        self.metrics = need(module, "Metrics", "monitoring")()
        self.alert = need(module, "ErrorRateAlert", "monitoring")(
            ALERT_THRESHOLD, ALERT_WINDOW_MS, ALERT_MIN_REQUESTS)
        self.firing = False
        self.changes: list[tuple[float, bool]] = []

    def observe(self, trace: Trace) -> None:
        status = trace.status
        now_ms = trace.root.start_ms + trace.duration_ms
        self.metrics.record(status, trace.duration_ms)
        self.alert.record(status, now_ms)
        firing = self.alert.firing(now_ms)
        if not isinstance(firing, bool):
            raise PlugError(f"firing(now_ms) must return True or False; it returned {firing!r}")
        if firing != self.firing:
            self.firing = firing
            self.changes.append((now_ms, firing))


def _build(sb: Sandbox, module: ModuleType) -> Any:
    return StudentMonitor(module)


def _attach(sb: Sandbox, part: Any) -> None:
    if part.observe not in sb.network.observers:
        sb.network.observers.append(part.observe)


POINT = PlugPoint("monitoring", "classes Metrics (record, requests, by_class, error_rate, "
                  "percentile) and ErrorRateAlert(threshold, window_ms, min_requests) with "
                  "record(status, now_ms) and firing(now_ms)", _build, _attach)
