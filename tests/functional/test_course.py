"""Course folders (issue 19): an instructor's own lessons and exercises side by side, found by
`--course`, `SANDBOX_COURSE`, `lessons --dir` and `SANDBOX_LESSONS_DIR`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sandbox.commands.cli import main
from sandbox.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE

REPO = Path(__file__).resolve().parents[2]

POOLING = '''+++
id = "connection-pooling"
title = "Connection pooling"
topic = 8
order = 9
summary = "An instructor's own lesson"
+++

Why a pool of connections.

## Watch it

```sandbox
run = { scenario = "steady", requests = 100 }
```

The run is small.

```checkpoint
kind = "choice"
question = "What does a pool save?"
choices = [
  { text = "Opening a connection per request", correct = true, explain = "Yes." },
  { text = "Nothing", explain = "It saves the handshakes." },
]
```
'''


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A course folder: one lesson of the instructor's, one shipped exercise; no override
    left in the environment (and whatever `--course` sets is undone after the test)."""
    for name in ("SANDBOX_COURSE", "SANDBOX_EXERCISES", "SANDBOX_LESSONS_DIR"):
        monkeypatch.setenv(name, "")  # so that whatever `--course` sets is undone after
        monkeypatch.delenv(name)
    folder = tmp_path / "course"
    (folder / "lessons").mkdir(parents=True)
    (folder / "lessons" / "pooling.md").write_text(POOLING, encoding="utf-8")
    shutil.copytree(REPO / "exercises" / "07-token-bucket",
                    folder / "exercises" / "07-token-bucket",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, " ".join(captured.err.split())  # rich wraps long lines


def test_a_course_folder_lists_shows_and_checks_its_own_lesson(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--course", str(course), "lessons", "list")
    assert code == EXIT_OK and "connection-pooling" in out
    assert "caching" not in out  # the course's lessons, not the shipped ones
    code, out, _ = run(capsys, "--course", str(course), "lessons", "show", "connection-pooling")
    assert code == EXIT_OK and "What does a pool save?" in out
    code, out, _ = run(capsys, "--course", str(course), "lessons", "check")
    assert code == EXIT_OK and "1 lesson file(s)" in out
    code, out, _ = run(capsys, "--course", str(course), "exercises", "list")
    assert code == EXIT_OK and "token-bucket" in out and "rate-limit-login" not in out


def test_the_environment_and_dir_find_the_same_lesson(
        course: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(capsys, "lessons", "--dir", str(course / "lessons"), "list")
    assert code == EXIT_OK and "connection-pooling" in out
    monkeypatch.setenv("SANDBOX_LESSONS_DIR", str(course / "lessons"))
    code, out, _ = run(capsys, "lessons", "show", "connection-pooling")
    assert code == EXIT_OK
    monkeypatch.delenv("SANDBOX_LESSONS_DIR")
    monkeypatch.setenv("SANDBOX_COURSE", str(course))
    code, out, _ = run(capsys, "lessons", "show", "connection-pooling")
    assert code == EXIT_OK
    monkeypatch.delenv("SANDBOX_COURSE")
    monkeypatch.chdir(course)  # a course folder as the current folder
    code, out, _ = run(capsys, "lessons", "list")
    assert code == EXIT_OK and "connection-pooling" in out


def test_a_wrong_course_or_lessons_folder_is_a_usage_error(
        course: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run(capsys, "--course", str(tmp_path / "nope"), "lessons", "list")
    assert code == EXIT_USAGE and "does not exist" in err and "Traceback" not in err
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "--course", str(tmp_path / "empty"), "lessons", "list")
    assert code == EXIT_USAGE and "neither lessons/ nor exercises/" in err
    monkeypatch.setenv("SANDBOX_COURSE", str(tmp_path / "empty"))  # the variable, checked too
    code, _, err = run(capsys, "lessons", "list")
    assert code == EXIT_USAGE and "neither lessons/ nor exercises/" in err
    monkeypatch.delenv("SANDBOX_COURSE")
    code, _, err = run(capsys, "lessons", "--dir", str(tmp_path / "nope"), "list")
    assert code == EXIT_USAGE and "no lessons folder" in err
    code, _, err = run(capsys, "--course", str(course), "lessons", "show", "caching")
    assert code == EXIT_USAGE and "connection-pooling" in err  # lists the course's own
    assert os.environ["SANDBOX_COURSE"] == str(course)  # the app's processes inherit it


CLAIMED = POOLING + '''
## Count the queries

```claim
run = { scenario = "steady", requests = 100 }
metric = "db.queries"
above = 50
```

```claim
run = { scenario = "steady", requests = 100 }
metric = "db.queries"
above = 100000
```
'''


def test_run_claims_finds_the_false_claim_by_its_line(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lesson = course / "lessons" / "pooling.md"
    lesson.write_text(CLAIMED, encoding="utf-8")
    false_line = CLAIMED.splitlines().index("above = 100000") - 2  # the block's first line
    code, out, err = run(capsys, "lessons", "check", str(lesson))
    assert code == EXIT_OK, err  # without running, every claim only has to be well formed
    code, out, err = run(capsys, "lessons", "check", "--run-claims", str(lesson))
    assert code == EXIT_FAILED
    assert f"pooling.md:{false_line}: false claim: db.queries = " in err
    assert "above 100000" in err and err.count("false claim") == 1  # the true one passes
    lesson.write_text(CLAIMED.replace("above = 100000\n", "below = 100000\n"), encoding="utf-8")
    code, out, err = run(capsys, "--course", str(course), "lessons", "check", "--run-claims")
    assert code == EXIT_OK and "2 claim(s) true" in out


def test_an_unknown_metric_is_caught_without_running_and_names_the_valid_ones(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lesson = course / "lessons" / "pooling.md"
    lesson.write_text(CLAIMED.replace('metric = "db.queries"\nabove = 50',
                                      'metric = "db.pool_wait"\nabove = 50'), encoding="utf-8")
    line = CLAIMED.splitlines().index("above = 50") - 2
    code, _, err = run(capsys, "lessons", "--dir", str(course / "lessons"), "check")
    assert code == EXIT_FAILED and "Traceback" not in err and "KeyError" not in err
    assert f"pooling.md:{line}: unknown metric 'db.pool_wait'" in err
    assert "near it: db.pool_waits" in err


def test_a_run_without_the_metric_says_so_in_words() -> None:
    from sandbox.course.lessons import UnknownMetric, metric_value

    with pytest.raises(UnknownMetric) as caught:
        metric_value({"db": {"pool_waits": 3, "queries": 9}}, "db.pool_wait")
    assert isinstance(caught.value, KeyError)  # what the app's panels already catch
    assert str(caught.value) == "no metric 'db.pool_wait' in this run; near it: db.pool_waits"


def test_new_scaffolds_a_hidden_test_a_plug_note_and_a_stub_for_students(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "exercises"
    code, _, err = run(capsys, "exercises", "--dir", str(root), "new", "cache-warmer")
    assert code == EXIT_OK, err
    folder = root / "01-cache-warmer"
    hidden = (folder / "hidden" / "test_cache_warmer_hidden.py").read_text(encoding="utf-8")
    assert "@pytest.mark.points(1)" in hidden and '    """' in hidden
    manifest = (folder / "exercise.toml").read_text(encoding="utf-8")
    assert '# plug = "ratelimit"' in manifest and '"Plug points"' in manifest
    stub = (folder / "cache_warmer.py").read_text(encoding="utf-8")
    assert "BEGIN" not in stub and "reference" not in stub
    assert "sandbox exercises check cache-warmer" in stub
    code, out, _ = run(capsys, "exercises", "--dir", str(root), "verify")
    assert code == EXIT_OK and "cache-warmer (2 tests)" in out  # the hidden one counts

    # a graded test with no docstring, then one with no points: file:line, no stray lines
    test_file = folder / "hidden" / "test_cache_warmer_hidden.py"
    test_file.write_text(hidden.replace('    """The answer does not change from one call to '
                                        'the next."""\n', ""), encoding="utf-8")
    code, out, err = run(capsys, "exercises", "--dir", str(root), "verify")
    assert code == EXIT_FAILED
    assert f"{test_file}:9: test_the_answer_is_the_same_every_time has no docstring" in \
        " ".join(out.split())
    test_file.write_text(hidden.replace("@pytest.mark.points(1)\n", ""), encoding="utf-8")
    code, out, err = run(capsys, "exercises", "--dir", str(root), "verify")
    out = " ".join(out.split())
    assert code == EXIT_FAILED and "(0 tests)" not in out and "skipped" not in err
    assert f"✗ 01-cache-warmer (cannot load) {test_file}:8: " \
           "test_the_answer_is_the_same_every_time has no @pytest.mark.points(N)" in out


def test_the_list_fits_80_columns_without_cutting_a_file_name() -> None:
    import io

    from rich.console import Console

    from sandbox.commands.exercises import list_table
    from sandbox.course.exercises import load_exercises
    from sandbox.course.progress import ProgressStore

    exercises, _ = load_exercises(REPO / "exercises")
    console = Console(width=80, file=io.StringIO(), color_system=None)
    store = ProgressStore()
    console.print(list_table(exercises, store))
    store.close()
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert all(len(line) <= 80 for line in lines)
    assert all(line.endswith(("┓", "┃", "┩", "│", "┘")) for line in lines[1:])  # not chopped
    for exercise in exercises:
        whole = (f" {exercise.files[0]} ", f" {exercise.files[0]}│")
        assert sum(line.endswith(whole) or whole[0] in line for line in lines) == 1


PREDICTED = POOLING + '''
## The database goes away

```sandbox
set = { "faults.db_down" = true }
run = { scenario = "steady", requests = 100, seed = 7 }
```

```checkpoint
kind = "predict"
question = "With the database down, what do the reads get?"
run = { scenario = "steady", requests = 100, seed = 7 }
metric = "status.503"
choices = [
  { text = "503", correct = true, explain = "Nothing to read from." },
  { text = "200", explain = "There is no database to answer." },
]
```
'''


def test_run_claims_measures_a_prediction_with_its_steps_switches(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A prediction's metric exists only with the step's switches (503s need the database
    down): measured with the defaults, --run-claims would call it missing."""
    lesson = course / "lessons" / "pooling.md"
    lesson.write_text(PREDICTED, encoding="utf-8")
    code, _, err = run(capsys, "lessons", "check", "--run-claims", str(lesson))
    assert code == EXIT_OK, err
    lesson.write_text(PREDICTED.replace('"faults.db_down" = true', '"faults.db_down" = false'),
                      encoding="utf-8")
    code, _, err = run(capsys, "lessons", "check", "--run-claims", str(lesson))
    assert code == EXIT_FAILED and "no metric 'status.503' in this run" in err
