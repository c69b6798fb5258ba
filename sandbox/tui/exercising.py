"""The exercise view's logic: the course at a glance, where to resume, and the learner's own
code plugged into a playground run.

No Textual here: the home and exercise screens call these, and the tests check them directly.
Student code is untrusted in the friendliest sense (it may loop forever or raise anything), so
whatever runs it here runs through `run_guarded`: in a daemon thread the app can walk away
from, with a time limit on silence.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from sandbox.course.exercises import Exercise, ExerciseError
from sandbox.course.lessons import Lesson, LessonError
from sandbox.course.progress import ProgressStore
from sandbox.errors import SandboxError
from sandbox.settings import Settings

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

T = TypeVar("T")

STATE_STYLE = {"done": "green", "failing": "red", "changed": "yellow", "not started": "dim"}
STATE_MARK = {"done": "✓", "failing": "✗", "changed": "✎", "not started": "·"}


# -- the course at a glance ------------------------------------------------------------------


@dataclass(frozen=True)
class ExerciseRow:
    """One exercise as the home screen lists it."""

    exercise: Exercise
    state: str  # done, failing, changed, not started
    points: str  # "7/10", or "-/10" before the first check


@dataclass(frozen=True)
class Resume:
    """Where "resume" goes: a lesson at a step, an exercise, or (a new learner) the first lesson."""

    kind: str  # "lesson" or "exercise"
    target: str  # the lesson id or the exercise name
    label: str  # what the home screen says, e.g. "Caching · step 3 of 6"


@dataclass
class Course:
    """Everything the home screen shows, read in one go (in a worker: it reads many files)."""

    lessons: list[Lesson] = field(default_factory=list)
    lesson_errors: list[LessonError] = field(default_factory=list)
    exercises: list[ExerciseRow] = field(default_factory=list)
    exercise_errors: list[ExerciseError] = field(default_factory=list)
    exercises_root: Path | None = None
    resume: Resume | None = None
    steps_done: dict[str, int] = field(default_factory=dict)  # lesson id -> steps done

    def points(self) -> tuple[float, float]:
        """(points scored in the last checks, visible points there are)."""
        scored = total = 0.0
        for row in self.exercises:
            got, _, most = row.points.partition("/")
            scored += float(got) if got not in ("", "-") else 0.0
            total += float(most or 0)
        return scored, total

    def exercise(self, name: str) -> ExerciseRow | None:
        return next((r for r in self.exercises if r.exercise.name == name), None)

    def lesson(self, lesson_id: str) -> Lesson | None:
        return next((lesson for lesson in self.lessons if lesson.id == lesson_id), None)


def exercise_rows(exercises: list[Exercise], store: ProgressStore | None) -> list[ExerciseRow]:
    from sandbox.course.exercises import status

    rows = []
    for exercise in exercises:
        if store is None:
            state = "not started" if exercise.is_untouched() else "changed"
            points = f"-/{exercise.visible_points:g}"
        else:
            state, points = status(exercise, store)
        rows.append(ExerciseRow(exercise, state, points))
    return rows


def load_course(lessons_root: Path, exercises_root: Path,
                store: ProgressStore | None) -> Course:
    """Read the lessons, the exercises and the learner's progress on both."""
    from sandbox.course.exercises import load_exercises
    from sandbox.course.lessons import load_lessons

    course = Course(exercises_root=exercises_root)
    try:
        course.lessons, course.lesson_errors = load_lessons(lessons_root)
    except OSError as exc:
        course.lesson_errors = [LessonError(str(lessons_root), 0, f"cannot be read: {exc}")]
    exercises, course.exercise_errors = load_exercises(exercises_root)
    course.exercises = exercise_rows(exercises, store)
    if store is not None:
        for lesson in course.lessons:
            done = store.lesson(lesson.id).steps_done
            course.steps_done[lesson.id] = len({s for s in done if 0 <= s < len(lesson.steps)})
    course.resume = resume_target(course, store)
    return course


