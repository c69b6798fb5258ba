from __future__ import annotations

import pytest

from sandbox.clock import SimClock


def test_starts_at_zero_by_default() -> None:
    assert SimClock().now_ms == 0.0
    assert SimClock(250.0).now_ms == 250.0


def test_advance_accumulates() -> None:
    clock = SimClock(100.0)
    clock.advance(5.0)
    clock.advance(2.5)
    assert clock.now_ms == 107.5
    clock.advance(0)
    assert clock.now_ms == 107.5


def test_negative_advance_raises_and_leaves_time_alone() -> None:
    clock = SimClock(10.0)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1.0)
    assert clock.now_ms == 10.0


def test_jump_to_sets_the_time() -> None:
    clock = SimClock()
    clock.jump_to(4200.0)
    assert clock.now_ms == 4200.0
    clock.advance(1.0)
    assert clock.now_ms == 4201.0


def test_now_s() -> None:
    clock = SimClock()
    assert clock.now_s() == 0.0
    clock.advance(1500.0)
    assert clock.now_s() == 1.5
    clock.jump_to(250.0)
    assert clock.now_s() == 0.25
