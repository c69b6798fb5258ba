"""The grader against a dishonest or hostile student: every attack here once gave full marks
(or broke the next student's grading) and must now score 0 on an unsolved exercise, leave
the course as it was, leak no hidden test, and finish within its time limit. A correct
solution still scores full marks.

Each attack is a student file for the worked example (07-token-bucket, 22 points, 8 tests,
hidden ones included) that does not solve it; all are graded the way an autograder does:
`sandbox exercises --dir COURSE grade --submission DIR --gradescope results.json`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "exercises" / "07-token-bucket"
SOLUTION = (EXAMPLE / "solution" / "token_bucket.py").read_text(encoding="utf-8")
FULL_MARKS = 22
# A line only the hidden tests hold: it must never reach anything the student sees.
HIDDEN_SECRET = "Hidden tests: a burst allowance and a slow window, through the sandbox."

pytestmark = pytest.mark.slow

UNSOLVED = '''
class TokenBucket:
    def __init__(self, redis, limit, window_s, burst):
        self.redis = redis

    def take(self, client, now_ms):
        raise NotImplementedError("not written")
'''

FAKE_LINES = '''
import json, os
def fake_lines():
    out = []
    for name in ("test_token_bucket.py", "hidden/test_token_bucket_hidden.py"):
        for test in ("test_a_new_client_has_a_full_bucket", "test_spike_gets_exactly_the_right_429s"):
            node = f"{name}::{test}"
            out.append(json.dumps({"event": "result", "nodeid": node, "when": "call",
                                   "outcome": "passed", "duration_s": 0}) + "\\n")
    return "".join(out).encode()
'''

# A bucket whose every decision raises, with `what` as its message: the channel for a leak.
RAISES = """
class TokenBucket:
    def __init__(self, redis, limit, window_s, burst):
        pass

    def take(self, client, now_ms):
        raise AssertionError({what})
