"""A whole course graded in one `sandbox exercises grade --submissions` run (issue #19).

Thirty generated submissions of two shipped exercises: correct ones in every layout a
student may hand in, partial and broken ones, hostile ones (escapes from the worker, an
endless loop, a fork bomb, zip-slip, symlinks, a 1 GB zip bomb, a file that is no zip), and
late ones (a penalty per day; refused past `late_until`). Every row of the gradebook is
checked, and nothing a submission did may reach outside its own temporary folder.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
VALIDATE, BUCKET = "01-validate-request", "07-token-bucket"
VALIDATE_FILE, BUCKET_FILE = "validate_order.py", "token_bucket.py"
GOOD = {VALIDATE: (REPO / "exercises" / VALIDATE / "solution" / VALIDATE_FILE).read_text(),
        BUCKET: (REPO / "exercises" / BUCKET / "solution" / BUCKET_FILE).read_text()}
FILES = {VALIDATE: VALIDATE_FILE, BUCKET: BUCKET_FILE}
ON_TIME = "2026-12-19T12:00:00Z"

COURSE_TOML = """\
[grading]
due = "2026-12-19T23:59:00Z"
late_policy = "penalty"
penalty_per_day = 10
late_until = "2026-12-22T23:59:00Z"
"""

# A bucket that never refills: fails the tests that wait for tokens to come back.
NO_REFILL = GOOD[BUCKET].replace("tokens + elapsed * self.rate_per_ms", "tokens")
UNSOLVED_BUCKET = """
class TokenBucket:
    def __init__(self, redis, limit, window_s, burst):
        pass
    def take(self, client, now_ms):
        return True, 0.0
"""
ENDLESS = UNSOLVED_BUCKET.replace("return True, 0.0", "while True:\n            pass")
# Bounded (it is a test on a shared machine), but far past the cap of 128 processes.
FORK_BOMB = """
import os, time
class TokenBucket:
    def __init__(self, redis, limit, window_s, burst):
        for _ in range(400):
            try:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
            except OSError:
                break
    def take(self, client, now_ms):
        return True, 0.0
"""
EXIT = UNSOLVED_BUCKET.replace("return True, 0.0", "import os\n        os._exit(0)")


def rewrite_tests(course: Path) -> str:
    """Code that, at import, tries to rewrite the course's tests so that anything passes."""
    target = course / "exercises" / BUCKET / "test_token_bucket.py"
    return f"""
for path in [{str(target)!r}, {str(target.parent / 'hidden' / 'test_token_bucket_hidden.py')!r}]:
    try:
        with open(path, "w") as handle:
            handle.write("def test_nothing():\\n    pass\\n")
    except OSError:
        pass
""" + UNSOLVED_BUCKET


def read_hidden(course: Path) -> str:
    """Code that reads the hidden test by its path and raises it, hoping it is shown."""
    hidden = course / "exercises" / BUCKET / "hidden" / "test_token_bucket_hidden.py"
    return UNSOLVED_BUCKET.replace("pass", f"raise RuntimeError(open({str(hidden)!r}).read())")


def write_folder(root: Path, files: dict[str, str], bundle: bool = True) -> None:
    for exercise, code in files.items():
        folder = root / ("exercises" if bundle else "") / exercise
        folder.mkdir(parents=True, exist_ok=True)
        (folder / FILES[exercise]).write_text(code, encoding="utf-8")


def write_zip(path: Path, files: dict[str, str], prefix: str = "exercises/") -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for exercise, code in files.items():
            archive.writestr(f"{prefix}{exercise}/{FILES[exercise]}", code)


GIB = 1 << 30
GIB_OF_ZEROS_CRC = 1533330096  # zlib.crc32 of 2**30 zero bytes (saves a second per run)


