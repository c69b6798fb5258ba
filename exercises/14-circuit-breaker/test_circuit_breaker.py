"""Graded tests for the circuit breaker: its states with a made-up clock, then in front of a
hung database in the sandbox."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from sandbox.grading.harness import make_sandbox, scenario


def breaker(student: ModuleType, threshold: int = 3, reset_ms: float = 1000.0) -> Any:
    return student.CircuitBreaker(threshold, reset_ms)


def opened_at(student: ModuleType, now_ms: float, threshold: int = 3,
              reset_ms: float = 1000.0) -> Any:
    """A breaker that has just opened at `now_ms` after `threshold` failures in a row."""
    b = breaker(student, threshold, reset_ms)
    for _ in range(threshold):
        assert b.allow(now_ms) is True, "a closed breaker lets calls through"
        b.record_failure(now_ms)
    assert b.state == "open", (f"after {threshold} failures in a row (the threshold) the state "
                               f"must be 'open'; it is {b.state!r}")
    return b


@pytest.mark.points(1)
def test_a_new_breaker_is_closed_and_lets_calls_through(student: ModuleType) -> None:
    """A new breaker is 'closed', and a closed breaker allows every call."""
    b = breaker(student)
    assert b.state == "closed", f"a new breaker starts 'closed'; yours is {b.state!r}"
    answers = [b.allow(t) for t in (0.0, 1.0, 2.0)]
    assert answers == [True, True, True], f"closed: allow() says True every time; got {answers}"


@pytest.mark.points(2)
def test_it_opens_after_threshold_failures_in_a_row(student: ModuleType) -> None:
    """Threshold 3: two failures keep it closed, a success clears the count, three open it."""
    b = breaker(student, threshold=3)
    b.record_failure(10.0)
    b.record_failure(20.0)
    assert b.state == "closed" and b.allow(30.0) is True, (
        f"two failures are below the threshold of 3: still closed; state {b.state!r}")
    b.record_success(40.0)
    b.record_failure(50.0)
    b.record_failure(60.0)
    assert b.state == "closed", (
        "a success in between resets the count: fail, fail, success, fail, fail is only two "
        f"failures in a row, so the breaker stays closed; yours is {b.state!r}")
    b.record_failure(70.0)
    assert b.state == "open", f"three failures in a row open the breaker; yours is {b.state!r}"
    assert b.allow(70.0) is False, "an open breaker refuses calls: allow() says False"


@pytest.mark.points(2)
def test_open_fails_fast_until_the_cool_down_is_over(student: ModuleType) -> None:
    """Opened at 5,000 ms with a 1,000 ms cool-down: refused until 6,000 ms, then a trial."""
    b = opened_at(student, 5000.0, reset_ms=1000.0)
    for now in (5000.0, 5500.0, 5999.5):
        assert b.allow(now) is False, (f"opened at 5000 ms with reset_ms 1000: at {now:g} ms the "
                                       "cool-down is not over, so allow() must say False")
    assert b.allow(6000.0) is True, "at 6000 ms the cool-down is over: let a trial call through"
    assert b.state == "half_open", f"letting the trial through, the state is 'half_open'; "\
        f"yours is {b.state!r}"


@pytest.mark.points(2)
def test_half_open_lets_only_one_trial_through(student: ModuleType) -> None:
    """Half-open: the first call is the trial; others are refused until it reports back."""
    b = opened_at(student, 0.0, reset_ms=1000.0)
    answers = [b.allow(t) for t in (1000.0, 1001.0, 1002.0)]
    assert answers == [True, False, False], (
        "after the cool-down one trial call goes through and the next ones are refused until "
        f"its result is known: expected [True, False, False], got {answers}")


@pytest.mark.points(2)
def test_a_good_trial_closes_it_and_a_bad_one_reopens_it(student: ModuleType) -> None:
    """Trial fails at 1,010 ms: open again until 2,010 ms. Next trial works: closed, count reset."""
    b = opened_at(student, 0.0, threshold=3, reset_ms=1000.0)
    assert b.allow(1000.0) is True
    b.record_failure(1010.0)
    assert b.state == "open", f"a failed trial opens the breaker again; yours is {b.state!r}"
    assert b.allow(1500.0) is False and b.allow(2009.0) is False, (
        "the new cool-down counts from the failed trial (1010 ms): still refused at 2009 ms")
    assert b.allow(2010.0) is True, "at 2010 ms the second cool-down is over: another trial"
    b.record_success(2020.0)
    assert b.state == "closed", f"a successful trial closes the breaker; yours is {b.state!r}"
    b.record_failure(2030.0)
    b.record_failure(2040.0)
    assert b.state == "closed" and b.allow(2050.0) is True, (
        "closing clears the count of failures: two new failures are below the threshold")


# -- in the sandbox ---------------------------------------------------------------------------

HUNG_DB = {"faults.hop": "db", "faults.hop_latency_ms": 5000, "resilience.timeout_ms": 300,
           "resilience.breaker": True, "resilience.breaker_threshold": 5,
           "resilience.breaker_reset_s": 0.5}


@dataclass
class Call:
    """One call the sandbox made to the student's breaker."""

    breaker: object  # which breaker (the database's, the e-mail provider's)
    method: str  # "allow", "record_success" or "record_failure"
    now_ms: float
    answer: bool | None  # allow's answer
    state: str  # the state afterwards


