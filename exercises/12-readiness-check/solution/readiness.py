"""A readiness check: may the balancer send this instance traffic right now?

Two health questions are asked of every instance. Liveness, "is the process there?", decides
whether to restart it. Readiness, "can you do useful work now?", decides whether the balancer
sends it requests. An instance can be alive and still not ready: it is shutting down, it has
only just started, or the database it needs is not answering. During a rolling deploy that
difference is what keeps customers from seeing errors.
"""

from __future__ import annotations

from typing import Protocol


class Instance(Protocol):
    """What an instance knows about itself when the balancer asks."""

    name: str  # "app-1", "app-2", ...
    started_ms: float  # when its process last started (simulated ms; -inf: long ago)
    warmup_ms: float  # how long it needs after starting before it can serve (caches, migrations)
    draining: bool  # True once it has been told to shut down: it will exit soon

    def ping_database(self) -> bool:
        """Run a trivial query (SELECT 1): True if the database answers, False if not."""
        ...


def check_readiness(instance: Instance, now_ms: float) -> tuple[bool, str]:
    """Decide whether `instance` should get new requests at simulated time `now_ms`.

    Returns:
        (ready, reason): True and a short word such as "ready" when it may get traffic;
        False and a short reason ("draining", "warming up", "database down") when not.
    """
    # BEGIN SOLUTION
    # TODO: an instance that is shutting down (draining) is not ready: it is about to exit
    # TODO: an instance that started less than warmup_ms ago is not ready: it cannot serve yet
    # TODO: an instance whose database does not answer is not ready (ask it: ping_database())
    # TODO: otherwise it is ready; always return the pair (ready, reason)
    # The cheap, local questions come first: no point asking the database of an instance
    # that is leaving anyway.
    if instance.draining:
        return False, "draining: shutting down"
    if now_ms - instance.started_ms < instance.warmup_ms:
        return False, "starting: still warming up"
    if not instance.ping_database():
        return False, "the database is not answering"
    return True, "ready"
    # END SOLUTION
