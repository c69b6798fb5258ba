"""The instructor's loop: scaffold an exercise, verify the whole set, release a student bundle.

`verify` is what makes an exercise trustworthy: its reference solution passes every test, and
its stub, exactly as the solution derives it, fails every test. A test that passes on the
stub cannot tell a student's right answer from no answer at all, so it is reported as a defect.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.course.exercises import (
    STARTER_DIR,
    Exercise,
    ExerciseError,
    derive_stub,
    has_solution_markers,
    load_exercises,
)
from sandbox.course.folders import MANIFEST
from sandbox.grading.runner import ExerciseResult, run_exercise

TOPICS = range(1, 17)


@dataclass
class Verification:
    exercise: Exercise | None
    name: str
    problems: list[str] = field(default_factory=list)
    solution: ExerciseResult | None = None
    stub: ExerciseResult | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def adapter_problems(exercise: Exercise) -> list[str]:
    """An adapter file is there, defines `adapt`, and its plug point takes adapters (read,
    not imported: `verify` runs no instructor code outside the test process)."""
    import ast

    from sandbox.plugs import ADAPT, plug_points

    path = exercise.adapter_path
    if path is None or not path.is_file():
        return [f"adapter {exercise.adapter} is missing from the exercise folder"]
    if plug_points()[exercise.plug].wrap is None:
        return [f"the '{exercise.plug}' plug point takes no adapter; leave 'adapter' out"]
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError) as exc:
        return [f"adapter {exercise.adapter} cannot be read as Python ({exc})"]
    if not any(isinstance(node, ast.FunctionDef) and node.name == ADAPT for node in tree.body):
        return [f"adapter {exercise.adapter} defines no `def {ADAPT}(sandbox, student_module)`"]
    return []


def check_files(exercise: Exercise, lesson_ids: set[str] | None) -> list[str]:
    """Manifest and files agree: everything named exists, the stub is what the solution derives."""
    problems: list[str] = []
    if not (exercise.folder / "README.md").is_file():
        problems.append("README.md (the task) is missing")
    if exercise.topic not in TOPICS:
        problems.append(f"topic {exercise.topic} is not a curriculum topic (1 to 16)")
    if lesson_ids is not None and exercise.lesson not in lesson_ids:
        problems.append(f"lesson '{exercise.lesson}' is not a lesson id")
    if exercise.plug:
        from sandbox.plugs import plug_points

        if exercise.plug not in plug_points():
            problems.append(f"plug '{exercise.plug}' is not a plug point "
                            f"({', '.join(sorted(plug_points()))})")
        elif exercise.adapter:
            problems.extend(adapter_problems(exercise))
    for test in exercise.tests:
        if not test.doc:
            problems.append(f"{exercise.folder / test.file}:{test.line}: {test.name} has no "
                            "docstring; write one line saying what it checks (the student "
                            "sees it when the test fails)")
    if not any(not t.hidden for t in exercise.tests):
        problems.append("no visible graded test (test_*.py with @pytest.mark.points)")
    for file in exercise.files:
        solution = exercise.solution_path(file)
        if not solution.is_file():
            problems.append(f"solution/{file} is missing")
            continue
        text = solution.read_text(encoding="utf-8")
        if not has_solution_markers(text):
            problems.append(f"solution/{file} has no '# BEGIN SOLUTION' block, so the stub "
                            "would be the whole answer")
            continue
        try:
            stub = derive_stub(text, str(solution))
        except ExerciseError as exc:
            problems.append(str(exc))
            continue
        student = exercise.student_path(file)
        if not student.is_file():
            problems.append(f"{file} (the student's stub) is missing; `sandbox exercises "
                            "verify --write-stubs` writes it")
        elif student.read_text(encoding="utf-8") != stub:
            problems.append(f"{file} differs from the stub the solution derives (edited by hand, "
                            "or the solution changed); `sandbox exercises verify --write-stubs` "
                            "rewrites it")
    return problems


def verify_exercise(exercise: Exercise, lesson_ids: set[str] | None) -> Verification:
    found = Verification(exercise, exercise.name, check_files(exercise, lesson_ids))
    if not exercise.has_solution:
        return found
    with tempfile.TemporaryDirectory(prefix=f"stub-{exercise.name}-") as tmp:
        for file in exercise.files:
            try:
                (Path(tmp) / file).write_text(exercise.pristine_stub(file), encoding="utf-8")
            except ExerciseError as exc:
                found.problems.append(str(exc))
                return found
        found.stub = run_exercise(exercise, hidden=True, student_dir=Path(tmp))
    found.solution = run_exercise(exercise, hidden=True, student_dir=exercise.folder / "solution")
    for outcome in found.solution.outcomes:
        if not outcome.passed:
            found.problems.append(f"the solution fails {outcome.test.id}: {outcome.summary}: "
                                  f"{outcome.detail[:300]}")
    if found.solution.problem:
        found.problems.append(f"running the solution: {found.solution.problem}")
    for outcome in found.stub.outcomes:
        if outcome.passed:
            found.problems.append(f"{outcome.test.id} passes on the stub: a test that cannot "
                                  "fail tells the student nothing")
    return found


def verify_all(root: Path, lesson_ids: set[str] | None, jobs: int = 2,
               progress: Callable[[Verification], None] | None = None,
               only: set[str] | None = None) -> list[Verification]:
    exercises, errors = load_exercises(root)
    if only is not None:
        exercises, errors = [e for e in exercises if e.name in only], []
    results = [Verification(None, str(e).split(": ", 1)[0],
                            str(e).split(": ", 1)[-1].split("; ")) for e in errors]
    if not exercises and not errors:
        results.append(Verification(None, str(root), ["no exercises found"]))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for found in pool.map(lambda e: verify_exercise(e, lesson_ids), exercises):
            if progress:
                progress(found)
            results.append(found)
    return results


def write_stubs(exercise: Exercise) -> list[Path]:
    """Rewrite the student's files from the solution (the instructor's fix for a stale stub)."""
    written = []
    for file in exercise.files:
        if exercise.solution_path(file).is_file():
            path = exercise.student_path(file)
            path.write_text(exercise.pristine_stub(file), encoding="utf-8")
            written.append(path)
    return written


def release(root: Path, target: Path, *, hidden: bool = False,
            only: set[str] | None = None) -> list[Exercise]:
    """Write the student bundle to `target`: stubs, visible tests, hints, task texts; never a
    solution, and no hidden test unless `hidden` (an autograder's copy, which students never
    see). `only`: just these exercises. Refuses a folder that already has files in it."""
    exercises, errors = load_exercises(root)
    if only is not None:
        exercises = [e for e in exercises if e.name in only or e.folder.name in only]
    if errors:
        raise ExerciseError("fix these first (`sandbox exercises verify`): "
                            + "; ".join(str(e) for e in errors))
    if target.exists() and any(target.iterdir()):
        raise ExerciseError(f"{target} is not empty; give a new folder for the bundle")
    target.mkdir(parents=True, exist_ok=True)
    for name in ("pytest.ini", "README.md"):
        if (root / name).is_file():
            shutil.copy2(root / name, target / name)
    for exercise in exercises:
        dest = target / exercise.folder.name
        dest.mkdir()
        for item in sorted(exercise.folder.iterdir()):
            left_out = {"solution", STARTER_DIR, "__pycache__"} | (set() if hidden else {"hidden"})
            if item.name in left_out or \
                    item.name in exercise.files:
                continue
            if item.is_dir():
                shutil.copytree(item, dest / item.name,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif item.suffix != ".pyc":
                shutil.copy2(item, dest / item.name)
        (dest / STARTER_DIR).mkdir()
        for file in exercise.files:
            stub = exercise.pristine_stub(file)  # the stub as shipped, never a working copy
            (dest / file).write_text(stub, encoding="utf-8")
            (dest / STARTER_DIR / file).write_text(stub, encoding="utf-8")
    return exercises


SCAFFOLD_MANIFEST = '''title = "{title}"
topic = {topic}
lesson = "{lesson}"
summary = "One sentence: what the student builds."
files = ["{module}.py"]
time_limit_s = 10
# To run the student's class inside the sandbox (the gateway's rate limiter, say), name a
# plug point; exercises/README.md, "Plug points", lists them and the shape each expects.
# plug = "ratelimit"
hints = [
    "The gentlest hint: where to look.",
    "A stronger hint: what the code has to do, step by step.",
]
# A library that would do the exercise's work for the student can be forbidden (README,
# "The manifest"): forbidden_imports = ["pyrate_limiter"]
'''

SCAFFOLD_README = '''# {title}

What this piece of the backend does, and why it matters (in your own words).

## Your task

In `{module}.py`, finish `answer()`.

## How it is graded

What the tests check, and how the sandbox runs the student's code.
'''

SCAFFOLD_SOLUTION = '''"""{title}: finish `answer()` below, then run
`sandbox exercises check {name}` to see how far you are."""


def answer() -> int:
    """The answer the tests expect (say here what the function must do)."""
    # BEGIN SOLUTION
    # The reference answer: everything between the markers is left out of the student's stub.
    # TODO: return the answer
    return 42
    # END SOLUTION
'''

SCAFFOLD_TEST = '''"""Graded tests for {title}."""

from types import ModuleType

import pytest


@pytest.mark.points(1)
def test_the_answer(student: ModuleType) -> None:
    """One sentence on what this test checks, shown to the student when it fails."""
    assert student.answer() == 42, "the answer should be 42"
'''

SCAFFOLD_HIDDEN = '''"""Hidden tests for {title}: run only by `sandbox exercises grade`, never shown."""

from types import ModuleType

import pytest


@pytest.mark.points(1)
def test_the_answer_is_the_same_every_time(student: ModuleType) -> None:
    """The answer does not change from one call to the next."""
    assert [student.answer() for _ in range(3)] == [42] * 3, "call answer() three times"
'''


def scaffold(root: Path, name: str, topic: int, lesson: str) -> Path:
    """A new exercise folder that `verify` accepts as it stands: edit it from there."""
    import re

    if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        raise ExerciseError(f"'{name}': an exercise name is lower case letters, digits and "
                            "dashes, for example token-bucket")
    root.mkdir(parents=True, exist_ok=True)
    exercises, _ = load_exercises(root)
    if any(e.name == name for e in exercises):
        raise ExerciseError(f"an exercise called '{name}' already exists")
    number = max((e.order for e in exercises), default=0) + 1
    folder = root / f"{number:02d}-{name}"
    module = name.replace("-", "_")
    title = name.replace("-", " ").capitalize()
    values = {"title": title, "topic": topic, "lesson": lesson, "module": module, "name": name}
    (folder / "solution").mkdir(parents=True)
    (folder / "hidden").mkdir()
    (folder / "hidden" / f"test_{module}_hidden.py").write_text(SCAFFOLD_HIDDEN.format(**values),
                                                                encoding="utf-8")
    (folder / MANIFEST).write_text(SCAFFOLD_MANIFEST.format(**values), encoding="utf-8")
    (folder / "README.md").write_text(SCAFFOLD_README.format(**values), encoding="utf-8")
    solution = SCAFFOLD_SOLUTION.format(**values)
    (folder / "solution" / f"{module}.py").write_text(solution, encoding="utf-8")
    (folder / f"{module}.py").write_text(derive_stub(solution), encoding="utf-8")
    (folder / f"test_{module}.py").write_text(SCAFFOLD_TEST.format(**values), encoding="utf-8")
    return folder
