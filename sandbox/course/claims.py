"""Checking what lessons claim: run each claim's experiment and compare the numbers.

A lesson that says "the hit rate climbs above 60%" carries a claim block; the test suite runs
every claim, so a change to the sandbox that makes a lesson wrong fails the build.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sandbox.course.lessons import Claim, metric_value
from sandbox.scenarios import run_scenario
from sandbox.settings import Settings, format_value


@dataclass
class ClaimResult:
    ok: bool
    detail: str


@functools.lru_cache(maxsize=256)
def _metrics(scenario: str, requests: int | None, seed: int, settings: Settings) -> dict[str, Any]:
    """One run's metrics. Runs are deterministic, so claims that share a run share its result."""
    return run_scenario(scenario, settings, seed=seed, requests=requests).metrics


def _measure(claim: Claim, changes: dict[str, object]) -> float:
    settings = Settings().replace(changes)
    metrics = _metrics(claim.run.scenario, claim.run.requests, claim.run.seed, settings)
    return metric_value(metrics, claim.metric)


def verify_claim(claim: Claim) -> ClaimResult:
    """Run the claim's experiment (and its comparison) and say whether the claim holds."""
    value = _measure(claim, claim.settings)
    where = ", ".join(f"{k}={format_value(v)}" for k, v in claim.settings.items()) or "defaults"
    if claim.compare_to is not None:
        other = _measure(claim, claim.compare_to)
        ratio = value / other if other else float("inf")
        ok = ((claim.ratio_above is None or ratio > claim.ratio_above)
              and (claim.ratio_below is None or ratio < claim.ratio_below))
        return ClaimResult(ok, f"{claim.metric}: {value:g} with {where} / {other:g} = "
                               f"{ratio:.3g}")
    ok = ((claim.below is None or value < claim.below)
          and (claim.above is None or value > claim.above))
    return ClaimResult(ok, f"{claim.metric} = {value:g} with {where}")
