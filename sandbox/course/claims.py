"""Checking what lessons claim: run each claim's experiment and compare the numbers.

A lesson that says "the hit rate climbs above 60%" carries a claim block; the test suite runs
every claim, so a change to the sandbox that makes a lesson wrong fails the build.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.course.lessons import Claim, metric_value
from sandbox.scenarios import run_scenario
from sandbox.settings import Settings, format_value


@dataclass
class ClaimResult:
    ok: bool
    detail: str


def _measure(claim: Claim, changes: dict[str, object]) -> float:
    settings = Settings().replace(changes)
    metrics = run_scenario(claim.run.scenario, settings, seed=claim.run.seed,
                           requests=claim.run.requests).metrics
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
