from __future__ import annotations

import random

import pytest

from sandbox.network.latency import LatencyModel
from sandbox.settings import NetworkSettings


def draws(seed: int, settings: NetworkSettings, n: int = 200, scale: float = 1.0) -> list[float]:
    model = LatencyModel(random.Random(seed), settings)
    return [model.hop(scale) for _ in range(n)]


def test_same_seed_same_sequence() -> None:
    settings = NetworkSettings(latency_ms=2.0, jitter=0.3)
    assert draws(7, settings) == draws(7, settings)
    assert draws(7, settings) != draws(8, settings)


@pytest.mark.parametrize(("base", "jitter", "scale"), [(1.0, 0.2, 1.0), (5.0, 1.0, 1.0),
                                                       (2.0, 0.5, 20.0), (0.5, 0.05, 3.0)])
def test_jitter_bounds(base: float, jitter: float, scale: float) -> None:
    values = draws(1, NetworkSettings(latency_ms=base, jitter=jitter), n=2000, scale=scale)
    typical = base * scale
    lo, hi = typical * (1 - jitter), typical * (1 + jitter)
    assert all(lo <= v <= hi for v in values)
    # The jitter is really used: the draws spread over most of the allowed band.
    assert min(values) < typical * (1 - 0.9 * jitter)
    assert max(values) > typical * (1 + 0.9 * jitter)
    mean = sum(values) / len(values)
    assert abs(mean - typical) < 0.05 * typical


def test_zero_jitter_is_exact() -> None:
    rng = random.Random(3)
    state = rng.getstate()
    model = LatencyModel(rng, NetworkSettings(latency_ms=4.0, jitter=0.0))
    assert [model.hop() for _ in range(5)] == [4.0] * 5
    assert model.hop(20.0) == 80.0
    assert model.hop(0.5) == 2.0
    # No randomness is consumed when there is nothing to vary.
    assert rng.getstate() == state


def test_zero_latency_is_zero() -> None:
    model = LatencyModel(random.Random(3), NetworkSettings(latency_ms=0.0, jitter=0.5))
    assert model.hop() == 0.0
    assert model.hop(10.0) == 0.0


def test_settings_change_takes_effect() -> None:
    model = LatencyModel(random.Random(3), NetworkSettings(latency_ms=1.0, jitter=0.0))
    assert model.hop() == 1.0
    model.settings = NetworkSettings(latency_ms=9.0, jitter=0.0)
    assert model.hop() == 9.0
