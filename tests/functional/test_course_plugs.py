"""An instructor adds a new kind of limiter exercise (a fixed window) to a course of their own,
with no edit of the package: an adapter file in the exercise's folder plugs the student's class
into the gateway. `verify` proves it sound, the grader scores it, and hostile student files
fail it cleanly (issue #19 item 4, issue #18)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sandbox.course.exercises import Exercise, derive_stub, load_exercise
from sandbox.grading.harness import make_sandbox, scenario
from sandbox.grading.instructor import verify_exercise
from sandbox.grading.plugin import load_student_module
from sandbox.grading.runner import ExerciseResult, run_exercise

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

MANIFEST = '''title = "A fixed window"
topic = 7
lesson = "rate-limiting"
files = ["fixed_window.py"]
plug = "ratelimit"
adapter = "plug_adapter.py"
time_limit_s = 5
hints = ["One counter per client per window: put the window's number in the key.",
         "INCR returns the new count; allowed while it is at most the limit."]
'''

SOLUTION = '''"""A fixed-window limiter: one counter per client per window."""


class FixedWindow:
    def __init__(self, redis, limit, window_s):
        self.redis, self.limit, self.window_ms = redis, limit, window_s * 1000.0
        self.capacity = limit

    def take(self, client, now_ms):
        # BEGIN SOLUTION
        # TODO: count this request in the client's counter for the current window
        count = self.redis.incr(f"fw:{client}:{int(now_ms // self.window_ms)}")
        return count <= self.limit, float(max(0, self.limit - count))
        # END SOLUTION
'''

ADAPTER = '''"""Fits the student's FixedWindow to the gateway's rate-limit plug point."""


def adapt(sandbox, student_module):
    switches = sandbox.settings.ratelimit
    return student_module.FixedWindow(sandbox.redis.client, switches.limit, switches.window_s)
'''

TESTS = '''"""Graded tests for the fixed window."""

import fakeredis
import pytest

from sandbox.grading.harness import make_sandbox, scenario


@pytest.mark.points(2)
def test_three_per_window(student):
    """limit 3: three pass, the fourth waits for the next window."""
    w = student.FixedWindow(fakeredis.FakeRedis(server=fakeredis.FakeServer()), 3, 1.0)
    answers = [w.take("ada", 10.0)[0] for _ in range(4)] + [w.take("ada", 1000.0)[0]]
    assert answers == [True, True, True, False, True], answers


@pytest.mark.points(3)
def test_the_spikes_429s_are_yours(student):
    """The spike through the gateway: each of your refusals is a 429, and only those."""
    sb = make_sandbox({"ratelimit.limit": 3}, plug=("ratelimit", student))
    part = sb.plugs["ratelimit"]
    take, calls, answers = part.impl.take, [], []

    def recording(client, now_ms):
        allowed, left = take(client, now_ms)
        calls.append((client, int(now_ms // 1000)))
        answers.append(allowed)
        return allowed, left

    part.impl.take = recording
    metrics = scenario(sb, "spike", requests=300)
    want = [calls[:i + 1].count(window) <= 3 for i, window in enumerate(calls)]
    assert answers == want, "each decision as a fixed window of 3 per second makes it"
    assert answers.count(False) == metrics["status"].get("429", 0) > 0
'''


def write_course(root: Path) -> Exercise:
    """The instructor's new exercise, in a course folder of its own (not the shipped one)."""
    folder = root / "01-fixed-window"
    (folder / "solution").mkdir(parents=True)
    shutil.copy2(REPO / "exercises" / "pytest.ini", root / "pytest.ini")
    files = {"exercise.toml": MANIFEST, "README.md": "# A fixed window\n",
             "solution/fixed_window.py": SOLUTION, "fixed_window.py": derive_stub(SOLUTION),
             "plug_adapter.py": ADAPTER, "test_fixed_window.py": TESTS}
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return load_exercise(folder)


def grade(exercise: Exercise, tmp_path: Path, student: str) -> ExerciseResult:
    """Grade a submission (the student's file in a folder of its own)."""
    submission = tmp_path / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    submission.mkdir()
    (submission / "fixed_window.py").write_text(student, encoding="utf-8")
    return run_exercise(exercise, hidden=True, student_dir=submission)


def test_a_new_limiter_exercise_verifies_and_grades_with_no_package_edit(tmp_path: Path) -> None:
    exercise = write_course(tmp_path / "course")
    found = verify_exercise(exercise, None)
    assert found.ok, found.problems
    assert found.solution is not None and found.stub is not None
    assert found.solution.score == found.solution.max_score == 5, "full points for the solution"
    assert found.stub.score == 0 and found.stub.first_failure is not None
    assert found.stub.first_failure.summary == "not written yet"