def resume_target(course: Course, store: ProgressStore | None) -> Resume | None:
    """The lesson or exercise the learner touched last (a new learner: the first lesson)."""
    from sandbox.tui.learning import resume_at

    lesson_id = store.last_lesson() if store else None
    lesson_at = store.last_lesson_at() if store else None
    checks = store.exercise_checks() if store else {}
    checked = max(((c.checked_at, name) for name, c in checks.items()
                   if course.exercise(name) is not None), default=None)
    lesson = course.lesson(lesson_id) if lesson_id else None
    if checked is not None and (lesson is None or lesson_at is None or checked[0] > lesson_at):
        row = course.exercise(checked[1])
        assert row is not None
        if row.state == "done":  # that one is finished: the next one not done
            row = next((r for r in course.exercises if r.state != "done"), row)
        return Resume("exercise", row.exercise.name,
                      f"exercise {row.exercise.order} · {row.exercise.title} ({row.state})")
    if lesson is not None and store is not None:
        step = resume_at(lesson, store.lesson(lesson.id))
        return Resume("lesson", lesson.id, f"lesson {lesson.topic} · {lesson.topic_name} · "
                      f"step {step + 1} of {len(lesson.steps)}")
    if course.lessons:
        first = course.lessons[0]
        return Resume("lesson", first.id,
                      f"start with lesson {first.topic} · {first.topic_name}")
    return None


def restore_stubs(exercise: Exercise) -> None:
    """Put the shipped stub back in every student file (all of them, or none: every stub is
    derived before anything is written)."""
    stubs = {file: exercise.pristine_stub(file) for file in exercise.files}
    for file, text in stubs.items():
        exercise.student_path(file).write_text(text, encoding="utf-8")


def hint_lines(exercise: Exercise, shown: int) -> list[str]:
    """The hints seen so far, numbered."""
    return [f"{n}. {text}" for n, text in enumerate(exercise.hints[:shown], start=1)]


# -- running the learner's code in the playground ---------------------------------------------


@dataclass(frozen=True)
class PlaygroundSetup:
    """How to show one plug point at work: the traffic, and the switches that make the
    sandbox use the plugged part (a token bucket only limits with the token bucket on)."""

    scenario: str
    requests: int
    settings: Mapping[str, Any]
    look: str  # where in the app the learner sees their code at work


PLAYGROUND_SETUPS: dict[str, PlaygroundSetup] = {
    "validation": PlaygroundSetup("steady", 3000, {}, "Requests: orders your code checked"),
    "balancer": PlaygroundSetup(
        "spike", 3000, {"topology.instances": 4, "topology.concurrency": 2},
        "Flow: how many requests each instance served"),
    "reviews": PlaygroundSetup("steady", 3000, {}, "Requests: the POST /products/…/reviews"),
    "order_history": PlaygroundSetup("steady", 3000, {}, "Metrics: db queries per request"),
    "cache_aside": PlaygroundSetup("steady", 3000, {"cache.strategy": "cache_aside"},
                                   "Metrics: the cache hit rate"),
    "jwt": PlaygroundSetup("steady", 3000, {"auth.mode": "jwt"},
                           "Requests: every signed-in call your check let in"),
    "ratelimit": PlaygroundSetup(
        "spike", 3000, {"ratelimit.algorithm": "token_bucket", "ratelimit.limit": 5},
        "Metrics: the 429s your limiter refused"),
    "errors": PlaygroundSetup("steady", 3000, {"faults.hop": "db", "faults.hop_error_rate": 0.05},
                              "Requests: the error responses your envelope wrote"),
    "keyset_page": PlaygroundSetup("steady", 3000, {}, "Requests: GET /products pages"),
    "order_consumer": PlaygroundSetup(
        "steady", 3000, {"queue.mode": "async", "faults.worker_crash_rate": 0.1,
                         "faults.poison_rate": 0.05},
        "Metrics: the queue's dead-lettered and lost jobs"),
    "monitoring": PlaygroundSetup("steady", 3000,
                                  {"faults.hop": "app", "faults.hop_error_rate": 0.05},
                                  "Metrics: the 5xx your alert watched"),
    "readiness": PlaygroundSetup(
        "steady", 3000, {"deploy.rolling_restart": True, "deploy.readiness_check": True,
                         "lb.health_check_s": 0.5, "deploy.drain_s": 1.0,
                         "deploy.warmup_s": 1.0},
        "Flow: instances restarting while traffic flows"),
    "replica": PlaygroundSetup("steady", 3000, {"db.read_replica": True,
                                                "db.replica_lag_ms": 1000},
                               "Flow: reads your router sent to the replica"),
    "breaker": PlaygroundSetup(
        "steady", 1000, {"faults.hop": "db", "faults.hop_latency_ms": 5000,
                         "resilience.timeout_ms": 300, "resilience.breaker": True,
                         "resilience.breaker_threshold": 5, "resilience.breaker_reset_s": 0.5},
        "Metrics: fast 503s once your breaker opens"),
    "idempotency": PlaygroundSetup("steady", 3000, {}, "Requests: POST /orders"),
    "canary": PlaygroundSetup(
        "steady", 3000, {"deploy.release": True, "deploy.strategy": "canary",
                         "deploy.bad_release": "errors", "deploy.canary_s": 1.0},
        "Metrics: the deploy, its errors by version and the rollback"),
    "outbox": PlaygroundSetup("orders", 1000, {"queue.mode": "async"},
                              "Metrics: queue pub/done, and dead / lost"),
    "batch_loader": PlaygroundSetup("graphql", 1000, {"graphql.loader": "batched"},
                                    "Metrics: db queries per GraphQL request"),
    "lru_cache": PlaygroundSetup(
        "steady", 3000, {"cache.strategy": "cache_aside", "cache.max_entries": 50},
        "Metrics: the hit rate of your cache"),
    "stock": PlaygroundSetup("flash_sale", 300, {}, "Metrics: units the flash sale oversold"),
    "retry": PlaygroundSetup(
        "steady", 1000, {"faults.hop": "db", "faults.hop_error_rate": 0.05,
                         "resilience.retries": 3},
        "Requests: the 503s left after your retries"),
}
DEFAULT_SETUP = PlaygroundSetup("steady", 3000, {}, "Flow and Metrics")


