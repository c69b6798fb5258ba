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

A deploy (`deploy.release=on`) ships a new version, v2, by one of three strategies:

- rolling: the restart above, each new process running v2;
- blue_green: a second, full set of instances starts on v2 beside the old set; once every one
  of them says it is ready, the router moves all traffic to it at once. The old set keeps
  running, so going back is one switch;
- canary: the same second set, but first only `deploy.canary_percent` of the traffic goes to
  it, for `deploy.canary_s`; then the rest.

`deploy.auto_rollback=on` sends traffic back to v1 when an alert fires: instantly for
blue_green and canary (flip the router back), one restart at a time for rolling (each v2
instance is rolled again, back to v1, with the same drain, restart and warm-up).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

RESTART_MS = 500.0  # from the old process exiting to the new one running
OLD, NEW = "v1", "v2"  # the version running before a deploy, and the one it ships

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
        phase, started, _ = process_at([(self.start_ms + index * self.step_ms, NEW)], now_ms,
                                       self.drain_ms, self.warmup_ms)
        return phase, started


Restart = tuple[float, str]  # (when the running process is told to drain, the version after)


def process_at(restarts: Sequence[Restart], now_ms: float, drain_ms: float, warmup_ms: float,
               ) -> tuple[Phase, float, str | None]:
    """One instance's phase at `now_ms` after the restarts scheduled for it (in time order):
    the phase, when its process started, and the version that process runs (None: none runs).
    """
    phase: Phase = "serving"
    started, version = float("-inf"), OLD
    for drain_at, next_version in restarts:
        if now_ms < drain_at:
            break
        if now_ms < drain_at + drain_ms:
            return "draining", started, version  # the old process, still answering
        started = drain_at + drain_ms + RESTART_MS
        if now_ms < started:
            return "stopped", float("-inf"), None
        version = next_version
        phase = "starting" if now_ms < started + warmup_ms else "serving"
    return phase, started, version


class TrafficController(Protocol):
    """Steers a canary deploy instead of the fixed `canary_percent` for `canary_s` (a plugged
    canary controller): it sees every answer and sets the new version's share."""

    def observe(self, now_ms: float, version: str, status: int, latency_ms: float) -> None:
        """One answered request: which version served it ("v1", "v2"), status, duration."""
        ...

    def share(self, now_ms: float) -> float:
        """The share of traffic (0 to 1) the new version gets now."""
        ...

    @property
    def verdict(self) -> str:
        """"watching" while steps remain, "promoted" at 100%, "rolled_back" once it gave up."""
        ...


