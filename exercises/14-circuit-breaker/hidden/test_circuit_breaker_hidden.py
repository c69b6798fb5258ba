"""Hidden tests: every decision against a correct breaker; a hanging e-mail provider."""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

import pytest

from sandbox.backend.demo import DEMO_PASSWORD
from sandbox.grading.harness import make_sandbox
from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_circuit_breaker.py")


class ReferenceBreaker:
    """A correct breaker, to replay the sandbox's calls through."""

    def __init__(self, threshold: int, reset_ms: float) -> None:
        self.threshold, self.reset_ms = threshold, reset_ms
        self.state, self.failures, self.opened_at, self.trial_out = "closed", 0, 0.0, False

    def allow(self, now_ms: float) -> bool:
        if self.state == "open" and now_ms - self.opened_at >= self.reset_ms:
            self.state, self.trial_out = "half_open", False
        if self.state == "half_open":
            if self.trial_out:
                return False
            self.trial_out = True
            return True
        return self.state == "closed"

    def record_success(self, now_ms: float) -> None:
        self.state, self.failures, self.trial_out = "closed", 0, False

    def record_failure(self, now_ms: float) -> None:
        self.failures += 1
        self.trial_out = False
        if self.state == "half_open" or self.failures >= self.threshold:
            self.state, self.opened_at = "open", now_ms


@pytest.mark.points(4)
def test_every_decision_matches_a_correct_breaker(student: ModuleType) -> None:
    """Threshold 3, a 0.3 s cool-down: each allow() answer and each state as a correct
    breaker's, call for call, through a hang and a recovery."""
    switches = {"resilience.breaker_threshold": 3, "resilience.breaker_reset_s": 0.3}
    _, _, calls, _ = visible.hung_then_back(student, switches, 300, seed=3)
    ref = ReferenceBreaker(3, 300.0)
    for i, call in enumerate(calls):
        answer = getattr(ref, call.method)(call.now_ms)
        want = answer if call.method == "allow" else None
        assert (call.answer, call.state) == (want, ref.state), (
            f"call {i} of {len(calls)}, {call.method}({call.now_ms:.1f}): a correct breaker "
            f"answers {want} and is then {ref.state!r}; yours answered {call.answer} and is "
            f"{call.state!r}")
    assert any(c.state == "half_open" for c in calls), "the run must reach half_open"


def place_orders(sb: Any, count: int) -> list[tuple[int, str, float]]:
    """Grace places `count` orders one after another: (status, confirmation, duration ms)."""

    async def go() -> list[tuple[int, str, float]]:
        async with sb.client() as client:
            login = await client.post("/auth/login", json={"email": "grace@shop.test",
                                                           "password": DEMO_PASSWORD})
            headers = {"Authorization": "Bearer " + login.json()["access_token"]}
            out = []
            for i in range(count):
                r = await client.post("/orders", headers=headers,
                                      json={"items": [{"product_id": 3 + i, "quantity": 1}]})
                out.append((r.status_code, r.json().get("confirmation", ""),
                            r.extensions["sandbox.trace"].duration_ms))
            return out

    return asyncio.run(go())


@pytest.mark.points(3)
def test_a_hanging_email_provider_does_not_slow_orders(student: ModuleType) -> None:
    """The e-mail provider hangs: after 3 timeouts your breaker opens, orders are taken at
    once (their e-mail queued); once it is back, a trial succeeds and e-mail is sent again."""
    sb = make_sandbox({"faults.hop": "email", "faults.hop_latency_ms": 10_000,
                       "resilience.timeout_ms": 500, "resilience.breaker": True,
                       "resilience.breaker_threshold": 3, "resilience.breaker_reset_s": 2},
                      plug=("breaker", student))
    orders = place_orders(sb, 10)
    assert all(status == 201 for status, _, _ in orders), f"every order is taken: {orders}"
    slow = [round(ms) for _, _, ms in orders[3:]]
    assert max(slow) < 100, (f"after three timeouts the breaker is open and orders should not "
                             f"wait for the e-mail provider; they took {slow} ms")
    sb.apply(sb.settings.replace({"faults.hop": "none"}))
    sb.clock.advance(2000)
    status, confirmation, _ = place_orders(sb, 1)[0]
    assert (status, confirmation) == (201, "sent"), (
        "the provider is back and the cool-down is over: the trial call succeeds and the "
        f"order's e-mail is sent at once; got {status} with confirmation {confirmation!r}")
