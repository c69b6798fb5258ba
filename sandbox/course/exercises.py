"""Exercises: one folder each, a piece of the sandbox for the student to write.

    exercises/07-token-bucket/
        exercise.toml          the manifest: title, topic, lesson, files, hints, time limit
        README.md              the task, in plain words
        token_bucket.py        the student's file: a stub with TODO markers (edited in place)
        test_token_bucket.py   graded tests; `@pytest.mark.points(N)` on each
        hidden/test_*.py       hidden tests: run only by `sandbox exercises grade`
        solution/token_bucket.py   the reference solution (instructors only)
        plug_adapter.py        optional (`adapter = ...`): fits the student's code to its plug point

The stub is derived from the solution: every `# BEGIN SOLUTION` ... `# END SOLUTION` block
becomes its `# TODO` lines plus either its `# STUB: code` lines (uncommented) or a
`raise NotImplementedError`. So the solution is the one source; `verify` proves the shipped
stub is exactly what the solution derives, and `reset` can always restore it.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.course.folders import FOLDER as _FOLDER
from sandbox.course.folders import MANIFEST, folder_named
from sandbox.course.folders import default_root as default_root  # re-exported
from sandbox.errors import SandboxError

if TYPE_CHECKING:
    import ast

    from sandbox.course.progress import ProgressStore

DEFAULT_TIME_LIMIT_S = 10.0
DEFAULT_FORBID_REASON = "this exercise asks you to write what it does yourself"
# What the grader's worker runs from: forbidding these would stop the grader, not the student.
NEVER_FORBIDDEN = ("sandbox", "sandbox.grading")
STARTER_DIR = ".starter"  # pristine stubs in a released bundle, which has no solutions
BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
_KNOWN_KEYS = {"title", "topic", "lesson", "files", "hints", "time_limit_s", "plug", "summary",
               "adapter", "forbidden_imports"}


class ExerciseError(SandboxError):
    """An exercise folder is broken; the message names the file and what to fix."""


class UnknownExercise(ExerciseError):
    """No exercise has the name given (a usage error: exit code 2)."""


@dataclass(frozen=True)
class GradedTest:
    """One graded test function, found by reading the test file (nothing is imported)."""

    file: str  # relative to the exercise folder, e.g. "test_token_bucket.py"
    name: str  # the function's name
    points: float
    hidden: bool
    doc: str = ""
    line: int = 0  # where the function starts in its file

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"


@dataclass
class Exercise:
    """One exercise, as its folder and manifest describe it."""

    folder: Path
    order: int
    name: str  # "token-bucket": the folder name without its number
    title: str
    topic: int
    lesson: str
    files: list[str]
    hints: list[str]
    time_limit_s: float = DEFAULT_TIME_LIMIT_S
    plug: str = ""  # the sandbox part the student's code replaces, if it plugs into one
    summary: str = ""
    adapter: str = ""  # the instructor's file fitting the student's code to the plug point
    # Modules the student's code may not import, {module: why} (sandbox/grading/forbid.py).
    forbidden_imports: dict[str, str] = field(default_factory=dict)
    tests: list[GradedTest] = field(default_factory=list)
    tests_pending: bool = False  # loaded without reading its tests yet (see load_exercise)

    def read_tests(self) -> None:
        """Read the graded tests now, if `load_exercise(..., read_tests=False)` left them."""
        if self.tests_pending:
            self.tests, _ = find_graded_tests(self.folder)
            self.tests_pending = False

    @property
    def points(self) -> float:
        return sum(t.points for t in self.tests)

    @property
    def visible_points(self) -> float:
        return sum(t.points for t in self.tests if not t.hidden)

    def student_path(self, file: str) -> Path:
        return self.folder / file

    @property
    def adapter_path(self) -> Path | None:
        """The adapter file in the exercise's own folder (never the student's copy)."""
        return self.folder / self.adapter if self.adapter else None

    def solution_path(self, file: str) -> Path:
        return self.folder / "solution" / file

    @property
    def has_solution(self) -> bool:
        return all(self.solution_path(f).is_file() for f in self.files)

    def pristine_stub(self, file: str) -> str:
        """The stub as shipped: derived from the solution, or a bundle's saved starter copy."""
        if self.solution_path(file).is_file():
            return derive_stub(self.solution_path(file).read_text(encoding="utf-8"),
                               str(self.solution_path(file)))
        starter = self.folder / STARTER_DIR / file
        if starter.is_file():
            return starter.read_text(encoding="utf-8")
        raise ExerciseError(f"{self.folder}: no solution/{file} or {STARTER_DIR}/{file} to "
                            "restore the stub from")

    def is_untouched(self) -> bool:
        """True while every student file is still exactly the shipped stub."""
        try:
            return all(self.student_path(f).read_text(encoding="utf-8") == self.pristine_stub(f)
                       for f in self.files)
        except (OSError, ExerciseError):
            return False

    def fingerprint(self) -> str:
        """A hash of the student's files, to know whether a saved result is still current."""
        digest = hashlib.sha256()
        for file in self.files:
            try:
                digest.update(self.student_path(file).read_bytes())
            except OSError:
                digest.update(b"<missing>")
        return digest.hexdigest()[:16]


