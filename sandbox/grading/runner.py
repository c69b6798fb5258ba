"""Run one exercise's tests against the student's code, in a process of its own.

Student code may loop forever, exit the process, recurse without end, flood the terminal or
not even parse. None of that may hang or crash the grader, so each exercise runs in a child
`pytest` process (with the grading plugin) in its own process group, and the parent:

- stops it (the whole group) when the exercise's time limit runs out, counted from when the
  tests start, so a slow machine's start-up is not charged to the student;
- reads its output through a pipe, keeping the first 64 KB and discarding the rest;
- caps its memory and the size of files it may write;
- reads the plugin's JSON-lines report as it grows, so whatever finished before a crash
  still counts, and the test that was running when it died is named.

The list of graded tests and their points comes from reading the test files (see
`find_graded_tests`), never from the child, so the score's maximum is right even when the child
dies before it says anything.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.course.exercises import Exercise, GradedTest
from sandbox.grading.confine import kill_descendants, tree_usage
from sandbox.grading.launch import Launched, launch, visible_test_files
from sandbox.grading.pids import remove_cgroups

OUTPUT_CAP = 64 * 1024
STARTUP_LIMIT_S = 60.0  # importing pytest and the sandbox; generous for a loaded CI machine
# The time limit counts the CPU seconds the tests use, so a busy machine never fails a correct
# solution; tests that wait instead of working (a deadlock, a sleep, a stopped process: none
# of their processes ready to run) are stopped after this many times the limit spent waiting.
WAITING_FACTOR = 3.0
USAGE_SAMPLE_S = 0.1  # how often the tests' processes are looked at (a scan of /proc)


@dataclass
class TestOutcome:
    test: GradedTest
    passed: bool
    summary: str = ""  # plain words: "a check failed", "not written yet", "timed out"
    detail: str = ""
    where: dict[str, Any] | None = None  # {"file", "line", "code"} in the student's file
    duration_s: float = 0.0

    @property
    def score(self) -> float:
        return self.test.points if self.passed else 0.0


@dataclass
class ExerciseResult:
    exercise: Exercise
    outcomes: list[TestOutcome]
    problem: str = ""  # what stopped the run, if anything did: time limit, crash, exit
    output: str = ""  # the first 64 KB of what the tests printed
    duration_s: float = 0.0
    hidden_included: bool = False
    # How the student's code was shut in: "namespaces", or "process" where the machine
    # allows no namespaces (see confine.py); "" when no worker started.
    confinement: str = ""

    @property
    def score(self) -> float:
        return sum(o.score for o in self.outcomes)

    @property
    def max_score(self) -> float:
        return sum(o.test.points for o in self.outcomes)

    @property
    def passed(self) -> bool:
        return bool(self.outcomes) and all(o.passed for o in self.outcomes)

    @property
    def first_failure(self) -> TestOutcome | None:
        return next((o for o in self.outcomes if not o.passed), None)


@dataclass
class _Run:
    records: list[dict[str, Any]] = field(default_factory=list)
    output: bytearray = field(default_factory=bytearray)
    dropped: int = 0


def run_exercise(exercise: Exercise, *, hidden: bool = False, student_dir: Path | None = None,
                 time_limit_s: float | None = None) -> ExerciseResult:
    """Run the exercise's visible tests (and hidden ones when `hidden`) on the student's code.

    Args:
        student_dir: where the student's files are; default the exercise folder itself.
        time_limit_s: override the manifest's limit (the instructor's verify uses it).
    """
    return start_exercise(exercise, hidden=hidden, student_dir=student_dir,
                          time_limit_s=time_limit_s).wait()


def start_exercise(exercise: Exercise, *, hidden: bool = False, student_dir: Path | None = None,
                   time_limit_s: float | None = None) -> RunningExercise:
    """Start the test process and return at once; `wait()` gives the result. (`check` starts
    it first and loads the rest of the command line while the tests run.)"""
    return RunningExercise(exercise, hidden, student_dir, time_limit_s)


class RunningExercise:
    """One exercise's test process, supervised: time limit, output cap, report reading."""

    def __init__(self, exercise: Exercise, hidden: bool, student_dir: Path | None,
                 time_limit_s: float | None, launched: Launched | None = None) -> None:
        self.exercise = exercise
        self.hidden = hidden
        self.tests = [t for t in exercise.tests if hidden or not t.hidden]
        self.limit = time_limit_s if time_limit_s is not None else exercise.time_limit_s
        self.run = _Run()
        self.started = time.monotonic()
        self.proc: subprocess.Popen[bytes] | None = None
        self.failed_to_start = ""
        if launched is None:
            files = (visible_test_files(exercise.folder, hidden) if exercise.tests_pending
                     else sorted({t.file for t in self.tests}))
            if not files:
                return
            launched = launch(exercise.folder, files, student_dir or exercise.folder,
                              exercise.name)
        self.launched = launched
        self.proc = launched.proc
        self.failed_to_start = launched.error
        if self.proc is not None:
            self.reader = threading.Thread(target=_drain, args=(self.proc, self.run),
                                           daemon=True)
            self.reader.start()
            self.report_reader = threading.Thread(target=_read_report,
                                                  args=(launched.report, self.run), daemon=True)
            self.report_reader.start()

    def wait(self) -> ExerciseResult:
        exercise, run, proc = self.exercise, self.run, self.proc
        if exercise.tests_pending:  # read while the tests start (see `check`)
            exercise.read_tests()
            self.tests = [t for t in exercise.tests if self.hidden or not t.hidden]
        if not self.tests:
            return ExerciseResult(exercise, [], problem="the exercise has no graded tests")
        if proc is None:
            return ExerciseResult(exercise, [TestOutcome(t, False, "the grader could not start",
                                                         self.failed_to_start)
                                             for t in self.tests], problem=self.failed_to_start)
        problem = ""
        tests_began: float | None = None
        cpu_began: float | None = None  # the tree's CPU seconds when the tests began
        sampled = 0.0
        waited = 0.0  # seconds of the clock when none of the tests' processes could run
        try:
            while True:
                code = proc.poll()
                if tests_began is None and any(r.get("event") == "collected"
                                               for r in run.records):
                    tests_began = sampled = time.monotonic()
                    usage = tree_usage(proc.pid)
                    cpu_began = usage[0] if usage is not None else None
                if code is not None:
                    break
                now = time.monotonic()
                if tests_began is not None and cpu_began is None and now - tests_began > self.limit:
                    # No /proc here: the clock is all there is.
                    problem = f"time limit: the tests did not finish within {self.limit:g} s"
                    _kill(proc)
                    break
                if cpu_began is not None and now - sampled >= USAGE_SAMPLE_S:
                    usage = tree_usage(proc.pid)
                    if usage is not None and usage[0] - cpu_began > self.limit:
                        problem = (f"time limit: the tests used more than {self.limit:g} s of "
                                   "CPU time")
                        _kill(proc)
                        break
                    if usage is not None and not usage[1]:
                        waited += now - sampled
                    sampled = now
                    if waited > self.limit * WAITING_FACTOR:
                        problem = (f"time limit: the tests waited {self.limit * WAITING_FACTOR:g} s "
                                   "without working (asleep, stopped or stuck)")
                        _kill(proc)
                        break
                if tests_began is None and now - self.started > STARTUP_LIMIT_S:
                    problem = f"the test process did not start within {STARTUP_LIMIT_S:g} s"
                    _kill(proc)
                    break
                time.sleep(0.005)
        except BaseException:
            _kill(proc)  # ctrl-c in the grader: never leave a student's process running
            raise
        finally:
            proc.wait()
            kill_descendants(proc.pid)  # normally none: the test process stops its own
            remove_cgroups(proc.pid)  # the process caps its workers ran under
            self.report_reader.join(timeout=10)
            self.reader.join(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()
            self.launched.discard()
        code = proc.returncode
        if not problem and code not in (0, 1):
            problem = _exit_problem(code, run)
        output = run.output.decode("utf-8", "replace")
        if run.dropped:
            output += f"\n[... {run.dropped} more bytes of output not kept]"
        outcomes = _outcomes(self.tests, run.records, problem)
        levels = [str(r.get("level")) for r in run.records if r.get("event") == "worker"]
        return ExerciseResult(exercise, outcomes, problem, output,
                              round(time.monotonic() - self.started, 3), self.hidden,
                              min(levels, default=""))


def _drain(proc: subprocess.Popen[bytes], run: _Run) -> None:
    assert proc.stdout is not None
    while True:
        chunk = proc.stdout.read1(65536) if hasattr(proc.stdout, "read1") else proc.stdout.read(65536)
        if not chunk:
            return
        room = OUTPUT_CAP - len(run.output)
        if room > 0:
            run.output += chunk[:room]
        run.dropped += max(0, len(chunk) - max(room, 0))


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Stop the test process and everything below it, however the student's code detached
    its own processes (the test process is a subreaper, so they are all below it). The test
    process is frozen first, so that it records nothing more and starts no new worker."""
    with contextlib.suppress(OSError):
        os.kill(proc.pid, signal.SIGSTOP)
    kill_descendants(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        with contextlib.suppress(OSError):
            proc.kill()


def _read_report(fd: int, run: _Run) -> None:
    """Read the plugin's JSON lines from the report pipe until the test process closes it."""
    try:
        handle = open(fd, "rb", closefd=False)  # noqa: SIM115 - discard() closes the fd
    except OSError:
        return
    with handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                run.records.append(record)


def _exit_problem(code: int, run: _Run) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = {"SIGXFSZ": " (it wrote a file bigger than the grader allows)",
                "SIGSEGV": " (a crash inside Python: very deep recursion can do this)",
                "SIGKILL": " (killed: out of memory?)"}.get(name, "")
        return f"the test process was stopped by {name}{hint}"
    if any(r.get("event") == "collect_error" for r in run.records):
        return "a test file could not be loaded"
    if code in (2, 3, 4):  # pytest's own usage and internal errors: not the student's doing
        tail = run.output.decode("utf-8", "replace").strip().splitlines()[-3:]
        return f"the test run could not start (pytest exit code {code}): {' '.join(tail)}"
    return (f"the test process ended with exit code {code} before the tests finished "
            "(does the code call os._exit or exit the interpreter?)")


def _base_id(nodeid: str) -> str:
    return nodeid.split("[", 1)[0]


def _outcomes(tests: list[GradedTest], records: list[dict[str, Any]],
              problem: str) -> list[TestOutcome]:
    def ids(event: str) -> set[str]:
        return {str(r["nodeid"]) for r in records if r.get("event") == event}

    running = {_base_id(n) for n in ids("start") - ids("finish")}  # when the process died
    collected = {_base_id(str(item["nodeid"])) for r in records if r.get("event") == "collected"
                 for item in r.get("items", [])}
    collect_errors = [r for r in records if r.get("event") == "collect_error"]
    results: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if record.get("event") == "result":
            results.setdefault(_base_id(str(record["nodeid"])), []).append(record)
    out: list[TestOutcome] = []
    for test in tests:
        mine = results.get(test.id, [])
        duration = sum(float(r.get("duration_s", 0.0)) for r in mine)
        failed = [r for r in mine if r.get("outcome") != "passed"]
        if failed:
            first = failed[0]
            explained = first.get("explain") or {}
            summary = explained.get("summary") or ("skipped" if first.get("outcome") == "skipped"
                                                   else "failed")
            out.append(TestOutcome(test, False, str(summary), str(explained.get("detail", "")),
                                   explained.get("where"), duration))
        elif test.id in running:
            out.append(TestOutcome(test, False, "stopped while running",
                                   problem or "the test process ended during this test"))
        elif mine:
            out.append(TestOutcome(test, True, duration_s=duration))
        elif collect_errors and test.id not in collected:
            message = str(collect_errors[0].get("message", ""))
            out.append(TestOutcome(test, False, "the test file could not be loaded",
                                   message[-600:]))
        else:
            out.append(TestOutcome(test, False, "not run",
                                   problem or "the test process ended before this test ran"))
    return out
