"""Hidden tests: percentile edges; the alert decision for decision on a flapping error rate."""

from __future__ import annotations

from collections import deque
from types import ModuleType

import pytest

from sandbox.grading.plugin import sibling
from sandbox.plugs.monitoring import ALERT_MIN_REQUESTS, ALERT_THRESHOLD, ALERT_WINDOW_MS

visible = sibling(__file__, "test_monitoring.py")


@pytest.mark.points(1)
def test_percentile_edges(student: ModuleType) -> None:
    """p100 is the slowest request, p1 the fastest of 50; one value is every percentile."""
    m = visible.metrics_of(student, [(200, float(x)) for x in range(50, 0, -1)])
    assert (m.percentile(100), m.percentile(1)) == (50.0, 1.0), (
        f"of 1..50 ms, p100 is 50 and p1 is 1; yours: {m.percentile(100)}, {m.percentile(1)}")
    one = visible.metrics_of(student, [(200, 7.5)])
    assert [one.percentile(p) for p in (1, 50, 99)] == [7.5, 7.5, 7.5]


def reference_changes(seen: list[tuple[int, float]]) -> list[tuple[float, bool]]:
    """When a correct 5% / 2 s alert starts and stops firing, for these requests."""
    window: deque[tuple[float, bool]] = deque()
    failures, firing, changes = 0, False, []
    for status, now in seen:
        window.append((now, status >= 500))
        failures += status >= 500
        while window and now - window[0][0] >= ALERT_WINDOW_MS:
            failures -= window.popleft()[1]
        now_firing = (len(window) >= ALERT_MIN_REQUESTS
                      and failures / len(window) > ALERT_THRESHOLD)
        if now_firing != firing:
            firing = now_firing
            changes.append((now, firing))
    return changes


@pytest.mark.points(3)
def test_a_flapping_error_rate_decision_for_decision(student: ModuleType) -> None:
    """About 6% failing, close to the 5% threshold: the alert starts and stops exactly when a
    correct alert would."""
    _, monitor, seen = visible.watch(student, 0.06)
    want = reference_changes(seen)
    assert len(want) > 4, "the error rate must cross the threshold several times"
    got = monitor.changes
    for i, (a, b) in enumerate(zip(got, want, strict=False)):
        assert a == b, (f"change {i}: a correct alert {'starts' if b[1] else 'stops'} firing at "
                        f"{b[0]:.1f} ms; yours {'started' if a[1] else 'stopped'} at {a[0]:.1f} ms")
    assert len(got) == len(want), (f"a correct alert changes {len(want)} times in this run; "
                                   f"yours changed {len(got)} times")
