from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest

from sandbox.network.balancer import (
    HashBalancer,
    LeastConnectionsBalancer,
    RoundRobinBalancer,
    make_balancer,
)


@dataclass
class FakeBackend:
    name: str
    alive: bool = True
    load: int = 0
    asked_at: list[float] = field(default_factory=list)

    def active(self, now_ms: float) -> int:
        self.asked_at.append(now_ms)
        return self.load


def backends(n: int) -> list[FakeBackend]:
    return [FakeBackend(f"app-{i + 1}") for i in range(n)]


def test_round_robin_cycles() -> None:
    lb = RoundRobinBalancer()
    pool = backends(3)
    assert [lb.choose(pool, "c", 0.0) for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]


def test_round_robin_ignores_load_and_client() -> None:
    lb = RoundRobinBalancer()
    pool = backends(2)
    pool[0].load = 100
    assert [lb.choose(pool, f"client-{i}", 0.0) for i in range(4)] == [0, 1, 0, 1]


def test_round_robin_skips_dead_instances() -> None:
    lb = RoundRobinBalancer()
    pool = backends(3)
    pool[1].alive = False
    assert [lb.choose(pool, "c", 0.0) for _ in range(6)] == [0, 2, 0, 2, 0, 2]
    pool[1].alive = True
    picks = {lb.choose(pool, "c", 0.0) for _ in range(3)}
    assert picks == {0, 1, 2}


def test_round_robin_all_dead() -> None:
    lb = RoundRobinBalancer()
    pool = backends(3)
    for b in pool:
        b.alive = False
    assert lb.choose(pool, "c", 0.0) is None
    assert lb.choose([], "c", 0.0) is None


def test_least_connections_picks_fewest_active() -> None:
    lb = LeastConnectionsBalancer()
    pool = backends(3)
    for b, load in zip(pool, [5, 1, 3], strict=True):
        b.load = load
    assert lb.choose(pool, "c", 42.0) == 1
    assert all(b.asked_at == [42.0] for b in pool)
    pool[1].load = 9
    assert lb.choose(pool, "c", 43.0) == 2


def test_least_connections_ties_go_to_lowest_index() -> None:
    lb = LeastConnectionsBalancer()
    pool = backends(3)
    for b, load in zip(pool, [4, 2, 2], strict=True):
        b.load = load
    assert lb.choose(pool, "c", 0.0) == 1
    for b in pool:
        b.load = 0
    assert lb.choose(pool, "c", 0.0) == 0


def test_least_connections_skips_dead() -> None:
    lb = LeastConnectionsBalancer()
    pool = backends(3)
    for b, load in zip(pool, [0, 3, 1], strict=True):
        b.load = load
    pool[0].alive = False
    assert lb.choose(pool, "c", 0.0) == 2
    assert pool[0].asked_at == []


def test_least_connections_all_dead() -> None:
    pool = backends(2)
    for b in pool:
        b.alive = False
    assert LeastConnectionsBalancer().choose(pool, "c", 0.0) is None


def test_hash_is_stable_for_a_client() -> None:
    pool = backends(4)
    first = HashBalancer().choose(pool, "10.0.0.7", 0.0)
    assert first is not None
    lb = HashBalancer()
    assert all(lb.choose(pool, "10.0.0.7", float(t)) == first for t in range(20))


def test_hash_is_the_same_across_processes() -> None:
    # Fixed answers: a per-process salted hash() would not reproduce these.
    pool = backends(3)
    lb = HashBalancer()
    picks = [lb.choose(pool, f"client-{i}", 0.0) for i in range(5)]
    assert picks == [1, 0, 1, 2, 1]


def test_hash_spreads_clients_over_live_instances_only() -> None:
    pool = backends(4)
    pool[2].alive = False
    lb = HashBalancer()
    picks = Counter(lb.choose(pool, f"client-{i}", 0.0) for i in range(200))
    assert set(picks) == {0, 1, 3}


def test_hash_all_dead() -> None:
    pool = backends(2)
    for b in pool:
        b.alive = False
    assert HashBalancer().choose(pool, "c", 0.0) is None


@pytest.mark.parametrize(
    ("algorithm", "cls"),
    [
        ("round_robin", RoundRobinBalancer),
        ("least_connections", LeastConnectionsBalancer),
        ("hash", HashBalancer),
    ],
)
def test_make_balancer(algorithm: str, cls: type) -> None:
    lb = make_balancer(algorithm)
    assert isinstance(lb, cls)
    assert lb.name == algorithm


def test_make_balancer_returns_fresh_state() -> None:
    a = make_balancer("round_robin")
    pool = backends(3)
    a.choose(pool, "c", 0.0)
    assert make_balancer("round_robin").choose(pool, "c", 0.0) == 0
