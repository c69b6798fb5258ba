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


def waiting_question(step: Step, answered: set[int]) -> Checkpoint | None:
    """The first question of `step` not answered yet that has prose after it, or None.

    That prose explains the answer, so the player shows the text only up to this question
    until the learner has answered it: asked first, told after."""
    for i, point in enumerate(step.checkpoints):
        if point.kind != "challenge" and i not in answered and step.text[point.at:].strip():
            return point
    return None


def response_waits(step: Step, answered: set[int]) -> bool:
    """Whether the step's response is kept back: a predict without a run asks what the
    step's request will get, and is not answered yet."""
    return step.request is not None and any(
        p.kind == "predict" and p.run is None and i not in answered
        for i, p in enumerate(step.checkpoints))


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


def compared_step(lesson: Lesson, index: int) -> int | None:
    """The step this one's run is measured against: of the earlier steps that run the same
    scenario (same size and seed) with other switches, the one whose switches differ least
    (the nearest on a tie), so the comparison shows what this step changed. None if none."""
    run = lesson.steps[index].run
    if run is None:
        return None
    ours = settings_at(lesson, index, Settings())
    best: tuple[int, int] | None = None  # (switches differing, -step)
    for earlier in range(index - 1, -1, -1):
        other = lesson.steps[earlier].run
        if other is None or (other.scenario, other.requests, other.seed) != \
                (run.scenario, run.requests, run.seed):
            continue
        differing = len(settings_at(lesson, earlier, Settings()).diff(ours))
        if differing and (best is None or differing < best[0]):
            best = (differing, -earlier)
    return None if best is None else -best[1]


# The headline numbers a lesson step always shows (each is also a metric a step may name),
# and those shown only when either run has any. The rest a step shows when it names them.
ALWAYS = {"p95 ms": "latency_ms.p95", "db queries": "db.queries"}
WHEN_SEEN = {"cache hit": "cache.hit_rate", "429s": "ratelimit.rejected", "5xx": ""}


@dataclass(frozen=True)
class MetricRow:
    """One number of a lesson's run; with an earlier step's beside it when there is one."""

    label: str
    value: str
    before: str = ""
    change: str = ""  # "-80%", "≈", "="; empty without an earlier run
    verdict: str = ""  # "better", "worse", "same", or "" (a number with no better direction)
    focus: bool = False  # one of the metrics the step is about


def metric_label(name: str) -> str:
    """A metric's path as a short label: `cache.stale_reads` -> `stale reads`, `cache.hits`
    -> `cache hits`, `status.503` -> `503s`, `latency_ms.p99` -> `p99 ms`."""
    group, _, leaf = name.rpartition(".")
    if group == "status":
        return f"{leaf}s"
    if group == "latency_ms":
        return f"{leaf} ms"
    if "_" in leaf or not group:
        return leaf.replace("_", " ")
    return f"{group.rpartition('.')[2]} {leaf}"  # `cache.hits` -> `cache hits`


def metric_rows(metrics: dict[str, Any], focus: list[str],
                before: dict[str, Any] | None = None) -> list[MetricRow]:
    """A few headline numbers and the step's own metrics, each on its own row (so none wraps
    mid-value at 80 columns), each as `before → now` when `before` is given."""
    from sandbox.course.lessons import metric_value
    from sandbox.tui.runs import HEADLINES, Headline, compare_row

    runs = [metrics] if before is None else [before, metrics]
    rows: list[MetricRow] = []
    shown: set[str] = set()  # metric names a headline row already shows
    for head in HEADLINES:
        name = ALWAYS.get(head.label, WHEN_SEEN.get(head.label))
        if name is None:
            continue
        try:
            values = [head.read(m) for m in runs]
        except (KeyError, TypeError):
            continue
        if head.label in WHEN_SEEN and not any(values) and name not in focus:
            continue
        is_focus = bool(name) and name in focus
        shown.add(name)
        if before is None:
            rows.append(MetricRow(head.label, head.text(values[0]), focus=is_focus))
            continue
        row = compare_row(head, before, metrics)  # the change as the playground words it
        rows.append(MetricRow(head.label, row.after, row.before, row.change, row.verdict,
                              is_focus))
    for name in focus:
        if name in shown:
            continue
        try:
            value = metric_value(metrics, name)
            earlier = metric_value(before, name) if before is not None else None
        except KeyError:
            rows.append(MetricRow(metric_label(name), "not measured", focus=True))
            continue
        if earlier is None:
            rows.append(MetricRow(metric_label(name), format_metric(name, value), focus=True))
        else:  # a metric with no better direction: the change, never coloured as good or bad
            def read(m: dict[str, Any], name: str = name) -> float:
                return metric_value(m, name)

            row = compare_row(Headline(name, "", "lower", read), before or {}, metrics)
            rows.append(MetricRow(metric_label(name), format_metric(name, value),
                                  format_metric(name, earlier), row.change,
                                  "same" if row.verdict == "same" else "", focus=True))
    return rows