def derive_stub(solution: str, where: str = "<solution>") -> str:
    """The student's stub from a solution with `# BEGIN SOLUTION` / `# END SOLUTION` blocks."""
    out: list[str] = []
    block: list[str] | None = None
    indent = ""
    begin_line = 0
    for number, line in enumerate(solution.splitlines(keepends=True), start=1):
        stripped = line.strip()
        if stripped == BEGIN:
            if block is not None:
                raise ExerciseError(f"{where}:{number}: '{BEGIN}' inside another block")
            block, indent, begin_line = [], line[: len(line) - len(line.lstrip())], number
        elif stripped == END:
            if block is None:
                raise ExerciseError(f"{where}:{number}: '{END}' without a '{BEGIN}'")
            out.extend(_stub_for(block, indent))
            block = None
        elif block is not None:
            block.append(line)
        else:
            out.append(line)
    if block is not None:
        raise ExerciseError(f"{where}:{begin_line}: '{BEGIN}' is never closed by '{END}'")
    return "".join(out)


def _stub_for(block: list[str], indent: str) -> list[str]:
    todos = [line for line in block if line.strip().startswith("# TODO")]
    stub = [indent + line.strip()[len("# STUB:"):].strip() + "\n"
            for line in block if line.strip().startswith("# STUB:")]
    if not stub:
        stub = [f'{indent}raise NotImplementedError("not written yet: see the TODO above")\n']
    return [indent + line.strip() + "\n" for line in todos] + stub


def has_solution_markers(text: str) -> bool:
    return any(line.strip() == BEGIN for line in text.splitlines())


def find_graded_tests(folder: Path) -> tuple[list[GradedTest], list[str]]:
    """Graded test functions in `test_*.py` (visible) and `hidden/test_*.py`, and problems."""
    import ast

    tests: list[GradedTest] = []
    problems: list[str] = []
    files = [(p, False) for p in sorted(folder.glob("test_*.py"))]
    files += [(p, True) for p in sorted((folder / "hidden").glob("test_*.py"))]
    for path, hidden in files:
        rel = path.relative_to(folder).as_posix()
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError, OSError) as exc:
            problems.append(f"{path}: cannot be read as Python ({exc})")
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and \
                    node.name.startswith("test"):
                points = _points_of(node)
                if points is None:
                    problems.append(f"{path}:{node.lineno}: {node.name} has no "
                                    "@pytest.mark.points(N) (every graded test is worth points)")
                    continue
                tests.append(GradedTest(rel, node.name, points, hidden,
                                        (ast.get_docstring(node) or "").strip(), node.lineno))
    return tests, problems


def _points_of(node: ast.FunctionDef | ast.AsyncFunctionDef) -> float | None:
    import ast
    for deco in node.decorator_list:
        if (isinstance(deco, ast.Call)
                and ast.unparse(deco.func) in {"pytest.mark.points", "mark.points", "points"}
                and deco.args and isinstance(deco.args[0], ast.Constant)
                and isinstance(deco.args[0].value, int | float)):
            return float(deco.args[0].value)
    return None


def read_forbidden_imports(value: Any) -> dict[str, str]:
    """The manifest's `forbidden_imports` (a list of module names, or a table of name = reason)
    as {module: reason}; ValueError says what is wrong with it."""
    if isinstance(value, list):
        value = {name: DEFAULT_FORBID_REASON for name in value} if all(
            isinstance(n, str) for n in value) else None
    if not isinstance(value, dict):
        raise ValueError("'forbidden_imports' is a list of module names, e.g. "
                         "[\"prometheus_client\"], or a table of module = \"why\"")
    found: dict[str, str] = {}
    for name, reason in value.items():
        if not all(part.isidentifier() for part in name.split(".")):
            raise ValueError(f"'forbidden_imports': {name!r} is not a module name")
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"'forbidden_imports': the reason for {name} must be a sentence")
        if name in NEVER_FORBIDDEN or name.startswith("sandbox.grading."):
            raise ValueError(f"'forbidden_imports': {name} cannot be forbidden: the grader "
                             "runs the student's code with it")
        found[name] = reason.strip()
    return found