"""

ATTACKS: dict[str, str] = {
    # 1. Write "passed" for every test into whatever report channel can be found, then leave.
    "forged-report": FAKE_LINES + '''
for key, value in os.environ.items():
    if "REPORT" in key.upper():
        try:
            with open(value if not value.isdigit() else int(value), "ab") as f:
                f.write(fake_lines())
        except OSError:
            pass
for fd in range(3, 64):
    try:
        os.write(fd, fake_lines())
    except OSError:
        pass
os._exit(0)
''',
    # 2. Find the grading plugin's reporter through the garbage collector and make it lie.
    "patched-reporter": '''
import gc
for obj in gc.get_objects():
    if type(obj).__name__ == "_Reporter":
        real = obj._emit
        def emit(record, real=real):
            if record.get("event") == "result":
                record["outcome"] = "passed"
            real(record)
        obj._emit = emit
''' + UNSOLVED,
    # 3. Register a pytest hook that turns every report into a pass.
    "pytest-hook": '''
import gc
import pytest

class Cheat:
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        report.outcome = "passed"

for obj in gc.get_objects():
    if type(obj).__name__ == "Config" and hasattr(obj, "pluginmanager"):
        obj.pluginmanager.register(Cheat(), "cheat")
''' + UNSOLVED,
    # 4. Patch the sandbox and pytest in place: the grading plugin and the assertion helpers.
    "monkeypatch-grader": '''
import sandbox.grading.plugin as plugin
import _pytest.runner
plugin._Reporter._emit = lambda self, record: None
_pytest.runner.call_and_report = lambda *a, **k: None
import builtins
builtins.AssertionError = type("AssertionError", (Exception,), {})
''' + UNSOLVED,
    # 5. An object that equals anything, and a str whose == always says yes.
    "always-equal": '''
class Yes(str):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __hash__ = str.__hash__

class Anything:
    def __eq__(self, other): return True
    def __bool__(self): return True
    def __iter__(self): return iter([Anything(), Anything()])
    def __float__(self): return 1.0

class TokenBucket:
    def __init__(self, redis, limit, window_s, burst):
        pass

    def take(self, client, now_ms):
        return Anything()
''',
    # 6. At exit, write fake results to every open descriptor and to stdout.
    "atexit-forgery": FAKE_LINES + '''
import atexit, sys
@atexit.register
def forge():
    sys.stdout.write(fake_lines().decode())
    for fd in range(3, 64):
        try:
            os.write(fd, fake_lines())
        except OSError:
            pass
''' + UNSOLVED,
    # 7. Ignore the signals a grader sends, and write through /proc/self/fd.
    "signals-and-proc-fd": FAKE_LINES + '''
import signal
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)
for fd in os.listdir("/proc/self/fd"):
    try:
        with open(f"/proc/self/fd/{fd}", "ab") as f:
            f.write(fake_lines())
    except OSError:
        pass
''' + UNSOLVED,
    # 8. Read the test process's memory and files through /proc, and kill it.
    "parent-memory": '''
import os, signal
found = []
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        for what in ("mem", "environ", "fd"):
            try:
                found.append(os.listdir(f"/proc/{pid}/fd") if what == "fd"
                             else open(f"/proc/{pid}/{what}", "rb").read(64))
            except OSError:
                pass
for pid in (os.getppid(), 1):
    try:
        os.kill(pid, signal.SIGSTOP)
    except OSError:
        pass
''' + UNSOLVED,
    # 9. A thread that outlives its test, forging lines while the rest runs.
    "lingering-thread": FAKE_LINES + '''
import threading, time
def forge():
    while True:
        for fd in range(1, 64):
            try:
                os.write(fd, fake_lines())
            except OSError:
                pass
        time.sleep(0.01)
threading.Thread(target=forge, daemon=False).start()
''' + UNSOLVED,
    # 10. Speak the grader's own wire: on every descriptor, a frame the test process cannot
    # rebuild (a pickle that would call os.system there), then one that answers "allowed".
    # Whatever it cannot read, the test process takes as a broken worker, never as a pass.
    "frames-on-the-wire": f'''
import os, pickle, struct
MARK = {str(Path("/tmp") / "grader-ran-a-students-pickle")!r}

class Boom:
    def __reduce__(self):
        return (os.system, ("touch " + MARK,))

def flood():
    for payload in (pickle.dumps((("ok", Boom()), [])), pickle.dumps((("ok", (True, 9.0)), []))):
        for fd in range(3, 64):
            try:
                os.write(fd, struct.pack("!I", len(payload)) + payload)
            except OSError:
                pass

flood()

class TokenBucket:
    def __init__(self, redis, limit, window_s, burst):
        pass

    def take(self, client, now_ms):
        flood()
        return (True, 9.0)
''',
}


def make_course(root: Path) -> Path:
    course = root / "course"
    shutil.copytree(EXAMPLE, course / EXAMPLE.name, ignore=shutil.ignore_patterns("__pycache__"))
    return course


def submit(root: Path, code: str, name: str = "submission") -> Path:
    folder = root / name / EXAMPLE.name
    folder.mkdir(parents=True)
    (folder / "token_bucket.py").write_text(code, encoding="utf-8")
    return folder.parent


def grade(course: Path, submission: Path, out: Path,
          timeout: float = 240) -> tuple[dict[str, object], subprocess.CompletedProcess[str]]:
    junit = out.with_suffix(".xml")
    env = dict(os.environ, COLUMNS="120", NO_COLOR="1")
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "exercises", "--dir", str(course), "grade",
         "--submission", str(submission), "--gradescope", str(out), "--junit", str(junit)],
        env=env, capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(out.read_text(encoding="utf-8")), result


def fingerprint(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


# Attacks that walk the garbage collector. Exercise 7 forbids imports (the sandbox's own
# limiter), and where an exercise forbids any, the worker refuses gc.get_objects outright
# (forbid.py): they would fail at their first line. So they are graded on the exercise with
# nothing forbidden, where the walk runs and only the two processes stand in the way, and
# again on the exercise as shipped (test_a_gc_walk_is_refused_where_imports_are_forbidden).
GC_WALKS = ("patched-reporter", "pytest-hook")


def without_forbidden_imports(manifest: Path) -> None:
    text = manifest.read_text(encoding="utf-8")
    assert "[forbidden_imports]" in text, "exercise 7 no longer forbids any import"
    manifest.write_text(text[:text.index("[forbidden_imports]")], encoding="utf-8")


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_scores_nothing_and_changes_nothing(tmp_path: Path, attack: str) -> None:
    """Each attack on exercise 7 scores 0 and leaves the course as it was; a gc walk is graded
    with nothing forbidden (GC_WALKS), so that it runs and the two processes defeat it."""
    course = make_course(tmp_path)
    # Some attacks stall until the time limit (a stalled run is stopped after three times its
    # limit spent waiting): a short one keeps the suite quick. The attacks' own work takes
    # under half a CPU second, so 2 s still lets each of them run in full.
    manifest = course / EXAMPLE.name / "exercise.toml"
    if attack in GC_WALKS:
        without_forbidden_imports(manifest)
    given = manifest.read_text()
    manifest.write_text(given.replace("time_limit_s = 10", "time_limit_s = 2"))
    before = fingerprint(course)
    results, _ = grade(course, submit(tmp_path, ATTACKS[attack]), tmp_path / "results.json")
    assert results["score"] == 0, (attack, [(t["name"], t["status"]) for t in results["tests"]])
    assert len(results["tests"]) == 8 and all(t["status"] == "failed" for t in results["tests"])
    assert not Path("/tmp/grader-ran-a-students-pickle").exists()  # frames-on-the-wire
    if attack in GC_WALKS:  # the walk ran: nothing refused it
        assert not any("is not allowed in" in t["output"] for t in results["tests"])
    assert fingerprint(course) == before, "the course folder changed"
    # The next student, graded on the same machine with a correct solution: full marks (with
    # the exercise's own time limit: a busy machine must not fail a correct solution).
    manifest.write_text(given)
    after, _ = grade(course, submit(tmp_path, SOLUTION, "next"), tmp_path / "next.json")
    assert after["score"] == FULL_MARKS


@pytest.mark.parametrize("attack", GC_WALKS)
def test_a_gc_walk_is_refused_where_imports_are_forbidden(tmp_path: Path, attack: str) -> None:
    """The same gc walks on exercise 7 as shipped (it forbids imports): still 0, every test
    failed, and now because gc.get_objects is refused before the walk begins."""
    course = make_course(tmp_path)
    results, _ = grade(course, submit(tmp_path, ATTACKS[attack]), tmp_path / "results.json")
    assert results["score"] == 0, (attack, [(t["name"], t["status"]) for t in results["tests"]])
    tests = results["tests"]
    assert isinstance(tests, list) and len(tests) == 8
    assert all(t["status"] == "failed" for t in tests)
    assert all("gc.get_objects is not allowed in an exercise that forbids imports"
               in t["output"] for t in tests if t["visibility"] == "visible")

def test_rewriting_the_tests_cannot_pass_the_next_student(tmp_path: Path) -> None:
    """Student code that knows where the course is rewrites every test to return at once."""
    course = make_course(tmp_path)
    before = fingerprint(course)
    tamper = f'''
import os, glob
for root in ({str(course)!r}, os.getcwd(), "/tmp"):
    for path in glob.glob(os.path.join(root, "**", "test_*.py"), recursive=True):
        try:
            with open(path, "w") as f:
                f.write("import pytest\\n@pytest.mark.points(22)\\ndef test_x(student):\\n    return\\n")
        except OSError:
            pass
''' + UNSOLVED
    results, _ = grade(course, submit(tmp_path, tamper), tmp_path / "tamper.json")
    assert results["score"] == 0
    assert fingerprint(course) == before, "the student's code rewrote the course's tests"
    empty, _ = grade(course, submit(tmp_path, UNSOLVED, "next"), tmp_path / "next.json")
    assert empty["score"] == 0, "the next, empty submission was graded with rewritten tests"


def test_hidden_tests_never_reach_what_the_student_sees(tmp_path: Path) -> None:
    """Code that raises the hidden tests' source (or their folder listing) as its error."""
    course = make_course(tmp_path)
    hidden = course / EXAMPLE.name / "hidden" / "test_token_bucket_hidden.py"
    leak = f'''
import glob, os

def steal():
    text = []
    for path in [{str(hidden)!r}] + glob.glob({str(course)!r} + "/**/hidden/test_*.py", recursive=True)
            + glob.glob("/tmp/**/hidden/test_*.py", recursive=True):
        try:
            text.append(open(path).read())
        except OSError as exc:
            text.append(str(exc))
    return "\\n".join(text)
''' + RAISES.format(what="steal()")
    out = tmp_path / "results.json"
    results, run = grade(course, submit(tmp_path, leak), out)
    assert results["score"] == 0
    seen = out.read_text(encoding="utf-8") + out.with_suffix(".xml").read_text(encoding="utf-8")
    seen += run.stdout + run.stderr
    assert HIDDEN_SECRET not in seen
    assert "def test_" not in seen  # no test's source at all, visible or hidden
    hidden_tests = [t for t in results["tests"] if t["visibility"] == "after_due_date"]
    assert hidden_tests and all(
        t["output"].endswith("(a hidden test: what it checks is shown after the due date)")
        for t in hidden_tests)


