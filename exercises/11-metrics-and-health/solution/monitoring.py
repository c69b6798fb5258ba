"""Monitoring: the numbers that say how a backend is doing, and an alert that watches them.

Three numbers describe a service from the outside: its *rate* (requests), its *errors*, and
its *duration* (latency). Latency is told in percentiles, not averages: p95 is the time that
95% of requests beat, and the other 5% are the customers who notice. An alert turns a number
into a decision, "wake someone up": here, too large a share of failing requests over the last
few seconds.
"""

from __future__ import annotations

from collections import deque


class Metrics:
    """Counts what happened to every request. The sandbox calls `record` once per request."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.status_classes: dict[str, int] = {}  # "2xx" -> how many, "5xx" -> ...

    def record(self, status: int, latency_ms: float) -> None:
        """One request finished with HTTP `status` after `latency_ms` milliseconds."""
        # BEGIN SOLUTION
        # TODO: keep the latency, and count the status in its class: 201 -> "2xx", 404 -> "4xx"
        self.latencies.append(latency_ms)
        group = f"{status // 100}xx"
        self.status_classes[group] = self.status_classes.get(group, 0) + 1
        # END SOLUTION

    def requests(self) -> int:
        """How many requests were recorded."""
        # BEGIN SOLUTION
        # TODO: how many requests has record() seen?
        return len(self.latencies)
        # END SOLUTION

    def by_class(self) -> dict[str, int]:
        """Requests per status class, only the classes seen: {"2xx": 950, "5xx": 50}."""
        # BEGIN SOLUTION
        # TODO: a copy of your counts per class
        return dict(self.status_classes)
        # END SOLUTION

    def error_rate(self) -> float:
        """The share of requests that failed on the server's side (5xx): 0.0 to 1.0."""
        # BEGIN SOLUTION
        # TODO: 5xx requests divided by all requests; 0.0 when nothing was recorded yet
        total = self.requests()
        return self.status_classes.get("5xx", 0) / total if total else 0.0
        # END SOLUTION

    def percentile(self, p: float) -> float:
        """The nearest-rank `p`th percentile of the latencies (0.0 when there are none).

        Sort the latencies; the answer is the one at rank ceil(p / 100 * n), counting from 1:
        the smallest latency that at least p% of the requests did not exceed.
        """
        # BEGIN SOLUTION
        # TODO: sort, find the rank (math.ceil), and return the latency at that rank (from 1!)
        import math

        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(p / 100 * len(ordered)))
        return ordered[rank - 1]
        # END SOLUTION


class ErrorRateAlert:
    """Fires while more than `threshold` of the recent requests failed.

    "Recent" means the last `window_ms` milliseconds: at `now_ms`, a request recorded at time t
    counts when now_ms - t < window_ms. With fewer than `min_requests` recent requests the
    alert stays quiet: one failure out of two requests is not an outage.

    Args:
        threshold: the share of failures (5xx) above which it fires, for example 0.05.
        window_ms: how far back it looks, in simulated milliseconds.
        min_requests: how many recent requests it needs before it judges at all.
    """

    def __init__(self, threshold: float, window_ms: float, min_requests: int) -> None:
        self.threshold = threshold
        self.window_ms = window_ms
        self.min_requests = min_requests
        self.recent: deque[tuple[float, bool]] = deque()  # (time, failed?), oldest first
        self.recent_failures = 0  # how many of `recent` failed

    def record(self, status: int, now_ms: float) -> None:
        """A request finished at `now_ms` with HTTP `status` (times only move forward)."""
        # BEGIN SOLUTION
        # TODO: remember when it happened and whether it failed (a 5xx)
        failed = status >= 500
        self.recent.append((now_ms, failed))
        self.recent_failures += failed
        # END SOLUTION

    def firing(self, now_ms: float) -> bool:
        """Is the alert firing at `now_ms`?"""
        # BEGIN SOLUTION
        # TODO: forget requests that are out of the window (now_ms - t >= window_ms)
        # TODO: fire when there are at least min_requests and failures / requests > threshold
        while self.recent and now_ms - self.recent[0][0] >= self.window_ms:
            _, failed = self.recent.popleft()
            self.recent_failures -= failed
        count = len(self.recent)
        return count >= self.min_requests and self.recent_failures / count > self.threshold
        # END SOLUTION
