"""Hidden tests: every share against a correct controller on mixed traffic, the window, and a
slow release in the sandbox."""

from __future__ import annotations

import math
import random
from collections import deque
from types import ModuleType

import pytest

from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_canary_controller.py")


class Reference:
    """A correct controller, to compare answers with."""

    def __init__(self, steps: list[float], step_ms: float, hold_ms: float, window_ms: float,
                 min_requests: int, error_margin: float, latency_ratio: float) -> None:
        self.steps, self.step_ms, self.hold_ms, self.window_ms = steps, step_ms, hold_ms, window_ms
        self.min_requests, self.margin, self.ratio = min_requests, error_margin, latency_ratio
        self.verdict, self.step, self.started, self.bad_since = "watching", 0, None, None
        self.recent: dict[str, deque[tuple[float, bool, float]]] = {"v1": deque(), "v2": deque()}

    def observe(self, now: float, version: str, status: int, latency: float) -> None:
        self.recent[version].append((now, status >= 500, latency))

    def alert(self, now: float) -> bool:
        for w in self.recent.values():
            while w and now - w[0][0] > self.window_ms:
                w.popleft()
        c, b = self.recent["v2"], self.recent["v1"]
        if len(c) < self.min_requests:
            return False
        rate = [sum(f for _, f, _ in w) / len(w) if w else 0.0 for w in (c, b)]
        if rate[0] > rate[1] + self.margin:
            return True

        def p95(w: deque[tuple[float, bool, float]]) -> float:
            s = sorted(x for _, _, x in w)
            return s[math.ceil(0.95 * len(s)) - 1] if s else 0.0

        return bool(b) and p95(c) > self.ratio * p95(b)

    def share(self, now: float) -> float:
        if self.verdict != "watching":
            return 0.0 if self.verdict == "rolled_back" else 1.0
        if self.started is None:
            self.started = now
        if self.alert(now):
            self.bad_since = now if self.bad_since is None else self.bad_since
            if now - self.bad_since >= self.hold_ms:
                self.verdict = "rolled_back"
                return 0.0
        else:
            self.bad_since = None
            if now - self.started >= self.step_ms:
                self.step, self.started = self.step + 1, now
                if self.step >= len(self.steps) - 1:
                    self.step, self.verdict = len(self.steps) - 1, "promoted"
        return self.steps[self.step] / 100.0


@pytest.mark.points(3)
def test_every_share_matches_a_correct_controller(student: ModuleType) -> None:
    """Bursty, noisy traffic with bad patches of varying length: each share() answer and the
    verdict as a correct controller's."""
    for seed in (1, 9):  # 1 climbs to 50% and is rolled back; 9 is promoted
        replay_against_reference(student, seed)


def replay_against_reference(student: ModuleType, seed: int) -> None:
    rng = random.Random(seed)
    options = {"window_ms": 400.0, "min_requests": 8, "error_margin": 0.1, "latency_ratio": 2.0}
    ctrl = visible.controller(student, 600.0, 300.0, **options)
    ref = Reference([5, 25, 50, 100], 600.0, 300.0, 400.0, 8, 0.1, 2.0)
    t, bad_until = 0.0, -1.0
    for i in range(500):
        t += rng.choice((3.0, 10.0, 25.0))
        if rng.random() < 0.01:
            bad_until = t + rng.choice((150.0, 450.0))
        want = ref.share(t)
        got = ctrl.share(t)
        assert got == want, (f"call {i} at {t} ms: a correct controller answers {want} "
                             f"({ref.verdict}); yours {got} ({ctrl.verdict})")
        for _ in range(rng.randrange(0, 3)):
            version = rng.choice(("v1", "v2"))
            broken = version == "v2" and t < bad_until
            status = 500 if broken and rng.random() < 0.5 else 200
            latency = rng.uniform(5, 15) * (3 if broken and rng.random() < 0.5 else 1)
            ref.observe(t, version, status, latency)
            ctrl.observe(t, version, status, latency)
    assert ctrl.verdict == ref.verdict


@pytest.mark.points(1)
def test_old_requests_leave_the_window(student: ModuleType) -> None:
    """Failures more than window_ms ago do not count: a canary that failed early and then
    served well for longer than the window is not rolled back."""
    ctrl = visible.controller(student, step_ms=10_000.0, hold_ms=2000.0, window_ms=500.0)
    visible.traffic(ctrl, 0.0, 1000.0, canary_error_every=2)
    visible.traffic(ctrl, 1000.0, 4000.0)
    assert ctrl.verdict == "watching", (
        f"failures older than the window must be forgotten; yours is {ctrl.verdict!r}")


@pytest.mark.points(3)
def test_a_slow_release_in_the_sandbox_is_rolled_back(student: ModuleType) -> None:
    """A release that adds 300 ms to each request: rolled back, and few requests saw v2."""
    report = visible.deploy(student, "slow", requests=1500, seed=3)
    assert report["rollback"] is not None, "a release 300 ms slower should be rolled back"
    assert report["requests_by_version"].get("v2", 0) < 150, (
        f"{report['requests_by_version']}: a rollback within a second or two at 5% should "
        "have kept v2 to a few dozen requests")
