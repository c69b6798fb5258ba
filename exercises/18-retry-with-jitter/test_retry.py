"""Graded tests for retries: backoff with jitter, the budget, what is retried, then a storm."""

from __future__ import annotations

import random
from types import ModuleType
from typing import Any

import pytest

from sandbox.grading.harness import make_sandbox, scenario
from sandbox.plugs import install


def retrier(student: ModuleType, max_attempts: int = 4, base_ms: float = 10.0,
            cap_ms: float = 80.0, seed: int = 5, per_retry: int = 10,
            banked: int = 10) -> tuple[Any, Any]:
    budget = student.RetryBudget(per_retry, banked)
    return student.Retrier(max_attempts, base_ms, cap_ms, budget, random.Random(seed)), budget


class Script:
    """A dependency that answers the outcomes it is given, in order, and records the waits."""

    def __init__(self, *outcomes: str) -> None:
        self.outcomes = list(outcomes)
        self.tries = 0
        self.waits: list[float] = []

    def attempt(self) -> str:
        self.tries += 1
        return self.outcomes.pop(0) if self.outcomes else "ok"

    def wait(self, ms: float) -> None:
        self.waits.append(ms)


def earn(budget: Any, calls: int) -> None:
    for _ in range(calls):
        budget.record_call()


@pytest.mark.points(2)
def test_backoff_doubles_up_to_the_cap_with_full_jitter(student: ModuleType) -> None:
    """Waits are rng.random() times a ceiling of 10, 20, 40, 80, then 80 (the cap) ms."""
    mine, _ = retrier(student, seed=5)
    draws = random.Random(5)
    want = [draws.random() * ceiling for ceiling in (10, 20, 40, 80, 80, 80)]
    got = [mine.backoff_ms(retry) for retry in range(1, 7)]
    assert got == pytest.approx(want), (
        f"with base_ms=10, cap_ms=80 and random.Random(5), retries 1 to 6 should wait {want} "
        f"ms (one rng.random() per wait, times min(cap_ms, base_ms * 2 ** (retry - 1))); "
        f"yours waited {got}")


@pytest.mark.points(2)
def test_the_budget_allows_one_retry_per_ten_calls(student: ModuleType) -> None:
    """9 calls earn no retry, 10 earn one, 25 earn two; a refusal spends nothing."""
    budget = student.RetryBudget(10, 10)
    earn(budget, 9)
    assert budget.try_spend() is False, "9 calls have not earned a retry (one per 10 calls)"
    earn(budget, 1)
    assert budget.try_spend() is True, "10 calls have earned one retry"
    assert budget.try_spend() is False, "and only one"
    earn(budget, 25)
    spent = [budget.try_spend() for _ in range(4)]
    assert spent == [True, True, False, False], (
        f"25 more calls earn two retries (the refused try_spend before must not have cost "
        f"anything); try_spend gave {spent}")
    assert (budget.calls, budget.retries) == (35, 3), (
        f"35 calls and 3 retries were made; the budget counted {budget.calls} and "
        f"{budget.retries}")


@pytest.mark.points(2)
def test_only_failures_of_idempotent_calls_are_retried(student: ModuleType) -> None:
    """No retry for a write, a breaker's refusal, or past max_attempts; those spend no budget."""
    mine, budget = retrier(student, max_attempts=3)
    earn(budget, 100)  # ten retries in the bank
    assert mine.should_retry(1, "failed", False) is False, (
        "a write (idempotent=False) that failed or timed out may still have happened: never "
        "retry it blindly")
    assert mine.should_retry(1, "refused", True) is False, (
        "'refused' means the circuit breaker said no: retrying only knocks again")
    assert mine.should_retry(3, "timed_out", True) is False, (
        "3 attempts made with max_attempts=3: no more")
    assert budget.retries == 0, "a retry that was refused for another reason must not spend the budget"
    assert mine.should_retry(1, "timed_out", True) is True, "a timed-out read may be retried"
    assert mine.should_retry(2, "failed", True) is True, "and a failed one"
    assert budget.retries == 2, "each retry granted is paid from the budget"


@pytest.mark.points(2)
def test_run_tries_waits_and_tries_again(student: ModuleType) -> None:
    """run: failed, timed out, then ok: three tries, two jittered waits, True."""
    mine, budget = retrier(student, seed=9)
    earn(budget, 30)
    dependency = Script("failed", "timed_out", "ok")
    assert mine.run(dependency.attempt, True, dependency.wait) is True
    draws = random.Random(9)
    want = [draws.random() * 10, draws.random() * 20]
    assert dependency.tries == 3, f"two failures then ok is 3 tries; yours made {dependency.tries}"
    assert dependency.waits == pytest.approx(want), (
        f"wait(backoff_ms(1)) after the first failure and wait(backoff_ms(2)) after the second: "
        f"{want}; yours waited {dependency.waits}")
    write = Script("timed_out")
    assert mine.run(write.attempt, False, write.wait) is False
    assert (write.tries, write.waits) == (1, []), "a write that timed out is tried once, no wait"


def storm(student: ModuleType | None, error_rate: float, requests: int = 300) -> tuple[dict[str, Any], Any]:
    """`steady` traffic while the database fails `error_rate` of its calls, with 3 retries
    allowed; the student's retries in place of the sandbox's own."""
    sb = make_sandbox({"faults.hop": "db", "faults.hop_error_rate": error_rate,
                       "resilience.retries": 3, "resilience.retry_backoff_ms": 20})
    part = install(sb, "retry", student) if student else None
    metrics = scenario(sb, "steady", requests=requests, warmup=0)
    return metrics, part.by_dependency["db"] if part else None


@pytest.mark.points(5)
def test_the_budget_stops_a_retry_storm(student: ModuleType) -> None:
    """The database is down: your retries add at most a tenth to its load, not three times it."""
    _, db = storm(student, 1.0)
    assert db.calls >= 300, f"every request reaches the database; only {db.calls} calls ran"
    extra = db.tries - db.calls
    assert extra <= db.calls // 10, (
        f"{db.calls} calls to a database that is down made {db.tries} tries: {extra} retries. "
        f"Without a budget, with 3 retries each, it would be {db.calls * 4} tries; the budget "
        f"allows one retry per 10 calls, at most {db.calls // 10}")
    assert extra > 0, "the budget did earn some retries: use them"
    assert all(0 <= w <= 160 for w in db.waits_ms), f"waits must stay under the 160 ms cap: {db.waits_ms}"
    busy, db = storm(student, 0.3)
    assert busy["status"].get("201", 0) > 0, "the run must contain writes to mean anything"
    assert db.most_tries_of_a_write == 1, (
        f"a database write was tried {db.most_tries_of_a_write} times: a write that failed or "
        "timed out is not retried")