def record_calls(sb: Any) -> list[Call]:
    """Record every call to every breaker the sandbox makes from the student's class."""
    calls: list[Call] = []
    factory = sb.plugs["breaker"]
    make = factory.cls

    def recording_class(threshold: int, reset_ms: float) -> Any:
        impl = make(threshold, reset_ms)
        for name in ("allow", "record_success", "record_failure"):
            real = getattr(impl, name)

            def wrapped(now_ms: float, real: Any = real, name: str = name) -> Any:
                answer = real(now_ms)
                calls.append(Call(impl, name, now_ms, answer if name == "allow" else None,
                                  str(getattr(impl, "state", "?"))))
                return answer

            setattr(impl, name, wrapped)
        return impl

    factory.cls = recording_class
    return calls


def hung_then_back(student: ModuleType, switches: dict[str, object], requests: int,
                   seed: int = 7) -> tuple[dict[str, Any], dict[str, Any], list[Call], int]:
    """`steady` while the database hangs, then `steady` again once it is back. Returns both
    runs' metrics, every call to the database's breaker, and how many came in the first run."""
    sb = make_sandbox({**HUNG_DB, **switches}, plug=("breaker", student), seed=seed)
    calls = record_calls(sb)
    hung = scenario(sb, "steady", requests=requests, warmup=0)
    during = len(calls)
    sb.apply(sb.settings.replace({"faults.hop": "none"}))
    back = scenario(sb, "steady", requests=requests, warmup=0)
    guard = sb.db.guard.breaker.impl if sb.db.guard and sb.db.guard.breaker else None
    mine = [i for i, c in enumerate(calls) if c.breaker is guard]
    return hung, back, [calls[i] for i in mine], sum(1 for i in mine if i < during)


@pytest.mark.points(6)
def test_a_hung_database_fails_fast_then_recovers(student: ModuleType) -> None:
    """The database hangs (every call times out after 300 ms): with your breaker requests fail
    fast and the database is hardly called. When it is back, the breaker closes again."""
    hung, back, calls, during = hung_then_back(student, {}, 400)
    tried = sum(1 for c in calls[:during] if c.method == "allow" and c.answer)
    p50 = hung["latency_ms"]["p50"]
    assert p50 < 50, (
        f"while the database hangs, the median request took {p50} ms: an open breaker should "
        "refuse calls at once instead of waiting out the 300 ms timeout every time")
    assert tried <= 12, (
        f"your breaker let {tried} calls through to a database that was down for about "
        f"{hung['duration_s']} s: threshold 5, then one trial per 0.5 s cool-down")
    last = back["timeline"][-1]
    assert calls and calls[-1].state == "closed", (
        "after the database came back, your breaker should have closed after a good trial; "
        f"it ended {calls[-1].state if calls else 'never called'!r}")
    assert last["errors"] == 0, (
        f"once the database is back and the breaker has closed, requests succeed; in the last "
        f"second of the run {last['errors']} of {last['requests']} failed")
