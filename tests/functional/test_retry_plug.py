"""The `retry` plug point (exercise retry-with-jitter) against a dishonest or broken Retrier:
more tries than allowed, waits that turn back the clock, answers that are not True."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from sandbox.grading.harness import make_sandbox, send
from sandbox.plugs import install
from sandbox.runtime import Sandbox


def plugged(run: Callable[..., Any]) -> tuple[Sandbox, Any]:
    class Retrier:
        def __init__(self, *args: Any) -> None:
            pass

        def run(self, attempt: Callable[[], str], idempotent: bool,
                wait: Callable[[float], None]) -> Any:
            return run(attempt, idempotent, wait)

    module = types.ModuleType("student_retry")
    module.Retrier = Retrier  # type: ignore[attr-defined]
    module.RetryBudget = lambda *args: None  # type: ignore[attr-defined]
    sb = make_sandbox({"faults.hop": "db", "faults.hop_error_rate": 1.0,
                       "resilience.retries": 2})
    return sb, install(sb, "retry", module)


def last_error(sb: Sandbox) -> str:
    return str([e for e in sb.ctx.log if e["level"] == "error"][-1]["exception"])


def test_more_tries_than_max_attempts_are_stopped() -> None:
    def run(attempt: Callable[[], str], idempotent: bool, wait: Callable[[float], None]) -> bool:
        while attempt() != "ok":
            pass
        return True

    sb, _ = plugged(run)
    assert send(sb, "GET", "/products/3").status_code == 500
    assert "max_attempts allows 3" in last_error(sb)


def test_a_negative_wait_cannot_turn_back_the_clock() -> None:
    def run(attempt: Callable[[], str], idempotent: bool, wait: Callable[[float], None]) -> bool:
        attempt()
        wait(-10_000.0)
        return attempt() == "ok"

    sb, _ = plugged(run)
    assert send(sb, "GET", "/products/3").status_code == 500
    assert "wait() takes milliseconds, 0 or more" in last_error(sb)


def test_only_true_counts_as_success() -> None:
    sb, part = plugged(lambda attempt, idempotent, wait: "yes")
    assert send(sb, "GET", "/products/3").status_code == 503  # gave up: the database is down
    db = part.by_dependency["db"]
    assert (db.calls, db.tries) == (1, 0)


def test_success_without_a_successful_try_is_not_believed() -> None:
    sb, _ = plugged(lambda attempt, idempotent, wait: True)  # never even tries
    assert send(sb, "GET", "/products/3").status_code == 503
    sb, _ = plugged(lambda attempt, idempotent, wait: attempt() != "ok" or True)
    assert send(sb, "GET", "/products/3").status_code == 503  # its only try failed