@dataclass
class Rollout:
    """A release of v2 by one strategy, and its rollback: who runs what, who gets traffic.

    Args:
        strategy: "rolling", "blue_green" or "canary".
        count: instances in the old set (and in the new set, when there is one).
        start_ms: when the deploy begins.
        drain_ms, warmup_ms: as for a restart.
        canary_share: with canary, the share of traffic (0 to 1) the new set gets first.
        canary_ms: with canary, how long it gets only that share.
    """

    strategy: str
    count: int
    start_ms: float
    drain_ms: float
    warmup_ms: float
    canary_share: float = 0.1
    canary_ms: float = 3000.0
    switched_ms: float | None = None  # when traffic first moved to the new set
    rollback_ms: float | None = None  # when the rollback was ordered
    rolled_back_ms: float | None = None  # when no v2 process serves traffic any more
    restarts: list[list[Restart]] = field(default_factory=list)
    controller: TrafficController | None = None  # canary: steers the share when set
    promoted_ms: float | None = None  # with a controller: when it reached 100%

    def __post_init__(self) -> None:
        if self.rolling:
            self.restarts = [[(self.start_ms + i * self.step_ms, NEW)] for i in range(self.count)]

    @property
    def rolling(self) -> bool:
        return self.strategy == "rolling"

    @property
    def step_ms(self) -> float:
        return self.drain_ms + RESTART_MS + self.warmup_ms

    @property
    def new_set(self) -> int:
        """How many extra instances the strategy starts (blue_green, canary: a whole set)."""
        return 0 if self.rolling else self.count

    def old_process(self, index: int, now_ms: float) -> tuple[Phase, float, str | None]:
        """Old-set instance `index` at `now_ms`: phase, process start, version."""
        if not self.rolling:
            return "serving", float("-inf"), OLD  # left alone, kept for switching back
        return process_at(self.restarts[index], now_ms, self.drain_ms, self.warmup_ms)

    def new_process(self, now_ms: float) -> tuple[Phase, float, str | None]:
        """Any new-set instance at `now_ms`: all of them are launched when the deploy begins."""
        started = self.start_ms + RESTART_MS
        if now_ms < started:
            return "stopped", float("-inf"), None
        return ("starting" if now_ms < started + self.warmup_ms else "serving"), started, NEW

    def new_share(self, now_ms: float) -> float:
        """The share of traffic the router sends to the new set at `now_ms`."""
        if self.rollback_ms is not None or self.switched_ms is None:
            return 0.0
        if self.controller is not None:
            share = min(1.0, max(0.0, float(self.controller.share(now_ms))))
            verdict = self.controller.verdict
            if verdict == "rolled_back":
                self.rollback(now_ms)
                return 0.0
            if verdict == "promoted" and self.promoted_ms is None:
                self.promoted_ms = now_ms
            return share
        if self.strategy == "canary" and now_ms < self.switched_ms + self.canary_ms:
            return self.canary_share
        return 1.0

    def finished_ms(self) -> float | None:
        """When every request goes to v2 (None: not yet known, or rolled back)."""
        if self.rollback_ms is not None:
            return None
        if self.rolling:
            return self.start_ms + self.count * self.step_ms
        if self.switched_ms is None:
            return None
        if self.controller is not None:
            return self.promoted_ms
        return self.switched_ms + (self.canary_ms if self.strategy == "canary" else 0.0)

    def rollback(self, now_ms: float) -> None:
        """Go back to v1. With a second set the router just flips back. A rolling deploy stops
        where it is: no restart begins after the order, and a restart under way whose new
        process has not started yet brings v1 back instead; then every instance already running
        v2 is rolled back, one restart at a time."""
        if self.rollback_ms is not None:
            return
        self.rollback_ms = self.rolled_back_ms = now_ms
        if not self.rolling:
            return
        begun = [[r for r in restarts if r[0] <= now_ms] for restarts in self.restarts]
        on_new: list[int] = []  # instances whose v2 process has started
        for i, here in enumerate(begun):  # restarts not begun yet never happen now
            if here and here[-1][1] == NEW:
                drain_at = here[-1][0]
                if now_ms < drain_at + self.drain_ms + RESTART_MS:
                    here[-1] = (drain_at, OLD)  # v2 never starts here: the same restart, to v1
                else:
                    on_new.append(i)
        # One restart at a time, as the deploy itself went: not before the one under way ends.
        free_ms = max([now_ms] + [r[-1][0] + self.step_ms for r in begun if r])
        for i in on_new:
            # A v2 process that is still warming up is not killed half-started: it finishes
            # its restart, then drains and comes back as v1.
            at = max(free_ms, begun[i][-1][0] + self.step_ms)
            begun[i].append((at, OLD))
            free_ms = at + self.step_ms
            self.rolled_back_ms = max(self.rolled_back_ms, at + self.drain_ms)
        self.restarts = begun


def state_code(up: bool, draining: bool, warming: bool, version: str) -> str:
    """How the deploy timeline shows one instance: v1, v2; ~ draining, + warming up, -- gone."""
    if not up:
        return "--"
    return version + ("~" if draining else "+" if warming else "")


class DeployLog:
    """What happened during a deploy, counted request by request: who served (by version),
    what failed, and each instance's state per tick, for the second-by-second timeline."""

    def __init__(self, origin_ms: float, start_ms: float) -> None:
        self.origin_ms = origin_ms
        self.start_ms = start_ms
        self.requests: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self._seconds: dict[int, dict[str, Any]] = {}
        self._last_tick = -1
        self.alert_fired_ms: float | None = None

    def served(self, version: str, status: int, now_ms: float) -> None:
        """One answered request: `version` is what served it ("none": no process did)."""
        row = self._second(now_ms)
        row["served"][version] = row["served"].get(version, 0) + 1
        if status >= 500:
            row["errors"][version] = row["errors"].get(version, 0) + 1
        if now_ms >= self.start_ms:
            self.requests[version] += 1
            if status >= 500:
                self.errors[version] += 1

    def snapshot(self, now_ms: float, states: Sequence[tuple[str, str]]) -> None:
        """Each instance's state (name, code) once per tick; a second keeps each change."""
        tick = int(now_ms // 100)
        if tick == self._last_tick:
            return
        self._last_tick = tick
        row = self._second(now_ms)["states"]
        for name, code in states:
            seen = row.setdefault(name, [])
            if not seen or seen[-1] != code:
                seen.append(code)

    def _second(self, now_ms: float) -> dict[str, Any]:
        second = max(0, int((now_ms - self.origin_ms) // 1000))  # a request may start just before
        row = self._seconds.get(second)
        if row is None:
            row = self._seconds[second] = {"states": {}, "served": {}, "errors": {}}
        return row

    def timeline(self) -> list[dict[str, Any]]:
        """Per simulated second of the run: each instance's states in order ("v1~>--" is a
        draining v1 that exited), and the requests served and failed by version."""
        return [{"second": s, "instances": {k: ">".join(v) for k, v in row["states"].items()},
                 "served": dict(sorted(row["served"].items())),
                 "errors": dict(sorted(row["errors"].items()))}
                for s, row in sorted(self._seconds.items())]
