"""The read-your-writes router on its own."""

from __future__ import annotations

from sandbox.network.routing import ReadYourWritesRouter


def test_writes_and_recent_writers_go_to_the_primary() -> None:
    router = ReadYourWritesRouter(lag_ms=500)
    assert router.choose("a", "POST", 0.0) == "primary"
    assert router.choose("a", "GET", 0.0) == "replica"
    router.answered("a", "POST", 100.0)
    assert router.choose("a", "GET", 599.0) == "primary"
    assert router.choose("b", "GET", 599.0) == "replica"
    assert router.choose("a", "GET", 600.0) == "replica"  # the write is on the replica now
