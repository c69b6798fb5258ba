"""Course folders (issue 19): an instructor's own lessons and exercises side by side, found by
`--course`, `SANDBOX_COURSE`, `lessons --dir` and `SANDBOX_LESSONS_DIR`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sandbox.commands.cli import main
from sandbox.errors import EXIT_OK, EXIT_USAGE

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
        monkeypatch.delenv(name, raising=False)
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
    return code, captured.out, captured.err.replace("\n", " ")


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