def playground_setup(exercise: Exercise) -> PlaygroundSetup | None:
    """The run that shows this exercise's code at work; None when it plugs into nothing."""
    if not exercise.plug:
        return None
    return PLAYGROUND_SETUPS.get(exercise.plug, DEFAULT_SETUP)


def not_pluggable_reason(exercise: Exercise) -> str:
    return (f"“{exercise.title}” is not a part of the sandbox (it has no plug point), so there "
            "is nothing of yours to serve traffic: check it instead")


_load_counter = itertools.count(1)


class PluggedCode:
    """The learner's module, put into every playground sandbox at its plug point.

    When the file changes on disk, the next sandbox loads it afresh: edit, save, and the next
    run in the playground is the new code.
    """

    def __init__(self, exercise: Exercise) -> None:
        self.exercise = exercise.name
        self.plug = exercise.plug
        self.adapter = exercise.adapter_path
        self.path = exercise.student_path(exercise.files[0])  # the student's file
        self.forbidden = dict(exercise.forbidden_imports)  # what the grader will refuse
        self.module: ModuleType | None = None
        self._loaded_from: tuple[int, int] | None = None  # the file's (mtime, size) when loaded

    @property
    def label(self) -> str:
        return f"your {self.path.name}"

    def _stamp(self) -> tuple[int, int]:
        stat = self.path.stat()
        return stat.st_mtime_ns, stat.st_size

    def load(self) -> ModuleType:
        """Import the file if it is new or changed (this runs their top-level code: call it
        from a guarded thread)."""
        from sandbox.grading.forbid import ForbiddenImport, first_use
        from sandbox.grading.plugin import load_student_module

        stamp = self._stamp()
        if self.module is None or stamp != self._loaded_from:
            source = self.path.read_text(encoding="utf-8", errors="replace")
            used = first_use(source, None, self.forbidden)  # before any of it runs
            if used:
                raise ForbiddenImport(used)
            unique = f"playground_{self.exercise.replace('-', '_')}_{next(_load_counter)}"
            module = load_student_module(self.path, unique)
            used = first_use(source, module, self.forbidden)
            if used:
                sys.modules.pop(unique, None)
                raise ForbiddenImport(used)
            if self.module is not None:
                sys.modules.pop(self.module.__name__, None)
            self.module, self._loaded_from = module, stamp
        return self.module

    def build(self, settings: Settings, seed: int) -> Sandbox:
        """A fresh sandbox with these switches and the learner's part plugged in."""
        from sandbox.plugs import install
        from sandbox.runtime import Sandbox

        module = self.load()
        sandbox = Sandbox(settings, seed=seed)
        try:
            install(sandbox, self.plug, module, self.adapter)
        except BaseException:
            sandbox.close()
            raise
        return sandbox

    def explain(self, exc: BaseException) -> str:
        return explain_error(exc, self.path)