def test_the_course_repository_history_is_out_of_reach() -> None:
    """A course kept in git: its history holds the hidden tests, compressed but readable.
    (Outside /tmp, which the worker gets a fresh one of.)"""
    import tempfile

    (REPO / ".sandbox-cache").mkdir(exist_ok=True)
    tmp_path = Path(tempfile.mkdtemp(dir=REPO / ".sandbox-cache", prefix="course-repo-"))
    try:
        _dig_in_history(tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _dig_in_history(tmp_path: Path) -> None:
    course = make_course(tmp_path)
    for command in (["init", "-q"], ["add", "."], ["-c", "user.name=i", "-c", "user.email=i@x",
                                                    "commit", "-qm", "course"]):
        subprocess.run(["git", *command], cwd=tmp_path, check=True, capture_output=True)
    dig = f"""
import os, zlib

def dig():
    found = []
    for root, _, files in os.walk({str(tmp_path / ".git")!r}):
        for name in files:
            try:
                text = zlib.decompress(open(os.path.join(root, name), "rb").read())
            except Exception:
                continue
            if {HIDDEN_SECRET[:30]!r}.encode() in text:
                found.append(text.decode(errors="replace"))
    return "; ".join(found) or "nothing found"
""" + RAISES.format(what="dig()")
    out = tmp_path / "results.json"
    results, run = grade(course, submit(tmp_path / "elsewhere", dig), out)
    assert results["score"] == 0
    seen = out.read_text(encoding="utf-8") + out.with_suffix(".xml").read_text(encoding="utf-8")
    assert HIDDEN_SECRET[:30] not in seen + run.stdout
    assert "nothing found" in seen  # the code ran, and found no history to read


def test_a_process_that_escapes_its_group_is_stopped_with_the_rest(tmp_path: Path) -> None:
    """A detached `sleep` keeping the output open once held grading for its whole length."""
    marker = "317.25"  # an unusual length, to find the process by
    stall = f'''
import subprocess
subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
''' + UNSOLVED
    course = make_course(tmp_path)
    manifest = course / EXAMPLE.name / "exercise.toml"
    manifest.write_text(manifest.read_text().replace("time_limit_s = 10", "time_limit_s = 2"))
    results, _ = grade(course, submit(tmp_path, stall), tmp_path / "results.json", timeout=120)
    assert results["score"] == 0
    left = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and marker in Path(f"/proc/{pid}/cmdline").read_text():
                left.append(pid)
        except OSError:
            pass
    assert not left, f"the student's process outlived grading: {left}"


def test_a_correct_solution_still_gets_full_marks(tmp_path: Path) -> None:
    course = make_course(tmp_path)
    results, run = grade(course, submit(tmp_path, SOLUTION), tmp_path / "results.json")
    assert results["score"] == FULL_MARKS, run.stdout
    assert run.returncode == 0


def test_a_solution_elsewhere_on_disk_is_out_of_reach(tmp_path: Path) -> None:
    """A submission that found another clone's reference solution on the grader's disk and
    ran it once scored 22/29. The solutions planted here are real ones, only readable by
    their owner (root, when the grader is) or by all: read, they would pass every test."""
    import tempfile

    places = [REPO / ".sandbox-cache"] + ([Path("/root")] if os.geteuid() == 0 else [])
    clones = []
    for place in places:
        place.mkdir(exist_ok=True)
        clones.append(Path(tempfile.mkdtemp(dir=place, prefix="other-clone-")))
    try:
        planted = []
        for clone in clones:
            for kind, mode in (("private", 0o600), ("shared", 0o644)):
                path = clone / kind / "exercises" / EXAMPLE.name / "solution" / "token_bucket.py"
                path.parent.mkdir(parents=True)
                path.write_text(SOLUTION, encoding="utf-8")
                os.chmod(path, mode)
                planted.append(str(path))
        planted.append(str(EXAMPLE / "solution" / "token_bucket.py"))  # this very clone's
        results, seen = _grade_search(tmp_path, planted)
    finally:
        for clone in clones:
            shutil.rmtree(clone, ignore_errors=True)
    assert results["score"] == 0, [(t["name"], t["status"]) for t in results["tests"]]
    assert "nothing found" in seen  # the search ran, and read none of them


def _grade_search(tmp_path: Path, planted: list[str]) -> tuple[dict[str, object], str]:
    """Grade a submission that reads the first of `planted` (or of a search of the disk) it
    can and runs it; where it finds none, its every answer says so."""
    pattern = f"exercises/{EXAMPLE.name}/solution/token_bucket.py"
    search = f'''
import glob, os

def find():
    tried = set()
    paths = {planted!r} + [p for depth in range(1, 6)
                           for p in glob.glob("/" + "*/" * depth + {pattern!r})]
    for path in paths:
        try:
            source = open(path).read()
        except OSError as exc:
            tried.add(type(exc).__name__)
            continue
        scope = {{}}
        exec(source, scope)
        return scope["TokenBucket"]
    raise LookupError("nothing found (" + ", ".join(sorted(tried)) + ")")

try:
    TokenBucket = find()
except LookupError as exc:
    MESSAGE = str(exc)

    class TokenBucket:
        def __init__(self, redis, limit, window_s, burst):
            pass

        def take(self, client, now_ms):
            raise AssertionError(MESSAGE)
'''
    out = tmp_path / "results.json"
    results, _ = grade(make_course(tmp_path), submit(tmp_path, search), out)
    return results, out.read_text(encoding="utf-8")


@pytest.mark.parametrize("linked", ["the file", "its folder", "a file beside it"])
def test_a_submission_linked_to_a_solution_is_not_followed(tmp_path: Path, linked: str) -> None:
    """A submission holding a symlink to a reference solution on the grader's disk: the
    student's file itself (the grader read it in place, link and all: full marks), the
    exercise's whole folder, or a file the student's file imports."""
    solution = EXAMPLE / "solution"
    submission = tmp_path / "submission"
    folder = submission / EXAMPLE.name
    if linked == "its folder":
        submission.mkdir()
        folder.symlink_to(solution, target_is_directory=True)
    else:
        folder.mkdir(parents=True)
    if linked == "the file":
        (folder / "token_bucket.py").symlink_to(solution / "token_bucket.py")
    if linked == "a file beside it":
        (folder / "reference.py").symlink_to(solution / "token_bucket.py")
        (folder / "token_bucket.py").write_text("from reference import TokenBucket\n")
    out = tmp_path / "results.json"
    results, _ = grade(make_course(tmp_path), submission, out)
    assert results["score"] == 0, [(t["name"], t["status"]) for t in results["tests"]]
    if linked != "a file beside it":
        assert "symlink" in out.read_text(encoding="utf-8")


def test_a_partial_submission_keeps_a_link_a_link(tmp_path: Path) -> None:
    """A submission missing one of an exercise's files is graded with the stub in its place;
    a file of it that is a symlink (to a solution elsewhere on the grader's disk) is carried
    over as the link, which the grader then refuses, never as the text it points at."""
    from types import SimpleNamespace

    from sandbox.commands.exercises import _missing_submission

    secret = tmp_path / "elsewhere" / "token_bucket.py"
    secret.parent.mkdir()
    secret.write_text("# the reference solution\n")
    where = tmp_path / "submission"
    where.mkdir()
    (where / "token_bucket.py").symlink_to(secret)
    exercise = SimpleNamespace(name="two-files", files=["token_bucket.py", "helpers.py"],
                               pristine_stub=lambda file: f"# stub of {file}\n")
    made = _missing_submission(exercise, where)  # type: ignore[arg-type]
    assert (made / "token_bucket.py").is_symlink()
    assert (made / "helpers.py").read_text() == "# stub of helpers.py\n"
