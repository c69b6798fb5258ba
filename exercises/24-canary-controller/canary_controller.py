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

# TODO: math.ceil will help with the rank
from collections import deque

VERSIONS = ("v1", "v2")  # the baseline and the canary


def p95(latencies: list[float]) -> float:
    """The 95th percentile by nearest rank: the value at rank ceil(0.95 * n) of the sorted
    list (ranks count from 1); 0.0 for an empty list."""
    # TODO: sort, find the rank, remember Python counts from 0
    raise NotImplementedError("not written yet: see the TODO above")


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
        # TODO: what else to remember? (when did this step start? since when has the alert held?)
        pass

    def observe(self, now_ms: float, version: str, status: int, latency_ms: float) -> None:
        """One answered request: `version` "v1" or "v2" served it with `status`."""
        # TODO: keep it in its version's window (ignore a version you do not know)
        raise NotImplementedError("not written yet: see the TODO above")

    def alert(self, now_ms: float) -> bool:
        """Does the alert condition hold now? (See the module docstring.)"""
        # TODO: drop what is older than window_ms from both windows first
        # TODO: too few canary requests: False; else compare error rates, then p95s
        raise NotImplementedError("not written yet: see the TODO above")

    def share(self, now_ms: float) -> float:
        """The canary's share of traffic now, 0.0 to 1.0; moves the deploy along. The first
        call starts the first step."""
        # TODO: once promoted or rolled back nothing changes: 1.0 or 0.0
        # TODO: check the alert: note when it started holding, roll back once it held hold_ms
        # TODO: a healthy step that has lasted step_ms moves to the next (the last: promoted)
        raise NotImplementedError("not written yet: see the TODO above")
