"""Retries that help a struggling dependency instead of finishing it off.

Three rules, each against a way retries go wrong:

- **capped exponential backoff with full jitter**: wait longer after each failure, never
  longer than a cap, and pick the wait at random below that ceiling, so that a thousand
  clients that failed together do not all come back together;
- **a retry budget**: retries may add at most a small share to the load (one retry per
  `requests_per_retry` calls), so when a dependency is down, the clients do not multiply its
  traffic by the number of attempts (a retry storm);
- **only idempotent calls**: a write that timed out may have happened; doing it again could
  do it twice.
"""

from __future__ import annotations

import random
from collections.abc import Callable

RETRYABLE = ("failed", "timed_out")  # "refused": the circuit breaker said no; "ok": done


class RetryBudget:
    """Each call earns one credit; a retry costs `requests_per_retry` credits. Credits are
    whole numbers (no 0.1 + 0.1 + ... that never quite reaches 1.0), and at most
    `max_banked` retries' worth are kept, so a long quiet spell cannot pay for a storm.

    Args:
        requests_per_retry: calls needed to earn one retry (10: retries <= 10% of calls).
        max_banked: the most retries the budget can hold at once.
    """

    def __init__(self, requests_per_retry: int, max_banked: int) -> None:
        self.requests_per_retry = requests_per_retry
        self.max_banked = max_banked
        self.credits = 0
        self.calls = 0  # calls recorded so far
        self.retries = 0  # retries paid for so far

    def record_call(self) -> None:
        """A call is starting (its first attempt): earn a credit."""
        # BEGIN SOLUTION
        # TODO: count the call; one more credit, but never more than max_banked retries' worth
        self.calls += 1
        most = self.max_banked * self.requests_per_retry
        self.credits = min(most, self.credits + 1)
        # END SOLUTION

    def try_spend(self) -> bool:
        """May one retry go now? If so, pay for it and return True; otherwise False."""
        # BEGIN SOLUTION
        # TODO: enough credits for one retry -> take them, count the retry and say yes;
        # TODO: otherwise say no and take nothing
        if self.credits < self.requests_per_retry:
            return False
        self.credits -= self.requests_per_retry
        self.retries += 1
        return True
        # END SOLUTION


class Retrier:
    """Runs one call with retries.

    Args:
        max_attempts: the most tries a call may get, the first one included.
        base_ms: the backoff ceiling before the first retry; it doubles for each later one.
        cap_ms: the ceiling never exceeds this.
        budget: the RetryBudget this dependency's calls share.
        rng: a seeded random.Random: draw the jitter from it, nothing else.
    """

    def __init__(self, max_attempts: int, base_ms: float, cap_ms: float, budget: RetryBudget,
                 rng: random.Random) -> None:
        self.max_attempts = max_attempts
        self.base_ms = base_ms
        self.cap_ms = cap_ms
        self.budget = budget
        self.rng = rng

    def backoff_ms(self, retry: int) -> float:
        """How long to wait before retry number `retry` (1 for the first retry).

        The ceiling is base_ms * 2 ** (retry - 1), but at most cap_ms; the wait is
        `rng.random() * ceiling` ("full jitter": anywhere from 0 up to the ceiling). Draw
        exactly one random number per call.
        """
        # BEGIN SOLUTION
        # TODO: the ceiling doubles with each retry, up to cap_ms; the wait is a random share of it
        ceiling = min(self.cap_ms, self.base_ms * 2 ** (retry - 1))
        return self.rng.random() * ceiling
        # END SOLUTION

    def decorrelated_backoff_ms(self, previous_ms: float) -> float:
        """Another jitter, for comparison ("decorrelated"): each wait is drawn between base_ms
        and three times the previous wait (pass `base_ms` before the first retry), then capped:
        upper = max(base_ms, 3 * previous_ms);
        wait = min(cap_ms, base_ms + rng.random() * (upper - base_ms)). One draw."""
        # BEGIN SOLUTION
        # TODO: draw between base_ms and 3 x the previous wait, and cap it
        # Each wait grows from the last one actually drawn, not from the retry's number, so
        # clients that happened to wait long spread out further still.
        upper = max(self.base_ms, 3 * previous_ms)
        return min(self.cap_ms, self.base_ms + self.rng.random() * (upper - self.base_ms))
        # END SOLUTION

    def should_retry(self, attempts_made: int, outcome: str, idempotent: bool) -> bool:
        """After a try that answered `outcome`, with `attempts_made` tries made so far: try
        again? Only a failure or timeout of an idempotent call, with tries left, and only if
        the budget pays for it (ask the budget last: a refused retry must not spend it)."""
        # BEGIN SOLUTION
        # TODO: no for an outcome that is not retryable, a call that is not idempotent,
        # TODO: or when max_attempts tries have been made; otherwise ask the budget
        if outcome not in RETRYABLE:
            return False
        if not idempotent:
            return False  # a write that timed out may have been done: do not do it twice
        if attempts_made >= self.max_attempts:
            return False
        # Last: the budget is only spent on a retry that will really be made.
        return self.budget.try_spend()
        # END SOLUTION

    def run(self, attempt: Callable[[], str], idempotent: bool,
            wait: Callable[[float], None]) -> bool:
        """Make the call: `attempt()` is one try and answers "ok", "failed", "timed_out" or
        "refused". Between tries call `wait(backoff_ms(retry))`. Tell the budget about the
        call once, at the start. True once a try answered "ok"; False when you give up."""
        # BEGIN SOLUTION
        # TODO: record the call with the budget, then loop: try; "ok" -> True;
        # TODO: should_retry says no -> False; else wait the backoff and try again
        self.budget.record_call()
        attempts_made = 0
        while True:
            outcome = attempt()
            attempts_made += 1
            if outcome == "ok":
                return True
            if not self.should_retry(attempts_made, outcome, idempotent):
                return False
            wait(self.backoff_ms(attempts_made))
        # END SOLUTION
