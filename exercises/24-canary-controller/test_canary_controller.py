"""Graded tests for the canary controller: its steps and alert with made-up traffic on a
made-up clock, then a real canary deploy in the sandbox, healthy and broken."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from sandbox.grading.harness import make_sandbox, scenario

STEPS = [5, 25, 50, 100]


def controller(student: ModuleType, step_ms: float = 1000.0, hold_ms: float = 500.0,
               **options: Any) -> Any:
    return student.CanaryController(list(STEPS), step_ms, hold_ms, **options)


def traffic(ctrl: Any, start_ms: float, end_ms: float, canary_error_every: int = 0,
            canary_latency_ms: float = 10.0, every_ms: float = 10.0) -> list[tuple[float, float]]:
    """Every `every_ms`: ask share(), then one baseline and one canary request are answered
    (baseline: 200 in 10 ms; canary: every `canary_error_every`-th a 500, else 200, in
    `canary_latency_ms`). Returns each (time, share) answer."""
    answers = []
    t, n = start_ms, 0
    while t < end_ms:
        answers.append((t, ctrl.share(t)))
        n += 1
        ctrl.observe(t, "v1", 200, 10.0)
        failed = canary_error_every and n % canary_error_every == 0
        ctrl.observe(t, "v2", 500 if failed else 200, canary_latency_ms)
        t += every_ms
    return answers


def share_at(answers: list[tuple[float, float]], t: float) -> float:
    return next(s for at, s in answers if at >= t)


@pytest.mark.points(1)
def test_p95_is_the_nearest_rank(student: ModuleType) -> None:
    """p95 of 1..20 is 19, of 1..100 is 95, of [7.5] is 7.5, of [] is 0.0."""
    cases = [(list(range(20, 0, -1)), 19), (list(range(1, 101)), 95), ([7.5], 7.5), ([], 0.0)]
    for values, want in cases:
        got = student.p95(values)
        assert got == want, f"p95 of {len(values)} values should be {want}; yours {got}"


@pytest.mark.points(2)
def test_a_healthy_canary_climbs_every_step_to_100(student: ModuleType) -> None:
    """Canary as good as the baseline, 1 s steps from 10 s on: 5% until 11 s, then 25%, 50%,
    and 100% (promoted) at 13 s."""
    ctrl = controller(student)
    answers = traffic(ctrl, 10_000.0, 14_000.0)
    got = [share_at(answers, t) for t in (10_000, 10_990, 11_000, 12_000, 13_000, 13_990)]
    assert got == [0.05, 0.05, 0.25, 0.5, 1.0, 1.0], (
        "shares at 10.0, 10.99, 11.0, 12.0, 13.0 and 13.99 s should be [0.05, 0.05, 0.25, 0.5, "
        f"1.0, 1.0] (the first share() call starts the first step); yours {got}")
    assert ctrl.verdict == "promoted", f"at 100% the verdict is 'promoted'; yours {ctrl.verdict!r}"


@pytest.mark.points(3)
def test_a_failing_canary_is_rolled_back_after_hold_ms(student: ModuleType) -> None:
    """The canary fails one request in two: the alert holds from when 20 canary requests are
    in, and 500 ms later the controller rolls back, for good."""
    ctrl = controller(student, hold_ms=500.0)
    answers = traffic(ctrl, 0.0, 3000.0, canary_error_every=2)
    # The 20th canary answer arrives at 190 ms, so the alert holds from the share() at 200 ms.
    assert share_at(answers, 690.0) == 0.05, (
        "the alert has held only 490 ms at 690 ms: not yet (hold_ms is 500)")
    assert share_at(answers, 700.0) == 0.0 and ctrl.verdict == "rolled_back", (
        "the alert has held 500 ms at 700 ms: roll back (share 0.0, verdict 'rolled_back'); "
        f"yours: share {share_at(answers, 700.0)}, verdict {ctrl.verdict!r}")
    assert {s for t, s in answers if t >= 700.0} == {0.0}, "once rolled back, it stays at 0.0"


@pytest.mark.points(2)
def test_a_short_bad_patch_is_not_a_rollback(student: ModuleType) -> None:
    """Errors for 300 ms then none: the alert stops holding before hold_ms, nothing rolls back,
    and the step that was due waits until the canary is healthy again."""
    ctrl = controller(student, hold_ms=500.0, window_ms=200.0, min_requests=10)
    answers = traffic(ctrl, 0.0, 700.0)
    answers += traffic(ctrl, 700.0, 1000.0, canary_error_every=2)
    answers += traffic(ctrl, 1000.0, 2500.0)
    assert ctrl.verdict != "rolled_back", "a bad patch shorter than hold_ms must not roll back"
    assert share_at(answers, 1100.0) == 0.05, (
        "at 1 s the step is due, but the alert holds (the window still has failures until "
        "1.2 s): the canary stays at 5%")
    assert share_at(answers, 1500.0) == 0.25, (
        f"once healthy again it moves on to 25%; at 1.5 s yours is {share_at(answers, 1500.0)}")


@pytest.mark.points(2)
def test_a_slow_canary_is_rolled_back_too(student: ModuleType) -> None:
    """No errors, but the canary's p95 is 30 ms against the baseline's 10 ms (above 1.5 times):
    rolled back."""
    ctrl = controller(student)
    traffic(ctrl, 0.0, 2000.0, canary_latency_ms=30.0)
    assert ctrl.verdict == "rolled_back", (
        f"a canary three times slower than the baseline should be rolled back; {ctrl.verdict!r}")
    ok = controller(student)
    traffic(ok, 0.0, 2000.0, canary_latency_ms=14.0)
    assert ok.verdict != "rolled_back", "14 ms against 10 ms is within 1.5 times: no rollback"


# -- in the sandbox ---------------------------------------------------------------------------

CANARY = {"deploy.release": True, "deploy.strategy": "canary", "deploy.start_s": 0.5,
          "deploy.warmup_s": 0.5, "deploy.canary_s": 1.0}


def deploy(student: ModuleType | None, bad_release: str, requests: int = 1800,
           seed: int = 7) -> dict[str, Any]:
    """A canary deploy during `steady` traffic, with your controller (or the fixed 10% for
    1 s when `student` is None): the run's deploy report."""
    sb = make_sandbox({**CANARY, "deploy.bad_release": bad_release},
                      plug=("canary", student) if student is not None else None, seed=seed)
    report: dict[str, Any] = scenario(sb, "steady", requests=requests, warmup=0)["deploy"]
    return report


@pytest.mark.points(5)
def test_in_the_sandbox_good_goes_out_and_bad_comes_back(student: ModuleType) -> None:
    """A healthy release reaches 100% with your controller; a release that fails half its
    requests is rolled back, serving far fewer errors than a deploy without a controller."""
    good = deploy(student, "off")
    assert good["rollback"] is None and good["finished_at_s"] is not None, (
        "a healthy release must reach 100% without a rollback; yours: rollback "
        f"{good['rollback']}, finished at {good['finished_at_s']} s")
    bad = deploy(student, "errors")
    unguarded = deploy(None, "errors")
    assert bad["rollback"] is not None, "the broken release should have been rolled back"
    assert bad["errors"] * 5 < unguarded["errors"], (
        f"your controller let {bad['errors']} errors through; without a controller the "
        f"deploy served {unguarded['errors']}: a rollback should save at least four in five")
