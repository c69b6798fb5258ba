"""Checking what lessons claim: run each claim's experiment and compare the numbers.

A lesson that says "the hit rate climbs above 60%" carries a claim block; the test suite runs
every claim, so a change to the sandbox that makes a lesson wrong fails the build.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sandbox.course.lessons import (
    SCENARIOS,
    Claim,
    Lesson,
    LessonError,
    UnknownMetric,
    metric_value,
    near_metrics,
)
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


# Metrics keyed by data, not by name: any status code, any instance, endpoint or shard.
KEYED = re.compile(r"^(status\.\d{3}|(instances|endpoints|shards|clients)\.[^.]+(\.[a-z0-9_]+)*)$")
SMALL_RUN = 20  # requests: enough for a scenario to report every metric it has


# Sections that a run reports only when its switches ask for them: one small run with these on.
OPTIONAL_SECTIONS = {"deploy.release": True, "deploy.start_s": 0.0, "deploy.bad_release": "errors",
                     "deploy.auto_rollback": True, "db.shards": 2}
# A rollback's figures exist only once a rollback happened, which no small run reaches.
ROLLBACK = {f"deploy.rollback.{name}" for name in (
    "alert_fired_at_s", "ordered_at_s", "completed_at_s", "from_deploy_start_s", "from_alert_s")}


def _paths(metrics: dict[str, Any], prefix: str = "") -> set[str]:
    """Like `metric_paths`, but a figure that is None until its event happens (an alert's
    `fired_at_s`) still names a metric."""
    found: set[str] = set()
    for key, value in metrics.items():
        if isinstance(value, dict):
            found |= _paths(value, f"{prefix}{key}.")
        elif value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
            found.add(f"{prefix}{key}")
    return found


@functools.lru_cache(maxsize=1)
def known_metrics() -> frozenset[str]:
    """Every metric path some scenario reports, from one small seeded run of each (about two
    seconds in all), so a misspelt metric is caught without running the lessons."""
    known: set[str] = set(ROLLBACK)
    for scenario in SCENARIOS:
        known |= _paths(_metrics(scenario, SMALL_RUN, 7, Settings()))
    known |= _paths(_metrics("steady", SMALL_RUN, 7, Settings().replace(OPTIONAL_SECTIONS)))
    return frozenset(known)


def is_known(name: str, known: frozenset[str]) -> bool:
    return name in known or (KEYED.match(name) is not None
                             and any(k.startswith(name.split(".")[0] + ".") for k in known))


def _metric_uses(lesson: Lesson) -> Iterator[tuple[int, str]]:
    for step in lesson.steps:
        for claim in step.claims:
            yield claim.line, claim.metric
        for point in step.checkpoints:
            if point.metric:
                yield point.line, point.metric


def unknown_metrics(lessons: list[Lesson]) -> list[LessonError]:
    """A file:line error for every metric that no scenario reports, with the names near it."""
    known = known_metrics()
    errors = []
    for lesson in lessons:
        for line, name in _metric_uses(lesson):
            if not is_known(name, known):
                near = near_metrics(name, set(known))
                hint = f"; near it: {', '.join(near)}" if near else ""
                errors.append(LessonError(lesson.path, line, f"unknown metric '{name}': no "
                                                             f"scenario reports it{hint}"))
    return errors


def run_claims(lessons: list[Lesson]) -> tuple[int, list[LessonError]]:
    """Run every experiment the lessons' claims and checkpoints name; how many claims were
    checked, and a file:line error for each false claim or metric a run did not report."""
    errors: list[LessonError] = []
    count = 0
    for lesson in lessons:
        for step in lesson.steps:
            if step.run is not None:  # the step's own experiment: it must run
                run_scenario(step.run.scenario, Settings().replace(step.settings),
                             seed=step.run.seed, requests=step.run.requests)
            for point in step.checkpoints:
                # A prediction is measured with the step's switches, as the lesson view runs
                # it; a challenge with the learner's own, so only its name is checked (above).
                if point.run is not None and point.metric and point.kind == "predict":
                    try:
                        metric_value(_metrics(point.run.scenario, point.run.requests,
                                              point.run.seed, Settings().replace(step.settings)),
                                     point.metric)
                    except UnknownMetric as exc:
                        errors.append(LessonError(lesson.path, point.line, str(exc)))
            for claim in step.claims:
                count += 1
                result = verify_claim(claim)
                if not result.ok:
                    errors.append(LessonError(lesson.path, claim.line,
                                              f"false claim: {result.detail}"))
    return count, errors


def verify_claim(claim: Claim) -> ClaimResult:
    """Run the claim's experiment (and its comparison) and say whether the claim holds."""
    try:
        return _verify(claim)
    except UnknownMetric as exc:
        return ClaimResult(False, str(exc))


def _verify(claim: Claim) -> ClaimResult:
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
    bounds = " and ".join(f"{word} {bound:g}" for word, bound in
                          (("below", claim.below), ("above", claim.above)) if bound is not None)
    return ClaimResult(ok, f"{claim.metric} = {value:g} with {where} (the lesson says "
                           f"{bounds})")