def write_zip_bomb(path: Path) -> None:
    """A real 1 GiB member in 1 MB: one fully flushed deflate block of zeros, repeated (a
    full flush makes each copy independent), then an empty final block."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = squeeze.compress(bytes(1 << 20)) + squeeze.flush(zlib.Z_FULL_FLUSH)
    data = block * (GIB >> 20) + b"\x03\x00"
    name = f"exercises/{BUCKET}/{BUCKET_FILE}".encode()
    fields = (20, 0, 8, 0, 0, GIB_OF_ZEROS_CRC, len(data), GIB, len(name), 0)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central),
                      len(local) + len(data), 0)
    path.write_bytes(local + data + central + end)


def fingerprint(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


# student: (01 points, 07 points, days_late, penalty, words every note must hold)
EXPECTED: dict[str, tuple[float, float, int, float, list[str]]] = {
    "correct-bundle": (20, 22, 0, 0, []),
    "correct-top-level": (20, 0, 0, 0, ["token-bucket: not handed in"]),
    "correct-zip": (0, 22, 0, 0, ["validate-request: not handed in"]),
    "correct-zip-in-a-folder": (20, 0, 0, 0, ["token-bucket: not handed in"]),
    "partial-one-exercise": (20, 0, 0, 0, ["token-bucket: not handed in"]),
    "partial-no-refill": (0, 8, 0, 0, []),
    "partial-stub": (20, 0, 0, 0, ["token-bucket:"]),
    "broken-syntax": (0, 0, 0, 0, ["token-bucket:"]),
    "empty-folder": (0, 0, 0, 0, ["validate-request: not handed in",
                                  "token-bucket: not handed in"]),
    "hostile-endless-loop": (0, 0, 0, 0, ["token-bucket: time limit"]),
    "hostile-fork-bomb": (0, 0, 0, 0, []),
    "hostile-exit": (0, 0, 0, 0, ["token-bucket:"]),
    "hostile-rewrites-tests": (0, 0, 0, 0, []),
    "hostile-reads-hidden": (0, 0, 0, 0, []),
    "hostile-zip-slip": (0, 0, 0, 0, ["leaves its folder"]),
    "hostile-zip-absolute": (0, 0, 0, 0, ["leaves its folder"]),
    "hostile-zip-symlink": (0, 0, 0, 0, ["symlink"]),
    "hostile-folder-symlink": (20, 0, 0, 0, ["is a symlink; not followed"]),
    "hostile-zip-bomb": (0, 0, 0, 0, ["unpacks to 1024 MB"]),
    "hostile-not-a-zip": (0, 0, 0, 0, ["not a folder or a zip file"]),
    "hostile-huge-file": (0, 0, 0, 0, ["over 1024 KB"]),
    "'=HYPERLINK(1)": (20, 0, 0, 0, []),
    "late-1-day": (20, 0, 1, 2, ["validate-request: 1 day(s) late, -10%"]),
    "late-3-days": (20, 22, 3, 12.6, ["token-bucket: 3 day(s) late, -30%"]),
    "late-partial": (20, 0, 1, 2, []),
    "late-by-file-times": (20, 0, 2, 4, ["submitted_at taken from the files' times"]),
    "refused-folder": (0, 0, 4, 0, ["validate-request: refused", "token-bucket: refused"]),
    "refused-zip": (0, 0, 5, 0, ["token-bucket: refused"]),
    "exactly-on-time": (20, 0, 0, 0, []),
    "one-minute-late": (20, 0, 1, 2, []),
}
TIMES = {"late-1-day": "2026-12-20T10:00:00Z", "late-3-days": "2026-12-22T12:00:00Z",
         "late-partial": "2026-12-20T00:30:00Z", "refused-folder": "2026-12-23T10:00:00Z",
         "refused-zip": "2026-12-24T10:00:00Z", "exactly-on-time": "2026-12-19T23:59:00Z",
         "one-minute-late": "2026-12-20T00:00:00Z"}


def make_course(tmp: Path) -> tuple[Path, Path]:
    """The course (two shipped exercises, a short time limit, course.toml) and 30
    submissions."""
    course = tmp / "course"
    for name in (VALIDATE, BUCKET):
        target = course / "exercises" / name
        shutil.copytree(REPO / "exercises" / name, target,
                        ignore=shutil.ignore_patterns("__pycache__"))
        manifest = target / "exercise.toml"
        manifest.write_text(manifest.read_text().replace("time_limit_s = 10", "time_limit_s = 3"))
    (course / "course.toml").write_text(COURSE_TOML)  # beside exercises/: found there
    subs = tmp / "submissions"
    subs.mkdir()
    # Each layout with one exercise or both: a second exercise costs a grading run, and the
    # layout is found the same way (the bundle and a late student hand in both).
    both = dict(GOOD)
    validate = {VALIDATE: GOOD[VALIDATE]}
    write_folder(subs / "correct-bundle", both)
    write_folder(subs / "correct-top-level", validate, bundle=False)
    write_zip(subs / "correct-zip.zip", {BUCKET: GOOD[BUCKET]}, prefix="")
    write_zip(subs / "correct-zip-in-a-folder.zip", validate, prefix="correct/exercises/")
    write_folder(subs / "partial-one-exercise", {VALIDATE: GOOD[VALIDATE]})
    write_folder(subs / "partial-no-refill", {BUCKET: NO_REFILL})
    stub = (course / "exercises" / BUCKET / BUCKET_FILE).read_text()
    write_folder(subs / "partial-stub", {VALIDATE: GOOD[VALIDATE], BUCKET: stub})
    write_folder(subs / "broken-syntax", {BUCKET: "class TokenBucket(:\n"})
    (subs / "empty-folder").mkdir()
    write_folder(subs / "hostile-endless-loop", {BUCKET: ENDLESS})
    write_folder(subs / "hostile-fork-bomb", {BUCKET: FORK_BOMB})
    write_folder(subs / "hostile-exit", {BUCKET: EXIT})
    write_folder(subs / "hostile-rewrites-tests", {BUCKET: rewrite_tests(course)})
    write_folder(subs / "hostile-reads-hidden", {BUCKET: read_hidden(course)})
    with zipfile.ZipFile(subs / "hostile-zip-slip.zip", "w") as archive:
        archive.writestr(f"exercises/{BUCKET}/{BUCKET_FILE}", GOOD[BUCKET])
        archive.writestr(f"../../{BUCKET}/{BUCKET_FILE}", "ESCAPED = True\n")
        archive.writestr("../../slipped.py", "ESCAPED = True\n")
    with zipfile.ZipFile(subs / "hostile-zip-absolute.zip", "w") as archive:
        archive.writestr(str(tmp / "absolute.py"), "ESCAPED = True\n")
    with zipfile.ZipFile(subs / "hostile-zip-symlink.zip", "w") as archive:
        link = zipfile.ZipInfo(f"exercises/{BUCKET}/{BUCKET_FILE}")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, str(course / "exercises" / BUCKET / "hidden"
                                   / "test_token_bucket_hidden.py"))
    write_folder(subs / "hostile-folder-symlink", {VALIDATE: GOOD[VALIDATE]})
    linked = subs / "hostile-folder-symlink" / "exercises" / BUCKET
    linked.mkdir()
    (linked / BUCKET_FILE).symlink_to(course / "exercises" / BUCKET / "solution" / BUCKET_FILE)
    write_zip_bomb(subs / "hostile-zip-bomb.zip")
    (subs / "hostile-not-a-zip.zip").write_text("this is not a zip\n")
    write_folder(subs / "hostile-huge-file", {BUCKET: "#" * (2 << 20)})
    write_folder(subs / "=HYPERLINK(1)", {VALIDATE: GOOD[VALIDATE]})
    write_folder(subs / "late-1-day", validate)
    write_folder(subs / "late-3-days", both)
    write_folder(subs / "late-partial", {VALIDATE: GOOD[VALIDATE]})
    write_folder(subs / "late-by-file-times", {VALIDATE: GOOD[VALIDATE]})
    late_file = subs / "late-by-file-times" / "exercises" / VALIDATE / VALIDATE_FILE
    os.utime(late_file, (1797811200, 1797811200))  # 2026-12-21T00:00:00Z: 2 days late
    write_folder(subs / "refused-folder", both)
    write_zip(subs / "refused-zip.zip", both)
    write_folder(subs / "exactly-on-time", {VALIDATE: GOOD[VALIDATE]})
    write_folder(subs / "one-minute-late", {VALIDATE: GOOD[VALIDATE]})
    times = {name: TIMES.get(name, ON_TIME) for name in EXPECTED
             if name != "late-by-file-times" and not name.startswith("'")}
    times["=HYPERLINK(1)"] = ON_TIME
    (subs / "submissions.toml").write_text("".join(
        f'[students."{name}"]\nsubmitted_at = {when}\n' for name, when in times.items()))
    return course, subs


def sandbox(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "sandbox", "exercises", *args], env=env,
                          capture_output=True, text=True, timeout=600)


def test_a_course_of_thirty_is_graded_in_one_run(tmp_path: Path) -> None:
    """Every student gets a row with the right points, lateness and notes; hostile
    submissions get 0 and a note, change nothing, and hurt no one graded after them."""
    course, subs = make_course(tmp_path)
    before = fingerprint(course)
    run = sandbox("--dir", str(course / "exercises"), "grade", "--submissions", str(subs),
                  "--jobs", "2")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert "graded 30/30" in run.stderr  # plain progress lines: stderr is not a terminal
    assert "eta" in run.stderr
    grades = tmp_path / "grades"
    with open(grades / "gradebook.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["student", VALIDATE, BUCKET, "total", "max", "late", "days_late",
                             "penalty", "submitted_at", "notes"]
    assert [r["student"] for r in rows] == sorted(EXPECTED)
    for row in rows:
        first, second, days, penalty, words = EXPECTED[row["student"]]
        seen = (float(row[VALIDATE]), float(row[BUCKET]), int(row["days_late"]),
                float(row["penalty"]))
        assert seen == (first, second, days, penalty), (row["student"], row["notes"])
        assert float(row["total"]) == pytest.approx(first + second - penalty), row
        assert row["max"] == "42" and row["late"] == ("yes" if days else "no"), row
        for word in words:
            assert word in row["notes"], (row["student"], row["notes"])
    by_name = {r["student"]: r for r in rows}
    assert by_name["late-by-file-times"]["submitted_at"] == "2026-12-21T00:00:00Z"
    assert by_name["correct-bundle"]["submitted_at"] == ON_TIME
    # Nothing escaped: the course is as it was, no zip member was written outside.
    assert fingerprint(course) == before
    assert not list(tmp_path.rglob("slipped.py")) and not (tmp_path / "absolute.py").exists()
    hidden_source = (course / "exercises" / BUCKET / "hidden"
                     / "test_token_bucket_hidden.py").read_text()
    for student in ("hostile-reads-hidden", "hostile-zip-symlink", "hostile-folder-symlink"):
        shown = (grades / student / "results.json").read_text()
        shown += (grades / student / "junit.xml").read_text()
        assert "def test_" not in shown and hidden_source[:200] not in shown, student
    # Each student's results.json is Gradescope's, its score the gradebook's total.
    report = json.loads((grades / "late-3-days" / "results.json").read_text())
    assert report["score"] == pytest.approx(29.4)
    assert "3 day(s) late" in report["output"]
    hidden = [t for t in report["tests"] if "(hidden)" in t["name"]]
    assert hidden and all(t["visibility"] == "after_due_date" for t in hidden)
    assert all(t["visibility"] == "visible" for t in report["tests"] if t not in hidden)
    junit = (grades / "correct-bundle" / "junit.xml").read_text()
    assert junit.count("<testcase") == len(report["tests"]) and "<failure" not in junit


def test_grade_takes_names_and_says_what_is_wrong(tmp_path: Path) -> None:
    """`grade NAME` grades that exercise only; a wrong name, folder or course.toml is a
    clear error with exit code 2, never a traceback."""
    course = tmp_path / "course"
    for name in (VALIDATE, BUCKET):
        shutil.copytree(REPO / "exercises" / name, course / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    submission = tmp_path / "one"
    write_folder(submission, {BUCKET: GOOD[BUCKET]}, bundle=False)
    out = tmp_path / "results.json"
    run = sandbox("--dir", str(course), "grade", "token-bucket", "--submission",
                  str(submission), "--gradescope", str(out))
    assert run.returncode == 0, run.stdout + run.stderr
    names = {t["name"].split(":")[0] for t in json.loads(out.read_text())["tests"]}
    assert names == {"token-bucket"}
    wrong = sandbox("--dir", str(course), "grade", "token-buckets")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "no exercise called 'token-buckets'" in wrong.stderr
    assert f"{VALIDATE}, {BUCKET}" in wrong.stderr  # the valid names
    missing = sandbox("--dir", str(course), "grade", "--submissions", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no such folder of submissions" in missing.stderr
    (tmp_path / "subs").mkdir()
    empty = sandbox("--dir", str(course), "grade", "--submissions", str(tmp_path / "subs"))
    assert empty.returncode == 2 and "no submissions in it" in empty.stderr
    (course / "course.toml").write_text('[grading]\nlate_policy = "maybe"\n')
    (tmp_path / "subs" / "ann").mkdir()
    bad = sandbox("--dir", str(course), "grade", "--submissions", str(tmp_path / "subs"))
    assert bad.returncode == 2 and "use one of none, penalty, refuse" in bad.stderr
    assert "Traceback" not in bad.stderr
