"""Hidden tests: the newest write counts; every choice of a steady run against a correct router."""

from __future__ import annotations

from types import ModuleType

import pytest

from sandbox.grading.harness import scenario
from sandbox.grading.plugin import sibling

visible = sibling(__file__, "test_replica_router.py")


@pytest.mark.points(1)
def test_the_newest_write_counts_and_reads_do_not_extend_it(student: ModuleType) -> None:
    """Writes answered at 1,000 and 1,300 ms (lag 500): primary until 1,800 ms; an answered
    GET changes nothing."""
    r = student.ReplicaRouter(500.0)
    r.answered("client-7", "POST", 1000.0)
    r.answered("client-7", "PATCH", 1300.0)
    r.answered("client-7", "GET", 1700.0)
    got = [r.choose("client-7", "GET", now) for now in (1799.0, 1800.0, 2100.0)]
    assert got == ["primary", "replica", "replica"], (
        "the newest write was answered at 1300 ms (lag 500): primary until 1800 ms, then the "
        f"replica; a GET answered later does not extend it. Your router said {got}")


@pytest.mark.points(3)
def test_every_choice_of_a_steady_run(student: ModuleType) -> None:
    """Lag 300 ms, seed 3: every choice, replayed in order, is what read-your-writes routing
    decides."""
    lag = 300.0
    sb, events = visible.with_router(student, {"db.replica_lag_ms": lag}, seed=3)
    scenario(sb, "steady", requests=800, warmup=0)
    last_write: dict[str, float] = {}
    chosen = 0
    for call, client, method, now, route in events:
        write = method not in ("GET", "HEAD")
        if call == "answered":
            if write:
                last_write[client] = max(now, last_write.get(client, now))
            continue
        chosen += 1
        recent = client in last_write and now - last_write[client] < lag
        want = "primary" if write or recent else "replica"
        assert route == want, (f"choice {chosen}: {method} from {client} at {now:.1f} ms "
                               f"should go to the {want}; yours said {route!r}")
    assert chosen == 800, "the router chooses once per request that reaches an instance"
