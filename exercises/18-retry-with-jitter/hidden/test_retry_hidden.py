"""Hidden tests: decorrelated jitter, a bank that cannot pay for a storm, and a flaky database."""

from __future__ import annotations

import random
from types import ModuleType

import pytest

from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_retry.py")


@pytest.mark.points(2)
def test_decorrelated_jitter(student: ModuleType) -> None:
    """Each wait is drawn between base_ms and 3 x the previous one, capped."""
    mine, _ = visible.retrier(student, base_ms=10.0, cap_ms=100.0, seed=3)
    draws, previous, want, got = random.Random(3), 10.0, [], []
    for _ in range(6):
        upper = max(10.0, 3 * previous)
        want.append(min(100.0, 10.0 + draws.random() * (upper - 10.0)))
        got.append(mine.decorrelated_backoff_ms(previous))
        previous = want[-1]
    assert got == pytest.approx(want), f"expected {want}; got {got}"


@pytest.mark.points(2)
def test_a_quiet_spell_cannot_pay_for_a_storm(student: ModuleType) -> None:
    """After 1,000 calls the bank holds max_banked (10) retries, not 100."""
    budget = student.RetryBudget(10, 10)
    visible.earn(budget, 1_000)
    granted = sum(budget.try_spend() for _ in range(50))
    assert granted == 10, f"max_banked=10: at most 10 retries at once; {granted} were granted"


@pytest.mark.points(3)
def test_a_flaky_database_is_ridden_out(student: ModuleType) -> None:
    """5% of database calls fail: your retries turn most of those 503s into answers."""
    with_retries, db = visible.storm(student, 0.05)
    failed = with_retries["status"].get("503", 0)
    assert db.tries > db.calls, "some calls failed and the budget had room: retry them"
    assert failed <= 5, f"{failed} requests still got a 503 with retries (about 22 without)"
    assert len(set(db.waits_ms)) == len(db.waits_ms) > 1, "full jitter: every wait is different"
