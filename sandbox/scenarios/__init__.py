"""Traffic scenarios in simulated time: patterns, the request mix, the runner, metrics.

The runner (and through it the whole sandbox runtime) is imported on first use, so that
reading the pattern names, as the terminal app does at start-up, stays cheap.
"""

from typing import TYPE_CHECKING, Any

from sandbox.scenarios.patterns import PATTERNS, Pattern

if TYPE_CHECKING:  # the types, for checkers; at run time __getattr__ imports on demand
    from sandbox.scenarios.runner import (
        ScenarioCancelled,
        ScenarioResult,
        arun_scenario,
        run_scenario,
    )

_RUNNER_NAMES = ("ScenarioCancelled", "ScenarioResult", "arun_scenario", "run_scenario")


def __getattr__(name: str) -> Any:
    if name in _RUNNER_NAMES:
        from sandbox.scenarios import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'sandbox.scenarios' has no attribute {name!r}")


__all__ = ["PATTERNS", "Pattern", "ScenarioCancelled", "ScenarioResult", "arun_scenario",
           "run_scenario"]
