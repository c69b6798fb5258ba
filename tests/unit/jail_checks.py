"""Where the grader's confinement tests may skip, and where they may not.

A test of the worker's jail needs what only some machines give: namespaces, root, a second
Python. On a laptop without them it skips, saying why. CI sets SANDBOX_REQUIRE_JAIL (.ci/run),
and there a missing piece fails the test instead of hiding it, as with Redis and tmux.
"""

from __future__ import annotations

import os

import pytest


def cannot_run(reason: str) -> None:
    """Skip with `reason`, or fail where the jail's tests are required to run."""
    if os.environ.get("SANDBOX_REQUIRE_JAIL"):
        pytest.fail(f"the grader's confinement test cannot run here: {reason}")
    pytest.skip(reason)
