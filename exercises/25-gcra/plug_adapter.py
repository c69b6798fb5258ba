"""Fits the student's GCRA to the gateway's rate-limit plug point (the `Limiter` interface in
sandbox/plugs/interfaces.py): built from the sandbox's Redis and its rate-limit switches.

Instructor code: the grader imports it from the course's copy of this folder, beside the
tests, and never from a submission. It is released with the visible tests (they need it to
plug the student's class in) and holds nothing of the answer.
"""

from __future__ import annotations

from typing import Any

from sandbox.plugs import PlugError


def adapt(sandbox: Any, student_module: Any) -> Any:
    """A GCRA for the gateway, with the sandbox's switches (`ratelimit.limit`, `window_s`,
    `burst`); the sandbox calls this again whenever one of them changes."""
    try:
        gcra = student_module.GCRA
    except AttributeError:
        raise PlugError("gcra.py must define the class GCRA (was it renamed?)") from None
    switches = sandbox.settings.ratelimit
    return gcra(sandbox.redis.client, switches.limit, switches.window_s, switches.burst)
