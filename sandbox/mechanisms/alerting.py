"""Alert rules, evaluated in simulated time the way Prometheus evaluates `expr` with `for:`.

A rule watches one number over a sliding window of the last `window_s` seconds: the share of
requests answered with a 5xx (`error_rate`), or the 95th-percentile latency (`p95_ms`). It is
evaluated once per tick (a tenth of a simulated second). When the number crosses the threshold
the alert is *pending*; only if it stays over for `for_s` seconds does it *fire*. That wait is
the point of `for:`: a single slow request or one unlucky second pages nobody, a real outage
does. It *resolves* at the first evaluation where the number is back under the threshold.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from itertools import chain
from typing import Any, Literal

TICK_MS = 100  # one evaluation per tick, the same tick the run's metrics bucket requests by

RuleKind = Literal["error_rate", "p95_ms"]


@dataclass(frozen=True)
class AlertRule:
    """What is watched, over which window, and how long it must hold before it fires.

    Args:
        kind: "error_rate" (share of requests answered 5xx) or "p95_ms" (95th percentile).
        threshold: the alert's condition is `value > threshold`.
        window_s: the sliding window the value is computed over.
        for_s: how long the condition must hold before the alert fires (0: at once).
    """

    kind: RuleKind
    threshold: float
    window_s: float
    for_s: float

    def describe(self) -> str:
        over = (f"5xx share > {self.threshold:.1%}" if self.kind == "error_rate"
                else f"p95 > {self.threshold:g} ms")
        return f"{over} over {self.window_s:g} s, for {self.for_s:g} s"

    def value(self, window: deque[tuple[int, int, list[float]]]) -> float | None:
        """The watched number over the window's ticks (None when no request started in it)."""
        requests = sum(n for _, n, _ in window)
        if not requests:
            return None
        if self.kind == "error_rate":
            return sum(failed for failed, _, _ in window) / requests
        # chain joins the ticks' lists without a Python-level step per latency (this runs
        # once per tick for a whole window: thousands of values in a busy run).
        latencies = sorted(chain.from_iterable(tick for _, _, tick in window))
        return latencies[max(1, math.ceil(0.95 * len(latencies))) - 1]


class AlertEvaluator:
    """One rule's state as ticks go by: inactive, pending (since when), or firing.

    Args:
        rule: the rule evaluated.
        origin_ms: simulated time reported as second 0 (the start of the run).
    """

    def __init__(self, rule: AlertRule, origin_ms: float) -> None:
        self.rule = rule
        self.origin_ms = origin_ms
        self._ticks_in_window = max(1, round(rule.window_s * 1000 / TICK_MS))
        self._window: deque[tuple[int, int, list[float]]] = deque()
        self._pending_since: int | None = None  # the first tick the condition held
        self.firing = False
        self.firings: list[dict[str, float | None]] = []
        self.peak: float | None = None

    def _at_s(self, tick: int) -> float:
        """The evaluation at the end of `tick`, in seconds from the origin."""
        return round(((tick + 1) * TICK_MS - self.origin_ms) / 1000.0, 3)

    def evaluate(self, tick: int, failed: int, requests: int, latencies: list[float]) -> bool:
        """Take tick `tick`'s requests into the window and evaluate; True if it fires now.
        Call it for every tick in turn, empty ones too (time passes in them)."""
        window = self._window
        window.append((failed, requests, latencies))
        if len(window) > self._ticks_in_window:
            window.popleft()
        value = self.rule.value(window)
        if value is not None and (self.peak is None or value > self.peak):
            self.peak = value
        if value is None or value <= self.rule.threshold:
            self._pending_since = None
            if self.firing:  # back under: resolved at this evaluation
                self.firing = False
                self.firings[-1]["resolved_at_s"] = self._at_s(tick)
            return False
        if self._pending_since is None:
            self._pending_since = tick
        held_ms = (tick - self._pending_since) * TICK_MS
        if not self.firing and held_ms >= self.rule.for_s * 1000 - 1e-6:
            self.firing = True
            self.firings.append({"pending_at_s": self._at_s(self._pending_since),
                                 "fired_at_s": self._at_s(tick), "resolved_at_s": None})
            return True
        return False

    def report(self) -> dict[str, Any]:
        peak = self.peak
        if peak is not None:
            peak = round(peak, 4 if self.rule.kind == "error_rate" else 3)
        return {
            "rule": self.rule.describe(),
            "fired": bool(self.firings),
            "fired_at_s": self.firings[0]["fired_at_s"] if self.firings else None,
            "firings": self.firings,
            "peak": peak,
        }


class LiveAlert:
    """Feeds an evaluator request by request, as a monitoring agent sees them answered.

    A tick is evaluated once a request from a later tick arrives (requests come in the order
    they started), so each evaluation sees its whole tick, as the run's metrics count it: by
    arrival, each with its latency. (A real monitor learns a request's latency only when it is
    answered, so on requests that queue for seconds it fires somewhat later than this.)
    """

    def __init__(self, evaluator: AlertEvaluator) -> None:
        self.evaluator = evaluator
        self._tick: int | None = None
        self._failed = self._requests = 0
        self._latencies: list[float] = []

    def observe(self, start_ms: float, latency_ms: float, status: int) -> float | None:
        """Count one request (by when it arrived, as the run's metrics do); when this closes a
        tick on which the alert fired, the simulated time it fired at (the tick's end)."""
        tick = int(start_ms // TICK_MS)
        fired: float | None = None
        if self._tick is None:
            self._tick = tick
        while self._tick < tick:  # close the current tick, and any empty ones after it
            if self.evaluator.evaluate(self._tick, self._failed, self._requests,
                                       self._latencies):
                fired = float((self._tick + 1) * TICK_MS)
            self._tick += 1
            self._failed = self._requests = 0
            self._latencies = []
        self._requests += 1
        self._failed += status >= 500
        self._latencies.append(latency_ms)
        return fired
