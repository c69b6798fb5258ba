"""Exercises and grading, driven through the `sandbox exercises` command as a student, an
instructor and an autograder would: verify, check, hint, reset, grade (with Gradescope and
JUnit reports), release, watch, and a set of hostile student files that must each fail
cleanly without hanging or crashing the grader."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from sandbox.course.exercises import derive_stub, load_exercises

REPO = Path(__file__).resolve().parents[2]
EXERCISES = REPO / "exercises"
DATA = Path(__file__).resolve().parents[1] / "data"
EXAMPLE = EXERCISES / "07-token-bucket"  # the authoring guide's worked example

pytestmark = pytest.mark.slow


def sandbox(*args: str, cwd: Path | None = None, timeout: float = 300,
            stdin: str | None = None,
            extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="120", NO_COLOR="1", **(extra_env or {}))
    return subprocess.run([sys.executable, "-m", "sandbox", "exercises", *args], cwd=cwd or REPO,
                          env=env, capture_output=True, text=True, timeout=timeout,
                          input=stdin)


def copy_example(root: Path, folder: str = "07-token-bucket", student: str | None = None,
                 time_limit_s: float | None = None) -> Path:
    """A copy of the worked example under `root`, with the student's file replaced."""
    target = root / folder
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__"))
    if student is not None:
        (target / "token_bucket.py").write_text(student, encoding="utf-8")
    if time_limit_s is not None:
        manifest = target / "exercise.toml"
        text = manifest.read_text(encoding="utf-8").replace("time_limit_s = 10",
                                                            f"time_limit_s = {time_limit_s}")
        manifest.write_text(text, encoding="utf-8")
    shutil.copy2(EXERCISES / "pytest.ini", root / "pytest.ini")
    return target


SOLUTION = (EXAMPLE / "solution" / "token_bucket.py").read_text(encoding="utf-8")


def bucket_with(body: str, top: str = "") -> str:
    """A student file whose `take` runs `body` (a hostile line or two)."""
    return f'''{top}
class TokenBucket:
    def __init__(self, redis, limit, window_s, burst):
        self.redis = redis

    def take(self, client, now_ms):
{body}
'''


# -- the shipped set ------------------------------------------------------------------------


SHIPPED_FOLDERS = sorted(p.parent.name for p in EXERCISES.glob("*/exercise.toml"))
# Three parts, so the test workers share the verifying (25 exercises take about a minute).
VERIFY_PARTS = [SHIPPED_FOLDERS[i::3] for i in range(3)]


