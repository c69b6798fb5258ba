"""Traffic scenarios in simulated time: patterns, the request mix, the runner, metrics."""

from sandbox.scenarios.patterns import PATTERNS, Pattern
from sandbox.scenarios.runner import ScenarioCancelled, ScenarioResult, arun_scenario, run_scenario

__all__ = ["PATTERNS", "Pattern", "ScenarioCancelled", "ScenarioResult", "arun_scenario",
           "run_scenario"]
