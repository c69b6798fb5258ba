"""The coverage table in lessons/README.md: every row points at a real lesson step, a run that
step (or its lesson) really has, and an exercise folder that exists.

The table says, concept by concept, where the course teaches it:

    | Concept | Lesson step | Experiment | Exercise |
    |---|---|---|---|
    | Cache-aside | caching#Cache-aside | steady: cache.strategy=cache_aside | 05-cache-aside |

Lesson step is `lesson-id#exact step heading`; Experiment is `SCENARIO: key=value, ...` (or
the scenario alone), `request` (the step sends one request) or `-`; Exercise is a folder in
exercises/ (or several, comma-separated) or `-`.
Nothing here runs a scenario: the rows are checked against the parsed lesson files only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sandbox.course.folders import lessons_dir
from sandbox.course.lessons import Lesson, Step, load_lessons, parse_lesson
from sandbox.errors import SettingsError
from sandbox.settings import Settings, parse_assignment

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "lessons" / "README.md"
EXERCISES = ROOT / "exercises"
HEADER = ("Concept", "Lesson step", "Experiment", "Exercise")
_ROW = re.compile(r"^\|(.*)\|\s*$")
_RULE = re.compile(r"^\|(\s*:?-{3,}:?\s*\|)+\s*$")


@dataclass
class Row:
    line: int
    text: str
    cells: list[str]


def table_rows(readme: str) -> tuple[list[Row], list[str]]:
    """The rows under `## Coverage` (up to the next heading), and problems with its shape."""
    lines = readme.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == "## Coverage"]
    if len(starts) != 1:
        return [], [f"lessons/README.md needs exactly one '## Coverage' heading, found "
                    f"{len(starts)}"]
    rows: list[Row] = []
    problems: list[str] = []
    seen_header = False
    for number, line in enumerate(lines[starts[0] + 1:], start=starts[0] + 2):
        if line.startswith("#"):
            break
        if not line.strip() or _RULE.match(line):
            continue
        match = _ROW.match(line.strip())
        if match is None:
            if seen_header:
                problems.append(f"line {number}: not a table row: {line!r}")
            continue
        cells = [cell.strip() for cell in match.group(1).split("|")]
        if tuple(cells) == HEADER:
            seen_header = True
            continue
        rows.append(Row(number, line.strip(), cells))
    if not seen_header:
        problems.append("the coverage table needs the header | " + " | ".join(HEADER) + " |")
    return rows, problems


def _runs(step: Step) -> list[tuple[str, dict[str, Any]]]:
    """Every (scenario, switches) a step runs: its own run, its checkpoints' and claims'."""
    runs: list[tuple[str, dict[str, Any]]] = []
    if step.run is not None:
        runs.append((step.run.scenario, step.settings))
    for checkpoint in step.checkpoints:
        if checkpoint.run is not None:
            runs.append((checkpoint.run.scenario, {**step.settings, **checkpoint.keep}))
    for claim in step.claims:
        runs.append((claim.run.scenario, claim.settings))
        if claim.compare_to is not None:
            runs.append((claim.run.scenario, claim.compare_to))
    return runs


def _named_switches(lesson: Lesson) -> set[str]:
    """The switches a lesson sets somewhere (a row may not name one it never touches)."""
    return {key for step in lesson.steps for _, switches in _runs(step) for key in switches}


def _assignments(text: str) -> list[str]:
    """`a=1, b=x,y` -> ["a=1", "b=x,y"]: a comma starts a new switch only before a `key=`."""
    parts: list[str] = []
    for piece in text.split(","):
        if parts and "=" not in piece:
            parts[-1] += "," + piece.strip()
        elif piece.strip():
            parts.append(piece.strip())
    return parts


def _experiment_problem(text: str, step: Step, lesson: Lesson) -> str | None:
    """Why `text` is not an experiment this step (or its lesson) has, or None if it is."""
    if text == "-":
        return None
    if text == "request":
        if step.request is not None or any(s.request for s in lesson.steps):
            return None
        return "says 'request' but neither the step nor its lesson sends a request"
    scenario, sep, rest = text.partition(":")
    scenario = scenario.strip()
    if not sep and scenario and " " not in scenario:
        # A scenario alone: a run of it with the lesson's own switches, none named here.
        runs = [r for r in _runs(step)] + [r for s in lesson.steps for r in _runs(s)]
        if any(name == scenario for name, _ in runs):
            return None
        return f"no run of '{scenario}' in that step or its lesson"
    if not sep or not scenario or " " in scenario:
        return (f"experiment {text!r} is not 'SCENARIO: switch=value, ...', 'request' or '-'")
    wanted: dict[str, Any] = {}
    for part in _assignments(rest):
        try:
            key, value = parse_assignment(part)
        except SettingsError as exc:
            return f"experiment switch {part!r}: {exc}"
        wanted[key] = value
    if not wanted:
        return f"experiment {text!r} names no switch=value after the scenario"
    untouched = sorted(set(wanted) - _named_switches(lesson))
    if untouched:
        return f"the lesson never sets {', '.join(untouched)}"
    for candidates in (_runs(step), [r for s in lesson.steps for r in _runs(s)]):
        for run_scenario, switches in candidates:
            effective = Settings().replace(switches)
            if run_scenario == scenario and all(effective.get(k) == v
                                                for k, v in wanted.items()):
                return None
    ran = sorted({f"{s}" for st in lesson.steps for s, _ in _runs(st)})
    return (f"no run of '{scenario}' with {', '.join(f'{k}={v}' for k, v in wanted.items())} "
            f"in that step or its lesson (the lesson runs: {', '.join(ran) or 'nothing'})")


def check_rows(rows: list[Row], lessons: list[Lesson], exercises: set[str]) -> list[str]:
    """Every problem with the rows, each naming its row."""
    by_id = {lesson.id: lesson for lesson in lessons}
    problems: list[str] = []
    concepts: dict[str, int] = {}
    for row in rows:
        where = f"line {row.line} {row.text!r}"
        if len(row.cells) != len(HEADER) or not all(row.cells):
            problems.append(f"{where}: a row has 4 non-empty cells: "
                            "| Concept | lesson-id#Step heading | Experiment | Exercise |")
            continue
        concept, step_ref, experiment, exercise = row.cells
        key = concept.casefold()
        if key in concepts:
            problems.append(f"{where}: concept {concept!r} is already on line {concepts[key]}")
        concepts.setdefault(key, row.line)
        lesson_id, sep, heading = step_ref.partition("#")
        lesson = by_id.get(lesson_id.strip())
        if not sep or lesson is None:
            problems.append(f"{where}: {step_ref!r} is not lesson-id#Step heading with a "
                            f"lesson id of: {', '.join(sorted(by_id))}")
            continue
        step = next((s for s in lesson.steps if s.title == heading), None)
        if step is None:
            problems.append(f"{where}: lesson {lesson.id} has no step {heading!r}; its steps: "
                            + "; ".join(s.title for s in lesson.steps))
            continue
        problem = _experiment_problem(experiment, step, lesson)
        if problem:
            problems.append(f"{where}: {problem}")
        for name in ([] if exercise == "-" else [e.strip() for e in exercise.split(",")]):
            if name not in exercises:
                problems.append(f"{where}: exercise folder exercises/{name} does not exist")
    return problems


def _lessons_without_rows(rows: list[Row], lessons: list[Lesson]) -> list[str]:
    covered = {row.cells[1].partition("#")[0] for row in rows if len(row.cells) > 1}
    return [f"lesson {lesson.id} ({Path(lesson.path).name}) has no row in the coverage table"
            for lesson in lessons if lesson.id not in covered]


LESSONS, LESSON_ERRORS = load_lessons(lessons_dir())
EXERCISE_FOLDERS = {p.name for p in EXERCISES.iterdir() if p.is_dir()}


def test_the_coverage_table_points_at_real_steps_runs_and_exercises() -> None:
    assert not LESSON_ERRORS, [str(e) for e in LESSON_ERRORS]
    rows, problems = table_rows(README.read_text(encoding="utf-8"))
    problems += check_rows(rows, LESSONS, EXERCISE_FOLDERS)
    assert rows and not problems, "\n".join(problems)


def test_every_lesson_has_a_row() -> None:
    rows, _ = table_rows(README.read_text(encoding="utf-8"))
    missing = _lessons_without_rows(rows, LESSONS)
    assert not missing, "\n".join(missing)


# The checker itself: each kind of wrong row is caught and named.

TABLE = """# Writing lessons