@pytest.mark.parametrize("part", VERIFY_PARTS, ids=lambda part: f"{part[0]}...")
def test_verify_passes_on_the_shipped_exercises(tmp_path: Path, part: list[str]) -> None:
    """Every reference solution passes every test, every stub fails every test, the files
    agree with the manifests; and there is one exercise per curriculum topic.

    Verified on a copy with a generous time limit: a solution's speed is for `sandbox bench`
    to measure, and a busy machine (the grader keeps each run on one processor) must not fail
    a correct one here. Everything else is the shipped set, byte for byte."""
    root = tmp_path / "exercises"
    shutil.copytree(EXERCISES, root, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    for manifest in root.glob("*/exercise.toml"):
        text = manifest.read_text(encoding="utf-8")
        assert "\ntime_limit_s = 10\n" in text, manifest
        manifest.write_text(text.replace("\ntime_limit_s = 10\n", "\ntime_limit_s = 300\n"),
                            encoding="utf-8")
    result = sandbox("--dir", str(root), "verify", *part, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(part)} of {len(part)} exercises sound" in result.stdout, result.stdout
    assert sum(len(p) for p in VERIFY_PARTS) == len(SHIPPED_FOLDERS) >= 25
    exercises, errors = load_exercises(EXERCISES)
    assert not errors
    assert {e.topic for e in exercises} >= set(range(1, 17)), "one exercise per topic (1-16)"
    assert all(any(t.hidden for t in e.tests) for e in exercises), "each has a hidden test"


def test_the_shipped_stubs_are_what_the_solutions_derive() -> None:
    for exercise in load_exercises(EXERCISES)[0]:
        for file in exercise.files:
            shipped = exercise.student_path(file).read_text(encoding="utf-8")
            derived = derive_stub(exercise.solution_path(file).read_text(encoding="utf-8"))
            assert shipped == derived, f"{exercise.name}/{file} is not the derived stub"


def test_verify_reports_a_test_that_cannot_fail(tmp_path: Path) -> None:
    folder = copy_example(tmp_path)
    (folder / "test_always.py").write_text(
        "import pytest\n\n@pytest.mark.points(1)\ndef test_nothing(student):\n"
        "    assert True\n", encoding="utf-8")
    result = sandbox("--dir", str(tmp_path), "verify")
    assert result.returncode == 1
    assert "test_always.py::test_nothing passes on the stub" in result.stdout


def test_verify_reports_a_stale_stub_and_a_failing_solution(tmp_path: Path) -> None:
    folder = copy_example(tmp_path)
    (folder / "token_bucket.py").write_text("# edited by hand\n" + SOLUTION, encoding="utf-8")
    solution = folder / "solution" / "token_bucket.py"
    solution.write_text(SOLUTION.replace("tokens >= 1.0", "tokens >= 2.0"), encoding="utf-8")
    result = sandbox("--dir", str(tmp_path), "verify")
    assert result.returncode == 1
    assert "differs from the stub the solution derives" in result.stdout
    assert "the solution fails test_token_bucket.py::" in result.stdout


# -- the student's loop ---------------------------------------------------------------------


def test_check_on_the_stub_explains_the_first_failure_in_plain_words(tmp_path: Path) -> None:
    copy_example(tmp_path)
    result = sandbox("--dir", str(tmp_path), "check", "token-bucket")
    assert result.returncode == 1
    out = result.stdout
    assert "0 of 7 tests pass" in out
    assert "First failure: test_a_new_client_has_a_full_bucket" in out
    assert "not written yet" in out and "token_bucket.py:" in out
    assert "Traceback" not in out and "site-packages" not in out


def test_check_passes_with_the_solution_and_list_shows_it_done(tmp_path: Path) -> None:
    copy_example(tmp_path, student=SOLUTION)
    result = sandbox("--dir", str(tmp_path), "check", "token-bucket")
    assert result.returncode == 0, result.stdout
    assert "all 7 tests pass" in result.stdout
    listing = sandbox("--dir", str(tmp_path), "list").stdout
    assert "done" in listing and "18/18" in listing


def test_a_cold_cache_is_not_charged_to_the_students_time_limit(tmp_path: Path) -> None:
    """The seeded shop's database is built once per machine, in a few CPU seconds (about 2.5
    here). A fresh clone or a new autograder container has none: the grader builds it before
    the tests' clock starts, so a one-second limit holds for a test that opens the sandbox.
    (It was charged to the first student graded: CI saw a correct solution time out.)"""
    folder = copy_example(tmp_path, student=SOLUTION, time_limit_s=1)
    for test in folder.glob("test_*.py"):
        test.unlink()
    (folder / "test_opens_the_shop.py").write_text(
        "import pytest\n\nfrom sandbox.grading.harness import make_sandbox, send\n\n\n"
        "@pytest.mark.points(1)\ndef test_the_shop_answers(student):\n"
        "    assert send(make_sandbox(), 'GET', '/products/1').status_code == 200\n",
        encoding="utf-8")
    cache = tmp_path / "empty-cache"
    cache.mkdir()
    result = sandbox("--dir", str(tmp_path), "check", "token-bucket",
                     extra_env={"SANDBOX_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "token-bucket: its one test passes" in result.stdout, result.stdout
    assert "time limit" not in result.stdout
    from sandbox.backend.seed import seed_path
    from sandbox.runtime import DATA_SEED

    assert [p.name for p in cache.glob("shop-*.sqlite")] == [seed_path(DATA_SEED).name]


def test_a_relative_dir_works_from_wherever_the_student_stands(tmp_path: Path) -> None:
    copy_example(tmp_path, student=SOLUTION)
    result = sandbox("--dir", ".", "check", "token-bucket", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert "all 7 tests pass" in result.stdout


def test_a_failed_check_names_the_students_line(tmp_path: Path) -> None:
    copy_example(tmp_path, student=bucket_with("        return {}['tokens']"))
    out = sandbox("--dir", str(tmp_path), "check", "token-bucket").stdout
    assert "your code raised KeyError" in out
    assert "token_bucket.py:7" in out, out  # the line of `take` that failed


def test_hints_come_one_at_a_time_and_unknown_names_are_usage_errors(tmp_path: Path) -> None:
    copy_example(tmp_path)
    first = sandbox("--dir", str(tmp_path), "hint", "token-bucket")
    second = sandbox("--dir", str(tmp_path), "hint", "token-bucket")
    assert "hint 1 of 3" in first.stdout and "hint 2 of 3" in second.stdout
    wrong = sandbox("--dir", str(tmp_path), "hint", "tokn-bucket")
    assert wrong.returncode == 2
    assert "Did you mean 'token-bucket'" in wrong.stderr


def test_reset_asks_first_then_restores_the_stub(tmp_path: Path) -> None:
    folder = copy_example(tmp_path, student=SOLUTION)
    refused = sandbox("--dir", str(tmp_path), "reset", "token-bucket")  # no terminal, no --yes
    assert refused.returncode == 2 and "--yes" in refused.stdout
    assert (folder / "token_bucket.py").read_text(encoding="utf-8") == SOLUTION
    done = sandbox("--dir", str(tmp_path), "reset", "token-bucket", "--yes")
    assert done.returncode == 0
    assert (folder / "token_bucket.py").read_text(encoding="utf-8") == derive_stub(SOLUTION)


# -- hostile student code -------------------------------------------------------------------

HOSTILE = {
    "loop": (bucket_with("        while True:\n            pass"), "stopped while running"),
    "exit": (bucket_with("        import sys\n        sys.exit(3)"), "called sys.exit()"),
    "hardexit": (bucket_with("        import os\n        os._exit(7)"), "exit code 7"),
    "recursion": (bucket_with("        return self.take(client, now_ms)"), "endless recursion"),
    "flood": (bucket_with("        while True:\n            print('x' * 1000)"),
              "stopped while running"),
    "noimport": (bucket_with("        return True, 1.0", top="import no_such_module_here"),
                 "an import failed"),
    "syntax": ("class TokenBucket(:\n    pass\n", "syntax error"),
    "memory": (bucket_with("        hog = bytearray(10**10)  # 10 GB, over the grader's memory cap"),
               "MemoryError"),
}


def test_hostile_student_code_fails_cleanly_with_complete_reports(tmp_path: Path) -> None:
    root = tmp_path / "course"
    for number, (name, (code, _)) in enumerate(HOSTILE.items(), start=1):
        copy_example(root, folder=f"{number:02d}-{name}", student=code, time_limit_s=2)
    gradescope, junit = tmp_path / "results.json", tmp_path / "junit.xml"
    # The grader never hangs: the endless ones are stopped by their time limit of 2 CPU
    # seconds (their reports say so, below), which the others, done in under half a second,
    # never reach; the timeout only keeps a broken grader from hanging the suite.
    result = sandbox("--dir", str(root), "grade", "--gradescope", str(gradescope),
                     "--junit", str(junit), timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr

    results = json.loads(gradescope.read_text(encoding="utf-8"))
    jsonschema.validate(results, json.loads((DATA / "gradescope_results.schema.json").read_text()))
    assert results["score"] == 0
    per_exercise = {name: [t for t in results["tests"] if t["name"].startswith(name + ":")]
                    for name in HOSTILE}
    for name, (_, reason) in HOSTILE.items():
        tests = per_exercise[name]
        assert len(tests) == 8, f"{name}: every graded test is listed, even after a crash"
        assert all(t["status"] == "failed" and t["score"] == 0 for t in tests)
        assert sum(t["max_score"] for t in tests) == 22
        assert any(reason in t["output"] for t in tests), (name, [t["output"] for t in tests])
    hidden = [t for t in results["tests"] if "hidden" in t["name"]]
    assert hidden and all(t["visibility"] == "after_due_date" for t in hidden)

    xmlschema.validate(str(junit), str(DATA / "junit.xsd"))
    assert "\x00" not in junit.read_text(encoding="utf-8")


WAITS_ONCE = SOLUTION + """
import builtins as _builtins
import time as _time
_take = TokenBucket.take
def _waiting_take(self, client, now_ms):
    if not getattr(_builtins, "_waited", False):  # once per test process: a slow moment
        _builtins._waited = True
        _time.sleep(SECONDS)
    return _take(self, client, now_ms)
TokenBucket.take = _waiting_take
"""


def test_the_time_limit_counts_work_not_waiting(tmp_path: Path) -> None:
    """A loaded machine made a correct solution miss its limit (17 of 22 points, stopped at
    20.8 s of a 10 s limit): the limit now counts CPU seconds. A correct solution that waits
    2.5 s on the clock passes a 1.5 s limit; waiting three times the limit is stopped. (Its
    tests take about 0.4 s of CPU: 1.5 s leaves room for a slower processor.)"""
    from sandbox.grading.runner import WAITING_FACTOR, run_exercise

    copy_example(tmp_path / "a", student=WAITS_ONCE.replace("SECONDS", "2.5"), time_limit_s=1.5)
    result = run_exercise(load_exercises(tmp_path / "a")[0][0])
    assert result.problem == "" and all(o.passed for o in result.outcomes), result.output
    assert result.duration_s > 2.5  # it did wait, longer than the limit

    copy_example(tmp_path / "b", student=WAITS_ONCE.replace("SECONDS", "60"), time_limit_s=1.5)
    result = run_exercise(load_exercises(tmp_path / "b")[0][0])
    assert result.problem == (f"time limit: the tests waited {1.5 * WAITING_FACTOR:g} s without "
                              "working (asleep, stopped or stuck)")


def test_a_busy_loop_is_stopped_by_its_cpu_seconds(tmp_path: Path) -> None:
    from sandbox.grading.runner import run_exercise

    copy_example(tmp_path, student=bucket_with("        while True:\n            pass"),
                 time_limit_s=1)
    result = run_exercise(load_exercises(tmp_path)[0][0])
    assert result.problem == "time limit: the tests used more than 1 s of CPU time"


def test_flooded_output_is_capped(tmp_path: Path) -> None:
    # One CPU second of printing is megabytes: far past the cap.
    copy_example(tmp_path, student=bucket_with("        while True:\n            print('x' * 1000)"),
                 time_limit_s=1)
    from sandbox.grading.runner import OUTPUT_CAP, run_exercise

    exercise = load_exercises(tmp_path)[0][0]
    result = run_exercise(exercise)
    assert len(result.output) < OUTPUT_CAP + 200
    assert "more bytes of output not kept" in result.output
    assert result.problem.startswith("time limit")


def test_grading_a_submission_folder_for_an_autograder(tmp_path: Path) -> None:
    root = tmp_path / "course"
    copy_example(root)
    submission = tmp_path / "submission" / "07-token-bucket"
    submission.mkdir(parents=True)
    (submission / "token_bucket.py").write_text(SOLUTION, encoding="utf-8")
    out = tmp_path / "results.json"
    result = sandbox("--dir", str(root), "grade", "--submission", str(tmp_path / "submission"),
                     "--gradescope", str(out))
    assert result.returncode == 0, result.stdout
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["score"] == 22 and len(results["tests"]) == 8


# -- the instructor's loop ------------------------------------------------------------------


def test_release_has_stubs_and_visible_tests_but_no_solutions_or_hidden_tests(
        tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    result = sandbox("release", str(bundle))
    assert result.returncode == 0, result.stderr
    files = [p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()]
    assert not [f for f in files if "/solution/" in f or "/hidden/" in f], files
    for exercise in load_exercises(EXERCISES)[0]:
        for file in exercise.files:
            released = (bundle / exercise.folder.name / file).read_text(encoding="utf-8")
            assert released == exercise.pristine_stub(file)
            assert "BEGIN SOLUTION" not in released
        for test in exercise.tests:
            assert (bundle / exercise.folder.name / test.file).exists() != test.hidden
    # The bundle works on its own: check, then reset from its saved starter copy.
    student = bundle / "07-token-bucket" / "token_bucket.py"
    student.write_text(SOLUTION, encoding="utf-8")
    assert sandbox("check", "token-bucket", cwd=bundle).returncode == 0
    assert sandbox("reset", "token-bucket", "--yes", cwd=bundle).returncode == 0
    assert "NotImplementedError" in student.read_text(encoding="utf-8")
    again = sandbox("release", str(bundle))
    assert again.returncode == 1 and "not empty" in again.stderr


def test_new_scaffolds_an_exercise_that_verify_accepts(tmp_path: Path) -> None:
    made = sandbox("--dir", str(tmp_path), "new", "cache-warmer", "--topic", "5",
                   "--lesson", "caching")
    assert made.returncode == 0, made.stderr
    result = sandbox("--dir", str(tmp_path), "verify")
    assert result.returncode == 0, result.stdout
    assert "1 of 1 exercises sound" in result.stdout
    clash = sandbox("--dir", str(tmp_path), "new", "cache-warmer")
    assert clash.returncode == 1 and "already exists" in clash.stderr


def test_watch_rechecks_on_save_and_moves_on_when_it_passes(tmp_path: Path) -> None:
    folder = copy_example(tmp_path)
    env = dict(os.environ, COLUMNS="120", NO_COLOR="1")
    with subprocess.Popen([sys.executable, "-m", "sandbox", "exercises", "--dir",
                           str(tmp_path), "watch"], cwd=REPO, env=env, text=True,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT) as proc:
        try:
            seen = _read_until(proc, "keys: h hint")
            assert "0 of 7 tests pass" in seen
            saved = folder / "token_bucket.py.new"  # saved as editors do: whole, then renamed
            saved.write_text(SOLUTION, encoding="utf-8")
            saved.replace(folder / "token_bucket.py")
            seen = _read_until(proc, "Every exercise passes")
            assert "all 7 tests pass" in seen
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def test_watch_reruns_once_per_save_and_answers_keys(tmp_path: Path) -> None:
    """The watch loop on a scripted stream of keys and saves (as the file watcher reports
    them), with a stand-in check: what re-runs, and what does not."""
    import io
    from collections.abc import Iterator
    from types import SimpleNamespace

    from rich.console import Console

    from sandbox.commands.watch import Event, watch
    from sandbox.course.exercises import Exercise
    from sandbox.course.progress import ProgressStore

    copy_example(tmp_path)
    shutil.copytree(EXERCISES / "08-error-envelope", tmp_path / "08-error-envelope",
                    ignore=shutil.ignore_patterns("__pycache__"))
    exercises, errors = load_exercises(tmp_path)
    assert not errors
    bucket, envelope = exercises
    mine, theirs = bucket.student_path("token_bucket.py"), envelope.student_path(envelope.files[0])
    store = ProgressStore(tmp_path / "progress.sqlite")
    checked: list[str] = []
    hinted: list[str] = []

    def check(exercise: Exercise, store: ProgressStore, out: Console) -> SimpleNamespace:
        checked.append(exercise.name)
        text = exercise.student_path(exercise.files[0]).read_text(encoding="utf-8")
        passed = "NotImplementedError" not in text
        store.exercise_checked(exercise.name, exercise.fingerprint(), float(passed), 1.0, passed)
        return SimpleNamespace(passed=passed)

    def hint(exercise: Exercise, store: ProgressStore, out: Console) -> None:
        hinted.append(exercise.name)

    def events() -> Iterator[Event]:
        yield "h"
        yield frozenset({mine})  # reported, but the same bytes: no re-run
        mine.write_text(mine.read_text(encoding="utf-8") + "# a first try\n", encoding="utf-8")
        yield frozenset({mine})  # one save that arrives in two groups: one re-run
        yield frozenset({mine})
        yield "C"  # check now (keys are read case-blind)
        yield OSError("too many open files")  # the file watcher gave up: said, not fatal
        theirs.write_text(theirs.read_text(encoding="utf-8") + "# elsewhere\n", encoding="utf-8")
        yield frozenset({theirs})  # not the current exercise's file: no re-run
        mine.write_text(SOLUTION, encoding="utf-8")
        yield frozenset({mine})  # passes: on to the exercise not done yet
        yield "n"  # already the last one
        yield "q"
        raise AssertionError("read past q")

    screen = io.StringIO()
    out = Console(file=screen, width=120, no_color=True)
    assert watch(exercises, bucket, store, out, check, hint, events()) == 0
    store.close()
    shown = screen.getvalue()
    assert checked == [bucket.name] * 4 + [envelope.name]
    assert hinted == [bucket.name]
    for said in ("can no longer see your saves (too many open files)",
                 f"passed: on to {envelope.name}", "this is the last exercise",
                 "stopped watching; your progress is saved"):
        assert said in shown, shown


def test_watch_sees_saves_on_disk_including_renamed_ones(tmp_path: Path) -> None:
    """The real file watcher: a save written to a temporary file and renamed over the
    student's file is reported, as that file alone; other files in the folder are not."""
    import contextlib
    import queue
    import threading

    from sandbox.commands.watch import saves_of

    student = tmp_path / "token_bucket.py"
    student.write_text("# stub\n", encoding="utf-8")
    seen: queue.Queue[frozenset[Path]] = queue.Queue()
    stop = threading.Event()

    def pass_on() -> None:
        for changed in saves_of([student], stop):
            seen.put(changed)

    watcher = threading.Thread(target=pass_on, daemon=True)
    watcher.start()
    try:
        # When the watcher is listening is not knowable from here: save until it hears one.
        # The deadline only stops a broken watcher from hanging the run.
        deadline = time.monotonic() + 120
        reported: frozenset[Path] | None = None
        attempt = 0
        while reported is None:
            assert time.monotonic() < deadline, "no save was reported"
            attempt += 1
            (tmp_path / "notes.txt").write_text(f"{attempt}\n", encoding="utf-8")
            saved = tmp_path / "token_bucket.py.tmp"
            saved.write_text(f"# save {attempt}\n", encoding="utf-8")
            saved.replace(student)
            with contextlib.suppress(queue.Empty):
                reported = seen.get(timeout=1)
        assert reported == frozenset({student})
    finally:
        stop.set()
        watcher.join(timeout=60)
    assert not watcher.is_alive()  # the stop event ends the watch
    while not seen.empty():
        assert seen.get() == frozenset({student})


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 120) -> str:
    import selectors

    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while marker not in seen:
            ready = selector.select(timeout=1)
            if time.monotonic() > deadline or (not ready and proc.poll() is not None):
                raise AssertionError(f"did not see {marker!r}; output so far:\n{seen}")
            if ready:  # raw reads: a buffered readline could hold lines select cannot see
                chunk = os.read(proc.stdout.fileno(), 65536)
                seen += chunk.decode("utf-8", "replace")
    return seen


def test_plain_pytest_runs_an_exercise(tmp_path: Path) -> None:
    """`pytest exercises/NN-name` works without the sandbox's command line."""
    folder = copy_example(tmp_path)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)]
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    on_stub = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=300)
    assert on_stub.returncode == 1 and "8 failed" in on_stub.stdout, on_stub.stdout[-800:]
    (folder / "token_bucket.py").write_text(SOLUTION, encoding="utf-8")
    solved = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert solved.returncode == 0 and "8 passed" in solved.stdout, solved.stdout[-800:]
