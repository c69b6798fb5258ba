"""Hidden tests: a burst allowance and a slow window, through the sandbox."""

from __future__ import annotations

from types import ModuleType

import pytest

from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_token_bucket.py")


@pytest.mark.points(4)
def test_spike_with_burst_and_a_long_window(student: ModuleType) -> None:
    """A spike through the gateway with a burst of 3 and a 2 s window: every request is let
    through or refused exactly as a correct bucket would."""
    switches = {"ratelimit.algorithm": "token_bucket", "ratelimit.limit": 2,
                "ratelimit.window_s": 2.0, "ratelimit.burst": 3}
    _, calls, answers = visible.spike_through_gateway(student, switches, 400, seed=3)
    want = visible.reference_answers(calls, 2, 2.0, 3)
    assert want.count(False) > 0
    assert answers == want, "with a burst of 4 and a 2 s window, your bucket decides differently"
