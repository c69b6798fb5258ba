"""The simulated clock: the only source of time for every mechanism in the sandbox.

Nothing in the sandbox reads the wall clock to decide behaviour (TTLs, rate-limit windows,
token expiry, retries). Time moves only when the sandbox moves it, so every run with the same
seed and settings gives the same numbers.
"""

from __future__ import annotations


class SimClock:
    """Milliseconds of simulated time since the sandbox started.

    Args:
        start_ms: where the clock starts.
    """

    __slots__ = ("now_ms",)

    def __init__(self, start_ms: float = 0.0) -> None:
        self.now_ms = start_ms

    def now_s(self) -> float:
        """The current simulated time in seconds."""
        return self.now_ms / 1000.0

    def advance(self, ms: float) -> None:
        """Move time forward by `ms` milliseconds (work being done, a hop being crossed)."""
        if ms < 0:
            raise ValueError(f"the clock only moves forward, not by {ms} ms")
        self.now_ms += ms

    def jump_to(self, ms: float) -> None:
        """Set the time, for example to the moment a simulated request arrives."""
        self.now_ms = ms
