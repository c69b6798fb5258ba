"""Rolling restarts and readiness: replacing every instance, one at a time, while traffic flows.

A deploy (`deploy.rolling_restart=on`) restarts the instances in turn. Each one goes through

    serving -> draining -> stopped -> starting -> serving

Draining: it has been told to stop, and keeps answering for `deploy.drain_s` so that nothing
already sent to it is lost. Stopped: the old process has exited; nothing listens. Starting: the
new process runs, but for `deploy.warmup_s` it cannot serve yet (cold caches, migrations).

The balancer only learns about these phases through its health check, every
`lb.health_check_s`. If it asks just "is the process there?" (liveness), it keeps sending
requests to a draining instance until it has gone (502s) and sends them to a starting one too
early (503s). If it asks "are you ready?" (`deploy.readiness_check=on`), it takes a draining
instance out before it exits and lets a new one in only once it is warm: a deploy nobody
notices, as long as the drain lasts longer than the gap between two health checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

RESTART_MS = 500.0  # from the old process exiting to the new one running
ROLLOUT_START_MS = 1000.0  # a rolling restart begins this long after the settings apply

Phase = Literal["serving", "draining", "stopped", "starting"]


@dataclass(frozen=True)
class InstanceStatus:
    """What an instance can tell about itself when the balancer asks whether it is ready."""

    name: str
    started_ms: float  # when its process last started (-inf: long before the run)
    warmup_ms: float  # how long it needs after starting before it can serve
    draining: bool  # told to shut down: finishing its work, about to exit
    ping_database: Callable[[], bool]  # runs a trivial query: True if the database answers


ReadinessCheck = Callable[[InstanceStatus, float], tuple[bool, str]]
"""Decides whether an instance should get traffic at `now_ms`: (ready, reason when not)."""


def check_readiness(instance: InstanceStatus, now_ms: float) -> tuple[bool, str]:
    """The sandbox's own readiness check: the cheap, local questions first, the database last."""
    if instance.draining:
        return False, "draining: shutting down"
    if now_ms - instance.started_ms < instance.warmup_ms:
        return False, "starting: still warming up"
    if not instance.ping_database():
        return False, "the database is not answering"
    return True, "ready"


@dataclass(frozen=True)
class RollingRestart:
    """When each instance is restarted: one after another, the next once the last is warm.

    Args:
        start_ms: when the first instance starts draining.
        drain_ms: how long a stopping instance keeps serving.
        warmup_ms: how long a new process needs before it can serve.
    """

    start_ms: float
    drain_ms: float
    warmup_ms: float

    @property
    def step_ms(self) -> float:
        return self.drain_ms + RESTART_MS + self.warmup_ms

    def phase(self, index: int, now_ms: float) -> tuple[Phase, float]:
        """Instance `index`'s phase at `now_ms`, and when its current process started."""
        drain_at = self.start_ms + index * self.step_ms
        started_at = drain_at + self.drain_ms + RESTART_MS
        if now_ms < drain_at:
            return "serving", float("-inf")
        if now_ms < drain_at + self.drain_ms:
            return "draining", float("-inf")
        if now_ms < started_at:
            return "stopped", float("-inf")
        if now_ms < started_at + self.warmup_ms:
            return "starting", started_at
        return "serving", started_at
