"""Graded tests for the readiness check: first on its own, then during a rolling restart."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from sandbox.grading.harness import make_sandbox, scenario

LONG_AGO = float("-inf")


@dataclass
class FakeInstance:
    """Stands in for an app instance answering the balancer's readiness question."""

    name: str = "app-1"
    started_ms: float = LONG_AGO
    warmup_ms: float = 1500.0
    draining: bool = False
    database_up: bool = True
    pings: int = 0

    def ping_database(self) -> bool:
        self.pings += 1
        return self.database_up

    def __str__(self) -> str:
        started = "long ago" if self.started_ms == LONG_AGO else f"at {self.started_ms:g} ms"
        return (f"{self.name} (started {started}, warm-up {self.warmup_ms:g} ms, "
                f"{'draining' if self.draining else 'not draining'}, database "
                f"{'up' if self.database_up else 'DOWN'})")


def ask(student: ModuleType, instance: FakeInstance, now_ms: float) -> tuple[bool, str]:
    """The student's answer, checked to be a pair (ready, reason)."""
    answer = student.check_readiness(instance, now_ms)
    assert isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[0], bool), (
        f"check_readiness must return a pair (ready, reason), like (True, 'ready'); "
        f"it returned {answer!r}")
    return answer


def expect(student: ModuleType, instance: FakeInstance, now_ms: float, ready: bool) -> None:
    got, reason = ask(student, instance, now_ms)
    assert got is ready, (f"{instance}, asked at {now_ms:g} ms: it should be "
                          f"{'ready' if ready else 'NOT ready'}, your check said {got} "
                          f"({reason!r})")
    if not ready:
        assert isinstance(reason, str) and reason.strip(), (
            f"{instance}: not ready, so give a reason (a short string); yours was {reason!r}")


@pytest.mark.points(1)
def test_a_warm_instance_with_its_database_is_ready(student: ModuleType) -> None:
    """Long running, not draining, database up: ready."""
    expect(student, FakeInstance(), 5000.0, True)
    expect(student, FakeInstance(started_ms=1000.0), 9000.0, True)


@pytest.mark.points(2)
def test_not_ready_while_draining(student: ModuleType) -> None:
    """An instance told to shut down must leave the rotation before its process exits."""
    expect(student, FakeInstance(draining=True), 5000.0, False)
    expect(student, FakeInstance(draining=True, started_ms=0.0), 9000.0, False)


@pytest.mark.points(2)
def test_not_ready_until_warmed_up(student: ModuleType) -> None:
    """Started at 10,000 ms with a 1,500 ms warm-up: not ready before 11,500 ms, ready from then."""
    instance = FakeInstance(started_ms=10_000.0, warmup_ms=1500.0)
    for now, ready in ((10_000.0, False), (11_000.0, False), (11_499.5, False),
                       (11_500.0, True), (14_000.0, True)):
        expect(student, instance, now, ready)


@pytest.mark.points(2)
def test_not_ready_without_the_database(student: ModuleType) -> None:
    """An instance whose database does not answer cannot serve: ask it with ping_database()."""
    instance = FakeInstance(database_up=False)
    expect(student, instance, 5000.0, False)
    assert instance.pings >= 1, "call instance.ping_database() to find out whether it answers"


# -- in the sandbox ---------------------------------------------------------------------------

ROLLING = {"deploy.rolling_restart": True, "deploy.readiness_check": True,
           "lb.health_check_s": 0.5, "deploy.drain_s": 1.0, "deploy.warmup_s": 1.0}


def rolling_restart(student: ModuleType, switches: dict[str, object], requests: int,
                    seed: int = 7) -> tuple[dict[str, Any], list[tuple[float, str, bool]]]:
    """Run `steady` through a rolling restart with the student's readiness check plugged into
    the balancer's health check; returns the metrics and every answer (time, name, ready)."""
    sb = make_sandbox({**ROLLING, **switches}, plug=("readiness", student), seed=seed)
    part = sb.plugs["readiness"]
    answers: list[tuple[float, str, bool]] = []
    check = part.impl  # type: ignore[attr-defined]

    def recording_check(instance: Any, now_ms: float) -> Any:
        answer = check(instance, now_ms)
        answers.append((now_ms, instance.name, answer[0] if isinstance(answer, tuple) else answer))
        return answer

    part.impl = recording_check  # type: ignore[attr-defined]
    return scenario(sb, "steady", requests=requests, warmup=0), answers


def lost(metrics: dict[str, Any]) -> dict[str, int]:
    """The failed requests of a run, by status: 502 (sent to a stopped process) and 503."""
    return {code: n for code, n in metrics["status"].items() if code in ("502", "503")}


@pytest.mark.points(6)
def test_a_rolling_restart_loses_no_requests(student: ModuleType) -> None:
    """Both instances restart, one after the other, under steady traffic: with your check in
    the balancer's health check, not one request fails."""
    metrics, answers = rolling_restart(student, {}, 1800)
    for name in ("app-1", "app-2"):
        said = [ready for _, who, ready in answers if who == name]
        assert False in said, (
            f"{name} was restarted (drained, stopped, started, warmed up), yet your check "
            f"never said it was not ready ({len(said)} answers)")
    failed = lost(metrics)
    assert not failed, (
        f"requests failed during the rolling restart: {failed} (502: sent to an instance "
        "whose process had exited, so it was still in rotation while draining; 503: sent "
        "to an instance still warming up)")
    assert sum(metrics["instances"].values()) == 1800, "every request reached an instance"
