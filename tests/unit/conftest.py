"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox import tracing
from sandbox.clock import SimClock
from sandbox.tracing import Trace


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


@pytest.fixture
def active_trace(clock: SimClock) -> Iterator[Trace]:
    """A trace installed as `tracing.current_trace`, removed again afterwards."""
    trace = Trace(clock, "req-000001", "GET", "/products")
    token = tracing.current_trace.set(trace)
    try:
        yield trace
    finally:
        tracing.current_trace.reset(token)