## Coverage

| Concept | Lesson step | Experiment | Exercise |
|---|---|---|---|
{rows}

## Something after
| Not | the | table | ! |
"""


FAKE_TEXT = '''+++
id = "fake"
title = "A lesson for the checker"
topic = 5
order = 1
+++

## With a run
```sandbox
set = { "cache.strategy" = "cache_aside" }
run = { scenario = "steady", requests = 100 }
```

```claim
run = { scenario = "spike", requests = 100 }
set = { "cache.ttl_s" = 5 }
metric = "latency_ms.p50"
below = 100
```

## Just a request
```sandbox
request = { method = "GET", path = "/products/1" }
```
'''
FAKE = parse_lesson(FAKE_TEXT, "fake.md")
REF = "fake#With a run"
EXERCISE = sorted(EXERCISE_FOLDERS)[0]


def _problems(*rows: str) -> list[str]:
    parsed, problems = table_rows(TABLE.format(rows="\n".join(rows)))
    return problems + check_rows(parsed, [FAKE], EXERCISE_FOLDERS)


def test_a_true_row_passes_and_the_table_ends_at_the_next_heading() -> None:
    assert _problems(f"| Thing | {REF} | steady: cache.strategy=cache_aside | {EXERCISE} |",
                     f"| Other | {REF} | - | - |") == []


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ("| Thing | no-such-lesson#Step | - | - |", "is not lesson-id#Step heading"),
        ("| Thing | fake | - | - |", "is not lesson-id#Step heading"),
        ("| Thing | fake#No such step | - | - |", "has no step 'No such step'"),
        (f"| Thing | {REF} | moonwalk: cache.strategy=cache_aside | - |",
         "no run of 'moonwalk'"),
        (f"| Thing | {REF} | steady: cache.strategy=bogus | - |", "experiment switch"),
        (f"| Thing | {REF} | steady: colour=red | - |", "experiment switch"),
        (f"| Thing | {REF} | moonwalk | - |", "no run of 'moonwalk'"),
        (f"| Thing | {REF} | two words | - |", "is not 'SCENARIO: switch=value"),
        (f"| Thing | {REF} | steady: | - |", "names no switch=value"),
        (f"| Thing | {REF} | - | 99-not-written |", "exercises/99-not-written does not exist"),
        (f"| Thing | {REF} | - |", "a row has 4 non-empty cells"),
        (f"| Thing | {REF} |  | - |", "a row has 4 non-empty cells"),
        ("Thing, caching, -, -", "not a table row"),
    ],
)
def test_each_wrong_row_is_named(row: str, says: str) -> None:
    problems = _problems(row)
    assert len(problems) == 1 and says in problems[0], problems
    if "not a table row" not in says:
        assert f"{row!r}" in problems[0]  # names the row


def test_a_switch_value_or_scenario_the_lesson_never_runs_is_caught() -> None:
    assert _problems("| A | fake#Just a request | steady: cache.strategy=cache_aside | - |",
                     "| B | fake#With a run | spike: cache.ttl_s=5 | - |",
                     "| C | fake#Just a request | request | - |") == []
    (problem,) = _problems("| A | fake#With a run | steady: cache.strategy=write_through | - |")
    assert "no run of 'steady' with cache.strategy=write_through" in problem
    (problem,) = _problems("| A | fake#With a run | spike: cache.strategy=cache_aside | - |")
    assert "no run of 'spike'" in problem and "runs: spike, steady" in problem
    (problem,) = _problems("| A | fake#With a run | steady: cache.ttl_s=5, "
                           "cache.strategy=cache_aside | - |")
    assert "no run of 'steady'" in problem  # both switches must be in the same run


def test_a_value_with_commas_is_one_switch() -> None:
    assert _assignments("db.indexes=a.b,c.d, cache.ttl_s=5") == ["db.indexes=a.b,c.d",
                                                                 "cache.ttl_s=5"]


def test_a_switch_the_lesson_never_sets_is_caught() -> None:
    (problem,) = _problems("| A | fake#With a run | steady: dns.cache=true | - |")
    assert "never sets dns.cache" in problem


def test_request_needs_a_request_in_the_lesson() -> None:
    other = parse_lesson(FAKE_TEXT.split("## Just a request")[0], "other.md")
    rows, _ = table_rows(TABLE.format(rows="| A | fake#With a run | request | - |"))
    (problem,) = check_rows(rows, [other], EXERCISE_FOLDERS)
    assert "neither the step nor its lesson sends a request" in problem


def test_a_concept_twice_is_named_with_its_first_line() -> None:
    problems = _problems(f"| Thing | {REF} | - | - |", f"| thing | {REF} | - | - |")
    assert len(problems) == 1 and "'thing' is already on line 7" in problems[0], problems


def test_a_missing_heading_or_header_is_reported() -> None:
    assert "exactly one '## Coverage'" in table_rows("# Writing lessons\n")[1][0]
    _, problems = table_rows("## Coverage\n\n| a | b | c | d |\n")
    assert any("needs the header" in p for p in problems), problems


def test_a_lesson_without_a_row_is_named() -> None:
    rows, _ = table_rows(TABLE.format(rows="| Thing | caching#Cache-aside | - | - |"))
    missing = _lessons_without_rows(rows, LESSONS)
    assert len(missing) == len(LESSONS) - 1 and "lesson caching " not in " ".join(missing)
    assert any("lesson security (06-security.md)" in m for m in missing)