def test_the_spikes_429s_come_from_the_students_limiter(tmp_path: Path) -> None:
    """The same spike through the student's fixed window and the sandbox's own gives the same
    429s; a student limiter that refuses everything makes every limited request a 429."""
    exercise = write_course(tmp_path / "course")
    solution = load_student_module(exercise.solution_path("fixed_window.py"), "fw_solution")
    adapter = exercise.adapter_path
    switches = {"ratelimit.limit": 3}
    theirs = scenario(make_sandbox(switches, plug=("ratelimit", solution), adapter=adapter),
                      "spike", requests=300)
    ours = scenario(make_sandbox({**switches, "ratelimit.algorithm": "fixed_window"}), "spike",
                    requests=300)
    assert theirs["status"].get("429", 0) == ours["status"]["429"] > 0

    no_module = load_student_module(write_student(tmp_path, NEVER), "fw_never")
    never = scenario(make_sandbox(switches, plug=("ratelimit", no_module), adapter=adapter),
                     "spike", requests=300)
    assert never["status"] == {"429": 300}, never["status"]


def write_student(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "student" / "fixed_window.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(source, encoding="utf-8")
    return path


NEVER = '''
class FixedWindow:
    capacity = 3

    def __init__(self, redis, limit, window_s):
        pass

    def take(self, client, now_ms):
        return False, 0.0
'''

# Claims to be true: a gateway that asked `if allowed:` would let everyone through. It also
# tries to switch the guard off, in the only process it can reach (its own worker).
TRUTHY = '''
try:
    import sandbox.plugs.ratelimit as _guard
    _guard.checked_answer = lambda answer: (True, 1.0)
except Exception:
    pass


class Yes:
    def __bool__(self):
        return True

    def __eq__(self, other):
        return True


class FixedWindow:
    capacity = 3

    def __init__(self, redis, limit, window_s):
        pass

    def take(self, client, now_ms):
        return Yes(), 1.0
'''

RAISES = SOLUTION.replace("        count = self.redis.incr", "        raise ValueError('boom')\n"
                          "        count = self.redis.incr")

# Looks for the course's files (the adapter, the solution, the tests) from the worker, and
# says what it found in the failure message.
SNOOPS = '''
import glob, os


def _reachable(course):
    found = []
    for pattern in (course + "/**/*.py", "/tmp/grade-*/**/*.py", os.getcwd() + "/**/*.py"):
        for path in glob.glob(pattern, recursive=True):
            try:
                with open(path) as f:
                    f.read(1)
                found.append(path)
            except OSError:
                pass
    return sorted(p for p in found if not p.endswith("fixed_window.py") or "solution" in p)


class FixedWindow:
    capacity = 3

    def __init__(self, redis, limit, window_s):
        pass

    def take(self, client, now_ms):
        raise RuntimeError("reached: " + repr(_reachable(COURSE)))
'''

SLEEPS = SOLUTION.replace("        count = self.redis.incr", "        import time\n"
                          "        time.sleep(60)\n        count = self.redis.incr")


def test_hostile_limiters_fail_their_exercise_not_the_gateway(tmp_path: Path) -> None:
    exercise = write_course(tmp_path / "course")

    truthy = grade(exercise, tmp_path, TRUTHY)
    assert truthy.score == 0 and truthy.problem == ""
    spike = next(o for o in truthy.outcomes if "spike" in o.test.name)
    assert "must return a pair (allowed, remaining): True or False" in spike.detail

    raises = grade(exercise, tmp_path, RAISES)
    assert raises.score == 0 and raises.problem == ""
    assert {o.summary for o in raises.outcomes} == {"your code raised ValueError"}
    assert raises.outcomes[0].where is not None and raises.outcomes[0].where["line"] == 12

    course = str((tmp_path / "course").resolve())
    snooper = SNOOPS.replace("COURSE", repr(course))
    outside = load_student_module(write_student(tmp_path, snooper), "fw_snoops")
    with pytest.raises(RuntimeError, match=r"plug_adapter\.py"):  # unconfined, it finds them
        outside.FixedWindow(None, 3, 1.0).take("ada", 0.0)
    snoops = grade(exercise, tmp_path, snooper)
    assert snoops.score == 0
    assert all(o.detail == "reached: []" for o in snoops.outcomes), [
        o.detail for o in snoops.outcomes]


def test_a_limiter_that_sleeps_meets_the_time_limit(tmp_path: Path) -> None:
    """It waits instead of working: stopped after the waiting allowance, never hanging."""
    exercise = write_course(tmp_path / "course")
    exercise.time_limit_s = 1
    slept = grade(exercise, tmp_path, SLEEPS)
    assert slept.score == 0 and slept.problem.startswith("time limit:"), slept.problem
