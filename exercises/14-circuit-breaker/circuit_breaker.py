"""A circuit breaker: stop calling a dependency that keeps failing, and notice when it is back.

Without one, every request waits out a full timeout on a database or provider that is down,
the app's workers pile up behind those waits, and the whole shop slows to a crawl. A breaker
counts failures in a row; past a threshold it *opens* and refuses calls at once, for a
cool-down, and then lets a single trial call find out whether the dependency has recovered.

    closed --(threshold failures in a row)--> open --(cool-down over)--> half_open
    half_open --(trial succeeds)--> closed        half_open --(trial fails)--> open
"""

from __future__ import annotations


class CircuitBreaker:
    """A breaker in front of one dependency.

    The sandbox asks `allow(now_ms)` before every call to the dependency; when it says False
    the call is not made and the request fails fast (503). After a call that was allowed, the
    sandbox reports how it went with `record_success(now_ms)` or `record_failure(now_ms)`.
    Every `now_ms` is the sandbox's simulated time in milliseconds: use it, never the wall
    clock.

    Args:
        threshold: failures in a row that open the breaker.
        reset_ms: how long it stays open before it lets a trial call through.
    """

    def __init__(self, threshold: int, reset_ms: float) -> None:
        self.threshold = threshold
        self.reset_ms = reset_ms
        self.state = "closed"  # "closed", "open" or "half_open"
        self.failures = 0  # failures in a row
        self.opened_at = 0.0  # when it last opened (simulated ms)
        self.trial_out = False  # half-open: the one trial call has been let through

    def allow(self, now_ms: float) -> bool:
        """May a call go to the dependency now? (True lets it through; False: fail fast.)"""
        # TODO: open and the cool-down (reset_ms since opened_at) is over: become half_open
        # TODO: half_open: let exactly one trial call through; refuse the rest until it reports
        # TODO: closed lets everything through; open refuses everything
        raise NotImplementedError("not written yet: see the TODO above")

    def record_success(self, now_ms: float) -> None:
        """The call went through and worked."""
        # TODO: a success closes the breaker and clears the count of failures in a row
        raise NotImplementedError("not written yet: see the TODO above")

    def record_failure(self, now_ms: float) -> None:
        """The call failed or timed out."""
        # TODO: count it; at `threshold` failures in a row, or when the trial call failed,
        # TODO: open (again), remembering when, so that the cool-down starts from now
        raise NotImplementedError("not written yet: see the TODO above")