def load_plugged(exercise: Exercise) -> PluggedCode:
    """The learner's code for `exercise`, imported once now, so that an error in it shows
    before the playground opens."""
    plugged = PluggedCode(exercise)
    plugged.load()
    return plugged


def explain_error(exc: BaseException, path: Path) -> str:
    """What went wrong in the learner's code, in plain words, with the line of their file."""
    from sandbox.plugs import PlugError

    kind = type(exc).__name__
    message = str(exc).strip()
    where = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        try:
            if Path(frame.filename).resolve() == path.resolve():
                where = f" (at {path.name}:{frame.lineno}: {(frame.line or '').strip()})"
        except (OSError, ValueError):
            continue
    if isinstance(exc, SyntaxError):
        line = f" line {exc.lineno}" if exc.lineno else ""
        return f"{path.name} has a syntax error at{line}: {exc.msg}. Python cannot read the file."
    if isinstance(exc, PlugError):
        return f"your code does not fit the sandbox yet: {message}"
    if isinstance(exc, NotImplementedError):
        return ("your code is not written yet: it still raises NotImplementedError" + where
                + ". Replace the stub under the TODO, then run it again.")
    if isinstance(exc, ImportError):
        return f"an import in {path.name} failed: {message}" + where
    if isinstance(exc, RecursionError):
        return "your code kept calling itself until Python stopped it" + where
    if isinstance(exc, SystemExit):
        return f"your code called sys.exit(){where}: it must return or raise instead"
    if isinstance(exc, StudentCodeStalled):
        return message
    if not where:  # not in their file: the sandbox's own message says it best
        if isinstance(exc, SandboxError) or not message:
            return message or kind
        return f"{kind}: {message}"
    return f"your code raised {kind}{where}" + (f": {message}" if message else "")


class StudentCodeStalled(SandboxError):
    """The learner's code went silent for too long (an endless loop, most likely)."""


class StudentCodeCancelled(SandboxError):
    """The wait for the learner's code was cancelled (the run was, or the app is quitting)."""


def run_guarded(work: Callable[[Callable[[], None]], T], *, silence_s: float,
                cancelled: Callable[[], bool] = lambda: False, what: str = "your code") -> T:
    """Run `work(alive)` in a daemon thread and wait for its result.

    `work` calls `alive()` whenever it makes progress. Raises StudentCodeStalled when it goes
    `silence_s` seconds without doing so, and StudentCodeCancelled as soon as `cancelled()`
    turns true; either way the thread is abandoned, and being a daemon it can never keep the
    app from quitting. An exception from `work` is re-raised as it is.
    """
    outcome: dict[str, Any] = {}
    last = [time.monotonic()]

    def alive() -> None:
        last[0] = time.monotonic()

    def target() -> None:
        try:
            outcome["value"] = work(alive)
        except BaseException as exc:  # handed to the waiting thread, which re-raises it
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="student-code", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.05)
        if not thread.is_alive():
            break
        if cancelled():
            raise StudentCodeCancelled(f"{what} was left running in the background")
        if time.monotonic() - last[0] > silence_s:
            raise StudentCodeStalled(
                f"{what} has not returned for {silence_s:g} s: an endless loop? It is left "
                "running in the background; fix the file and run again")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def editor_command(path: Path, environ: Mapping[str, str]) -> list[str] | None:
    """The command that opens `path` in the learner's editor ($VISUAL, else $EDITOR, which may
    carry arguments, as `code --wait`), or None when neither is set."""
    import shlex

    editor = (environ.get("VISUAL") or environ.get("EDITOR") or "").strip()
    if not editor:
        return None
    return [*shlex.split(editor), str(path)]
