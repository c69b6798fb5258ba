"""The lesson player's logic: what a step does, which numbers to show, whether a goal is met.

No Textual here: the lessons screens call these and the tests check them directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.course.lessons import Checkpoint, Lesson, LessonError, Step, metric_value
from sandbox.course.progress import LessonProgress
from sandbox.settings import Settings, format_value
from sandbox.tui.composing import ComposedRequest
from sandbox.tui.runs import status_counts


def step_actions(step: Step) -> str:
    """One line saying what entering `step` does in the sandbox."""
    parts: list[str] = []
    if step.reset:
        parts.append("every switch back to its default")
    if step.settings:
        parts.append("sets " + ", ".join(f"{k}={format_value(v)}" for k, v in step.settings.items()))
    if step.run:
        count = f"{step.run.requests:,} requests" if step.run.requests else "its default requests"
        parts.append(f"runs {step.run.scenario} ({count}, seed {step.run.seed})")
    if step.request:
        who = f" as {step.request.user.split('@')[0]}" if step.request.user else ""
        parts.append(f"sends {step.request.method} {step.request.path}{who}")
    if step.highlight:
        parts.append("look at: " + ", ".join(step.highlight))
    return "; ".join(parts) if parts else "nothing: read, then go on"


def settings_at(lesson: Lesson, index: int, base: Settings) -> Settings:
    """The switches step `index` runs with: the defaults plus the step's own `set`.

    Never what an earlier step set, nor what the learner set in the playground: a step measures
    what its text describes, whichever way the learner arrived at it. Only the Redis server
    (the learner's environment, not a lesson switch) is taken from `base`.
    """
    step = lesson.steps[index]
    return Settings(redis=base.redis).replace(step.settings or {})


def composed(step: Step) -> ComposedRequest:
    """The step's request as the composer would send it."""
    request = step.request
    assert request is not None
    return ComposedRequest(method=request.method, path=request.path,
                           headers=tuple(request.headers.items()), body=request.body or "",
                           user=request.user or "")


def step_metrics(step: Step) -> list[str]:
    """The metrics the step's checkpoints and claims name, each once, in order."""
    names: list[str] = []
    for name in [c.metric for c in step.checkpoints] + [c.metric for c in step.claims]:
        if name and name not in names:
            names.append(name)
    return names


def format_metric(name: str, value: float) -> str:
    if name.endswith("hit_rate") or name.endswith("_ratio"):
        return f"{value:.1%}"
    if value.is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def measured(metrics: dict[str, Any], name: str) -> str:
    try:
        return format_metric(name, metric_value(metrics, name))
    except KeyError:
        return "not measured"


def headline(metrics: dict[str, Any], extra: list[str]) -> list[tuple[str, str]]:
    """(label, value) rows: latency, hit rate, db queries, 429s, statuses, then `extra`."""
    lat = metrics.get("latency_ms", {})
    rows = [("p50/p95/p99 ms", "/".join(f"{lat.get(p, 0):.2f}" for p in ("p50", "p95", "p99")))]
    cache = metrics.get("cache", {})
    looked = cache.get("hits", 0) + cache.get("misses", 0)
    rows.append(("cache hit rate", f"{cache.get('hit_rate', 0.0):.1%} of {looked:,}" if looked
                 else "no lookups"))
    rows.append(("db queries", f"{metrics.get('db', {}).get('queries', 0):,}"))
    rows.append(("429 refused", f"{metrics.get('ratelimit', {}).get('rejected', 0):,}"))
    rows.append(("status", "  ".join(f"{code} {n:,}" for code, n in status_counts(metrics).items())))
    rows.extend((name, measured(metrics, name)) for name in extra)
    return rows


def goal_text(point: Checkpoint) -> str:
    """A challenge's target, and the switches it must keep."""
    bounds = []
    if point.below is not None:
        bounds.append(f"below {format_metric(point.metric, float(point.below))}")
    if point.above is not None:
        bounds.append(f"above {format_metric(point.metric, float(point.above))}")
    text = f"{point.metric} {' and '.join(bounds)}"
    if point.keep:
        text += "; keep " + ", ".join(f"{k}={format_value(v)}" for k, v in point.keep.items())
    return text


@dataclass(frozen=True)
class Verdict:
    met: bool
    value: float | None
    problems: tuple[str, ...]

    def text(self, metric: str) -> str:
        shown = "not measured" if self.value is None else format_metric(metric, self.value)
        if self.met:
            return f"met: {metric} = {shown}"
        return f"not yet: {metric} = {shown}" + "".join(f"; {p}" for p in self.problems)


def kept(point: Checkpoint, settings: Settings) -> list[str]:
    """What is wrong with `settings` against the challenge's `keep` (empty when all is kept)."""
    return [f"{key} must stay {format_value(value)} (it is {format_value(settings.get(key))})"
            for key, value in point.keep.items() if settings.get(key) != value]


def judge(point: Checkpoint, settings: Settings, metrics: dict[str, Any]) -> Verdict:
    """Whether a challenge is met by a run with `settings` that measured `metrics`."""
    problems = kept(point, settings)
    try:
        value: float | None = metric_value(metrics, point.metric)
    except KeyError:
        return Verdict(False, None, (*problems, f"the run has no {point.metric}"))
    assert value is not None
    if point.below is not None and not value < point.below:
        problems.append(f"it must be below {format_metric(point.metric, float(point.below))}")
    if point.above is not None and not value > point.above:
        problems.append(f"it must be above {format_metric(point.metric, float(point.above))}")
    return Verdict(not problems, value, tuple(problems))


def resume_at(lesson: Lesson, progress: LessonProgress) -> int:
    """The step to open: the saved position, kept inside the lesson."""
    return max(0, min(progress.position, len(lesson.steps) - 1))


def progress_text(lesson: Lesson, progress: LessonProgress) -> str:
    done = len({s for s in progress.steps_done if 0 <= s < len(lesson.steps)})
    return f"{done}/{len(lesson.steps)} steps"


def broken_files(errors: list[LessonError]) -> dict[str, list[LessonError]]:
    """The load errors grouped by file, in file order."""
    out: dict[str, list[LessonError]] = {}
    for error in errors:
        out.setdefault(error.path, []).append(error)
    return out


def step_complete(step: Step, index: int, progress: LessonProgress) -> bool:
    """Whether every checkpoint of step `index` is done: a question answered right, a
    prediction made (and so measured), a challenge met. A step without any is not complete
    until the learner moves on from it."""
    if not step.checkpoints:
        return False
    for i, point in enumerate(step.checkpoints):
        answer = progress.answers.get((index, i))
        if point.kind == "choice" and not (answer and answer[1]):
            return False
        if point.kind == "predict" and answer is None:
            return False
        if point.kind == "challenge" and (index, i) not in progress.challenges_met:
            return False
    return True