def load_exercise(folder: Path, *, read_tests: bool = True) -> Exercise:
    """Read one exercise folder; ExerciseError says what is wrong and how to fix it.

    `read_tests=False` leaves the test files unread (`check` starts their process first).
    """
    folder = folder.resolve()
    match = _FOLDER.match(folder.name)
    if match is None:
        raise ExerciseError(f"{folder}: an exercise folder is named NN-name (for example "
                            "07-token-bucket), lower case")
    manifest_path = folder / MANIFEST
    try:
        data: dict[str, Any] = tomllib.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExerciseError(f"{folder}: no {MANIFEST}; `sandbox exercises new NAME` "
                            "scaffolds one") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ExerciseError(f"{manifest_path}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - _KNOWN_KEYS)
    if unknown:
        raise ExerciseError(f"{manifest_path}: unknown key(s) {', '.join(unknown)}; the keys "
                            f"are {', '.join(sorted(_KNOWN_KEYS))}")

    def need(key: str, kind: type | tuple[type, ...], what: str) -> Any:
        value = data.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ExerciseError(f"{manifest_path}: '{key}' must be {what}")
        return value

    title = need("title", str, "a short title, e.g. title = \"Token bucket\"")
    topic = need("topic", int, "the curriculum topic number, 1 to 16")
    lesson = need("lesson", str, "the id of the lesson it belongs to")
    files = need("files", list, "a list of the student's files, e.g. [\"token_bucket.py\"]")
    hints = need("hints", list, "a list of at least two hints, gentlest first")
    limit = data.get("time_limit_s", DEFAULT_TIME_LIMIT_S)
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not 0 < limit <= 300:
        raise ExerciseError(f"{manifest_path}: 'time_limit_s' must be a number of seconds "
                            "between 0 and 300")
    if not files or not all(isinstance(f, str) and f.endswith(".py") and "/" not in f
                            for f in files):
        raise ExerciseError(f"{manifest_path}: 'files' lists Python files in the exercise "
                            "folder, e.g. [\"token_bucket.py\"]")
    if len(hints) < 2 or not all(isinstance(h, str) and h.strip() for h in hints):
        raise ExerciseError(f"{manifest_path}: 'hints' needs at least two non-empty hints, "
                            "gentlest first")
    adapter = data.get("adapter", "")
    if not isinstance(adapter, str) or (adapter and (
            not adapter.endswith(".py") or "/" in adapter or "\\" in adapter
            or adapter in files or not data.get("plug"))):
        raise ExerciseError(f"{manifest_path}: 'adapter' names a Python file in the exercise "
                            "folder (e.g. \"plug_adapter.py\"), not one of the student's files, "
                            "and needs a 'plug'")
    try:
        forbidden = read_forbidden_imports(data.get("forbidden_imports", []))
    except ValueError as exc:
        raise ExerciseError(f"{manifest_path}: {exc}") from None
    exercise = Exercise(
        folder=folder, order=int(match.group(1)), name=match.group(2), title=title,
        topic=topic, lesson=lesson, files=list(files), hints=[h.strip() for h in hints],
        time_limit_s=float(limit), plug=str(data.get("plug", "")),
        summary=str(data.get("summary", "")), adapter=adapter, forbidden_imports=forbidden,
    )
    if not read_tests:
        exercise.tests_pending = True
        return exercise
    exercise.tests, problems = find_graded_tests(folder)
    if problems:
        raise ExerciseError(f"{folder.name}: " + "; ".join(problems))
    return exercise


def load_exercises(root: Path) -> tuple[list[Exercise], list[ExerciseError]]:
    """Every exercise under `root`, in order, and every broken folder (which never stops
    the others from loading)."""
    exercises: list[Exercise] = []
    errors: list[ExerciseError] = []
    if not root.is_dir():
        return [], [ExerciseError(f"{root}: no such folder of exercises")]
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and (p / MANIFEST).exists()):
        try:
            exercises.append(load_exercise(folder))
        except ExerciseError as exc:
            errors.append(exc)
    names: dict[str, Path] = {}
    for exercise in exercises:
        if exercise.name in names:
            errors.append(ExerciseError(f"{exercise.folder}: the name '{exercise.name}' is "
                                        f"already used by {names[exercise.name]}"))
        names[exercise.name] = exercise.folder
    exercises.sort(key=lambda e: (e.order, e.name))
    return exercises, errors


def find_folder(root: Path, name: str) -> Path:
    """The folder of exercise `name` without loading the others; UnknownExercise if none."""
    folder = folder_named(root, name)
    if folder is None:
        raise UnknownExercise(f"no exercise called '{name}'")
    return folder


def find(exercises: list[Exercise], name: str) -> Exercise:
    """The exercise called `name` ("token-bucket", "07-token-bucket" or "7")."""
    for exercise in exercises:
        if name in {exercise.name, exercise.folder.name, str(exercise.order)}:
            return exercise
    import difflib

    close = difflib.get_close_matches(name, [e.name for e in exercises], n=1)
    tip = f" Did you mean '{close[0]}'?" if close else ""
    raise UnknownExercise(f"no exercise called '{name}'.{tip} `sandbox exercises list` shows "
                        "them all")


# -- where a learner stands -------------------------------------------------------------------


def status(exercise: Exercise, store: ProgressStore) -> tuple[str, str]:
    """(status, points) for the list: done, failing, changed, not started."""
    last = store.exercise_checks().get(exercise.name)
    if last is not None and last.fingerprint == exercise.fingerprint():
        points = f"{last.score:g}/{last.max_score:g}"
        return ("done" if last.passed else "failing"), points
    if exercise.is_untouched():
        return "not started", f"-/{exercise.visible_points:g}"
    return "changed", f"-/{exercise.visible_points:g}"


def current(exercises: list[Exercise], store: ProgressStore) -> Exercise:
    """The first exercise not done yet (or the last one when all are)."""
    for exercise in exercises:
        if status(exercise, store)[0] != "done":
            return exercise
    return exercises[-1]
