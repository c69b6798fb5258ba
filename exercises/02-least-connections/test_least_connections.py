"""Graded tests for the least-connections balancer: first on its own, then in the sandbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest

from sandbox.grading.harness import make_sandbox, scenario


@dataclass
class FakeInstance:
    """Stands in for an app instance: a name, alive or not, and a load (fixed or by time)."""

    name: str
    load: int | Callable[[float], int] = 0
    alive: bool = True
    asked: list[float] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"the instance {self.name} itself (return its index, not the instance)"

    def active(self, now_ms: float) -> int:
        self.asked.append(now_ms)
        return self.load(now_ms) if callable(self.load) else self.load


def fleet(*loads: int, dead: tuple[int, ...] = ()) -> list[FakeInstance]:
    """Instances app-1, app-2, ... with these loads; the indexes in `dead` are down."""
    return [FakeInstance(f"app-{i + 1}", load, alive=i not in dead) for i, load in enumerate(loads)]


def describe(instances: list[FakeInstance]) -> str:
    return ", ".join(f"{i}: {x.name} {'alive' if x.alive else 'DEAD'} with "
                     f"{x.load if not callable(x.load) else '?'} active"
                     for i, x in enumerate(instances))


def choose(student: ModuleType, instances: list[FakeInstance], now_ms: float = 1000.0) -> Any:
    return student.LeastConnections().choose(instances, "client-7", now_ms)


@pytest.mark.points(2)
def test_picks_the_least_busy_instance(student: ModuleType) -> None:
    """With loads 5, 2, 7 and 3, the request goes to the instance with 2 (index 1)."""
    for loads, want in (((5, 2, 7, 3), 1), ((4, 4, 4, 0), 3), ((0, 9), 0), ((6,), 0)):
        instances = fleet(*loads)
        got = choose(student, instances)
        assert got == want, (f"instances [{describe(instances)}]: the least busy is index {want}, "
                             f"your choose returned {got!r}")


@pytest.mark.points(2)
def test_skips_dead_instances(student: ModuleType) -> None:
    """A dead instance has no requests in flight, yet it must never be chosen."""
    instances = fleet(0, 3, 0, 1, dead=(0, 2))
    got = choose(student, instances)
    assert got == 3, (f"instances [{describe(instances)}]: indexes 0 and 2 are dead, so the "
                      f"least busy live one is index 3; your choose returned {got!r}")


@pytest.mark.points(2)
def test_ties_go_to_the_lowest_index(student: ModuleType) -> None:
    """When several live instances are equally busy, the first of them (lowest index) wins."""
    for loads, dead, want in (((2, 1, 1, 1), (), 1), ((0, 0, 0), (), 0), ((0, 4, 4), (0,), 1)):
        instances = fleet(*loads, dead=dead)
        got = choose(student, instances)
        assert got == want, (f"instances [{describe(instances)}]: on a tie the lowest index "
                             f"wins, {want}; your choose returned {got!r}")


@pytest.mark.points(1)
def test_none_when_no_instance_is_alive(student: ModuleType) -> None:
    """Every instance dead (or none at all): choose returns None, and the sandbox answers 503."""
    instances = fleet(0, 0, 0, dead=(0, 1, 2))
    got = choose(student, instances)
    assert got is None, f"every instance is dead, so choose must return None; it returned {got!r}"
    got = choose(student, [])
    assert got is None, f"with no instances at all choose must return None; it returned {got!r}"


# -- in the sandbox ---------------------------------------------------------------------------

SPIKE = {"topology.instances": 4, "topology.concurrency": 2}


@dataclass
class Decision:
    """One choice the balancer made during a run, with what it could see at that moment."""

    now_ms: float
    alive: list[bool]
    active: list[int]
    chosen: int | None


def reference_choice(alive: list[bool], active: list[int]) -> int | None:
    """What least connections chooses (plain Python, for comparison)."""
    live = [i for i, up in enumerate(alive) if up]
    return min(live, key=lambda i: (active[i], i)) if live else None


def run_with_balancer(student: ModuleType, switches: dict[str, object], requests: int,
                      seed: int = 7) -> tuple[dict[str, Any], list[Decision]]:
    """Run `spike` with the student's balancer in the sandbox, recording every decision."""
    sb = make_sandbox({**SPIKE, **switches}, plug=("balancer", student), seed=seed)
    impl = sb.plugs["balancer"].impl  # type: ignore[attr-defined]
    decisions: list[Decision] = []
    choose = impl.choose

    def recording_choose(instances: Any, client: str, now_ms: float) -> int | None:
        alive = [bool(i.alive) for i in instances]
        active = [i.active(now_ms) for i in instances]
        chosen = choose(instances, client, now_ms)
        decisions.append(Decision(now_ms, alive, active, chosen))
        return chosen  # type: ignore[no-any-return]

    impl.choose = recording_choose
    return scenario(sb, "spike", requests=requests), decisions


def first_wrong(decisions: list[Decision]) -> str:
    """'' when every decision is right, else a sentence about the first wrong one."""
    wrong = [d for d in decisions if d.chosen != reference_choice(d.alive, d.active)]
    if not wrong:
        return ""
    d = wrong[0]
    seen = ", ".join(f"{i}: {'alive' if up else 'DEAD'} {n} active"
                     for i, (up, n) in enumerate(zip(d.alive, d.active, strict=True)))
    return (f"{len(wrong)} of {len(decisions)} choices differ from least connections. The first, "
            f"at {d.now_ms:.1f} ms, saw [{seen}]: least connections picks "
            f"{reference_choice(d.alive, d.active)}, yours picked {d.chosen!r}")


@pytest.mark.points(5)
def test_spike_every_choice_is_least_connections(student: ModuleType) -> None:
    """The spike scenario through 4 instances with your balancer: every choice is the least
    busy live instance, and the slow requests (p95) beat round robin's."""
    metrics, decisions = run_with_balancer(student, {}, 1500)
    assert len(decisions) == 1500, "the balancer chooses once per request"
    problem = first_wrong(decisions)
    assert not problem, problem
    rr = scenario(make_sandbox({**SPIKE, "lb.algorithm": "round_robin"}), "spike", requests=1500)
    yours, theirs = metrics["latency_ms"]["p95"], rr["latency_ms"]["p95"]
    assert yours < theirs, (f"least connections should make the slowest requests faster than "
                            f"round robin does: p95 {yours} ms with yours, {theirs} ms with round "
                            "robin")


@pytest.mark.points(4)
def test_a_dead_instance_gets_no_more_requests(student: ModuleType) -> None:
    """app-2 dies 1 s into the run; once the health check has marked it dead, your balancer
    must never send it another request."""
    switches = {"faults.instance_down": 2, "faults.instance_down_at_s": 1.0,
                "lb.health_check_s": 0.5}
    metrics, decisions = run_with_balancer(student, switches, 900)
    noticed = [d for d in decisions if not d.alive[1]]
    assert noticed, "the health check never marked app-2 dead: the run is too short to test this"
    to_dead = [d for d in noticed if d.chosen == 1]
    assert len(to_dead) == 0, (
        f"after the health check marked app-2 (index 1) dead at {noticed[0].now_ms:.0f} ms, "
        f"your balancer still sent it {len(to_dead)} request(s), the first at "
        f"{to_dead[0].now_ms:.0f} ms: a dead instance has 0 active requests, so it looks the "
        "least busy of all; check instance.alive first")
    problem = first_wrong(decisions)
    assert not problem, problem
    assert metrics["instances"].get("app-2", 0) > 0, "app-2 served requests before it died"
