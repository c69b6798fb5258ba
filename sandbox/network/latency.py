"""Modelled latency: each hop costs a typical time plus seeded jitter."""

from __future__ import annotations

import random

from sandbox.settings import NetworkSettings


class LatencyModel:
    """Draws hop latencies; the same seed gives the same sequence.

    Args:
        rng: the sandbox's seeded random source.
        settings: typical hop latency and jitter fraction.
    """

    def __init__(self, rng: random.Random, settings: NetworkSettings) -> None:
        self.rng = rng
        self.settings = settings

    @property
    def settings(self) -> NetworkSettings:
        return self._settings

    @settings.setter
    def settings(self, settings: NetworkSettings) -> None:
        # Copied out once here: `hop` runs four times a request.
        self._settings = settings
        self._latency_ms = settings.latency_ms
        self._jitter = settings.jitter

    def hop(self, scale: float = 1.0) -> float:
        """One hop's latency in ms: `scale` times the typical hop, give or take the jitter."""
        base = self._latency_ms * scale
        jitter = self._jitter
        if jitter == 0 or base == 0:
            return base
        return base * (1.0 + jitter * (2.0 * self.rng.random() - 1.0))
