"""A canary controller: move traffic to a new release step by step, compare it with the old
one as it goes, and roll back on its own when the new release is worse.

    watching (5%) --healthy step--> 25% --> 50% --> 100%: promoted
        |
        +-- alert holds for hold_ms --> rolled_back (0%, for good)

The old version (the baseline, "v1") and the new one (the canary, "v2") serve side by side.
Every answered request is reported with `observe`; the router asks `share` before each
request how much of the traffic the canary gets. The canary is judged against the baseline
over the same recent window, not against a fixed number: if the whole shop is slow today,
that is not the canary's fault.

The alert condition, checked over the last `window_ms` of requests of each version, once
the canary has at least `min_requests` of them:
  - the canary's error rate (5xx) is above the baseline's by more than `error_margin`, or
  - the canary's p95 latency is above `latency_ratio` times the baseline's p95.
One bad moment is noise; the controller rolls back only when the condition has held for
`hold_ms` without a break. A step moves on when it has lasted `step_ms` and the condition
does not hold at that moment.
"""

from __future__ import annotations

# BEGIN SOLUTION
# TODO: math.ceil will help with the rank
import math
from collections import deque

# STUB: from collections import deque
# END SOLUTION

VERSIONS = ("v1", "v2")  # the baseline and the canary


def p95(latencies: list[float]) -> float:
    """The 95th percentile by nearest rank: the value at rank ceil(0.95 * n) of the sorted
    list (ranks count from 1); 0.0 for an empty list."""
    # BEGIN SOLUTION
    # TODO: sort, find the rank, remember Python counts from 0
    if not latencies:
        return 0.0
    ordered = sorted(latencies)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]
    # END SOLUTION


class CanaryController:
    """Steers one canary deploy.

    Args:
        steps: the canary's share at each step, in percent, ending at 100: (5, 25, 50, 100).
        step_ms: how long each step lasts before the next (if healthy).
        hold_ms: how long the alert condition must hold before rolling back.
        window_ms: how far back the comparison looks.
        min_requests: canary requests the window needs before it is judged at all.
        error_margin: how much higher the canary's error rate may be (0.05: 5 points).
        latency_ratio: how many times the baseline's p95 the canary's p95 may be.
    """

    def __init__(self, steps: list[float], step_ms: float, hold_ms: float,
                 window_ms: float = 2000.0, min_requests: int = 20,
                 error_margin: float = 0.05, latency_ratio: float = 1.5) -> None:
        self.steps = list(steps)
        self.step_ms, self.hold_ms, self.window_ms = step_ms, hold_ms, window_ms
        self.min_requests = min_requests
        self.error_margin, self.latency_ratio = error_margin, latency_ratio
        self.verdict = "watching"  # then "promoted" or "rolled_back", for good
        self.step = 0  # index into steps
        # (time, failed?, latency) of each recent request, oldest first, per version
        self.recent: dict[str, deque[tuple[float, bool, float]]] = {v: deque() for v in VERSIONS}
        # BEGIN SOLUTION
        # TODO: what else to remember? (when did this step start? since when has the alert held?)
        # STUB: pass
        self.step_started_ms: float | None = None  # set by the first share() call
        self.bad_since_ms: float | None = None
        # END SOLUTION

    def observe(self, now_ms: float, version: str, status: int, latency_ms: float) -> None:
        """One answered request: `version` "v1" or "v2" served it with `status`."""
        # BEGIN SOLUTION
        # TODO: keep it in its version's window (ignore a version you do not know)
        if version in self.recent:
            self.recent[version].append((now_ms, status >= 500, latency_ms))
        # END SOLUTION

    def alert(self, now_ms: float) -> bool:
        """Does the alert condition hold now? (See the module docstring.)"""
        # BEGIN SOLUTION
        # TODO: drop what is older than window_ms from both windows first
        # TODO: too few canary requests: False; else compare error rates, then p95s
        for window in self.recent.values():
            while window and now_ms - window[0][0] > self.window_ms:
                window.popleft()
        canary, baseline = self.recent["v2"], self.recent["v1"]
        if len(canary) < self.min_requests:
            return False  # too little to judge: a handful of requests proves nothing

        def error_rate(window: deque[tuple[float, bool, float]]) -> float:
            return sum(1 for _, failed, _ in window if failed) / len(window) if window else 0.0

        if error_rate(canary) > error_rate(baseline) + self.error_margin:
            return True
        base_p95 = p95([latency for _, _, latency in baseline])
        return bool(baseline) and p95([lat for _, _, lat in canary]) > self.latency_ratio * base_p95
        # END SOLUTION

    def share(self, now_ms: float) -> float:
        """The canary's share of traffic now, 0.0 to 1.0; moves the deploy along. The first
        call starts the first step."""
        # BEGIN SOLUTION
        # TODO: once promoted or rolled back nothing changes: 1.0 or 0.0
        # TODO: check the alert: note when it started holding, roll back once it held hold_ms
        # TODO: a healthy step that has lasted step_ms moves to the next (the last: promoted)
        if self.verdict == "rolled_back":
            return 0.0
        if self.verdict == "promoted":
            return 1.0
        if self.step_started_ms is None:
            self.step_started_ms = now_ms
        if self.alert(now_ms):
            if self.bad_since_ms is None:
                self.bad_since_ms = now_ms
            if now_ms - self.bad_since_ms >= self.hold_ms:
                self.verdict = "rolled_back"
                return 0.0
        else:
            self.bad_since_ms = None
            if now_ms - self.step_started_ms >= self.step_ms:
                self.step += 1
                self.step_started_ms = now_ms
                if self.step >= len(self.steps) - 1:
                    self.step = len(self.steps) - 1
                    self.verdict = "promoted"
        return self.steps[self.step] / 100.0
        # END SOLUTION
