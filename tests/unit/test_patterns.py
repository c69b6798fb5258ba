from __future__ import annotations

import itertools
import random

import pytest

from sandbox.scenarios.patterns import PATTERNS, Pattern


def times(name: str, seed: int, count: int) -> list[float]:
    return list(PATTERNS[name].arrivals(random.Random(seed), count))


def test_pattern_names() -> None:
    assert set(PATTERNS) == {"steady", "spike", "ramp", "rush", "orders", "hot_customer",
                             "stampede", "price_edits", "credential_stuffing",
                             "token_revocation", "scraper", "flash_sale", "graphql"}
    for name, pattern in PATTERNS.items():
        assert pattern.name == name
        assert pattern.requests > 0
        assert pattern.summary


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_arrivals_count_and_increasing(name: str) -> None:
    ts = times(name, 1, 1000)
    assert len(ts) == 1000
    assert ts[0] > 0.0
    assert all(b > a for a, b in itertools.pairwise(ts))
    assert times(name, 1, 0) == []


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_same_seed_same_times(name: str) -> None:
    assert times(name, 42, 500) == times(name, 42, 500)
    assert times(name, 42, 500) != times(name, 43, 500)
    # A shorter run is a prefix of a longer one.
    assert times(name, 42, 100) == times(name, 42, 500)[:100]


def test_steady_rate() -> None:
    ts = times("steady", 5, 3000)
    rate = len(ts) / (ts[-1] / 1000.0)
    assert 270.0 < rate < 330.0


def rate_in(ts: list[float], lo_ms: float, hi_ms: float) -> float:
    return sum(1 for t in ts if lo_ms <= t < hi_ms) / ((hi_ms - lo_ms) / 1000.0)


def test_spike_is_busier_inside_its_window() -> None:
    ts = times("spike", 9, PATTERNS["spike"].requests)
    assert ts[-1] > 5000.0  # the run reaches past the spike
    before = rate_in(ts, 0.0, 2000.0)
    during = rate_in(ts, 2000.0, 4000.0)
    after = rate_in(ts, 4000.0, 5000.0)
    assert 150.0 < before < 350.0
    assert 2200.0 < during < 2800.0
    assert 150.0 < after < 350.0
    assert during > 5 * before
    assert during > 5 * after


def test_ramp_gets_busier() -> None:
    ts = times("ramp", 3, PATTERNS["ramp"].requests)
    early = rate_in(ts, 0.0, 2000.0)
    late = rate_in(ts, ts[-1] - 1000.0, ts[-1])
    assert early < 500.0
    assert late > 3 * early


def test_custom_pattern_uses_rate_at_simulated_ms() -> None:
    seen: list[float] = []

    def rate(t_ms: float) -> float:
        seen.append(t_ms)
        return 1000.0

    ts = list(Pattern("x", "x", 3, rate).arrivals(random.Random(0), 3))
    # Each gap is drawn at the previous arrival time, in ms.
    assert seen == [0.0, ts[0], ts[1]]


def test_a_pattern_names_its_own_shoppers_and_nothing_else() -> None:
    from sandbox.scenarios.mix import Shoppers
    from sandbox.scenarios.runner import shoppers_for

    def rate(t: float) -> float:
        return 1.0

    assert shoppers_for(Pattern("x", "x", 1, rate)) is Shoppers
    assert shoppers_for(Pattern("x", "x", 1, rate, mix="sandbox.scenarios.mix:Shoppers")) is Shoppers
    with pytest.raises(TypeError, match="not a Shoppers class"):
        shoppers_for(Pattern("x", "x", 1, rate, mix="sandbox.scenarios.mix:Action"))
