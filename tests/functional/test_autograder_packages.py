"""Autograder packages (issue 19): Gradescope's zip, run as Gradescope runs it, and the GitHub
Classroom template. One cheap exercise (07) keeps each grading run near a second."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml

from sandbox.commands.cli import main
from sandbox.errors import EXIT_OK, EXIT_USAGE

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "tests" / "data" / "gradescope_results.schema.json").read_text())
SOLUTION = REPO / "exercises" / "07-token-bucket" / "solution" / "token_bucket.py"


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SANDBOX_COURSE", "SANDBOX_EXERCISES", "SANDBOX_LESSONS_DIR"):
        monkeypatch.setenv(name, "")  # so that whatever `--course` sets is undone after
        monkeypatch.delenv(name)
    root = tmp_path / "exercises"
    for name in ("07-token-bucket", "15-test-the-cache"):
        shutil.copytree(REPO / "exercises" / name, root / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "exercises" / "pytest.ini", root / "pytest.ini")
    return root


def autograde(zip_path: Path, where: Path, upload: dict[str, str]) -> dict[str, object]:
    """Lay the zip out as Gradescope does (/autograder/source, submission, results) under
    `where`, put the student's upload in, run run_autograder; the results.json it wrote."""
    (where / "source").mkdir(parents=True)
    (where / "submission").mkdir()
    with zipfile.ZipFile(zip_path) as bundle:
        bundle.extractall(where / "source")
    for name, text in upload.items():
        (where / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (where / "submission" / name).write_text(text, encoding="utf-8")
    env = dict(os.environ, AUTOGRADER_ROOT=str(where), PYTHON=sys.executable)
    done = subprocess.run(["bash", str(where / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    results: dict[str, object] = json.loads((where / "results" / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    return results


def test_the_gradescope_zip_grades_a_correct_and_a_broken_submission(
        course: Path, tmp_path: Path) -> None:
    zip_path = tmp_path / "autograder.zip"
    assert main(["exercises", "--dir", str(course), "release", "--gradescope", str(zip_path),
                 "--only", "token-bucket"]) == EXIT_OK
    with zipfile.ZipFile(zip_path) as bundle:
        names = bundle.namelist()
        modes = {i.filename: i.external_attr >> 16 for i in bundle.infolist()}
    assert {"setup.sh", "run_autograder", "package/pyproject.toml"} <= set(names)
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert "exercises/07-token-bucket/hidden/test_token_bucket_hidden.py" in names  # graded
    assert not any("/solution/" in name for name in names)  # never the answers
    assert not any(name.startswith("exercises/15-") for name in names)  # --only
    assert any(name.startswith("package/sandbox/grading/") for name in names)
    with zipfile.ZipFile(zip_path) as bundle:
        (tmp_path / "setup.sh").write_bytes(bundle.read("setup.sh"))
    assert subprocess.run(["bash", "-n", str(tmp_path / "setup.sh")],
                          check=False).returncode == 0
    # The image carries the seeded shop, so no submission's container builds it: that line
    # of setup.sh, run with this Python into an empty cache, leaves the file there.
    lines = (tmp_path / "setup.sh").read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if "ensure_seed_file" in line)
    last = first
    while lines[last].endswith("\\"):  # the command goes on
        last += 1
    build = "\n".join(lines[first:last + 1])
    cache = tmp_path / "image-cache"
    done = subprocess.run(build.replace("/autograder/venv/bin/python", shlex.quote(sys.executable)),
                          shell=True, env=dict(os.environ, SANDBOX_CACHE_DIR=str(cache)),
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    from sandbox.backend.seed import seed_path
    from sandbox.runtime import DATA_SEED

    assert [p.name for p in cache.iterdir()] == [seed_path(DATA_SEED).name]

    good = autograde(zip_path, tmp_path / "good", {"token_bucket.py": SOLUTION.read_text()})
    assert good["score"] == 22
    tests = good["tests"]
    assert isinstance(tests, list) and all(t["status"] == "passed" for t in tests)
    assert any("hidden" in t["name"] or t["visibility"] == "after_due_date" for t in tests)

    # broken: it does not even import, and it sits in the bundle's own NN-name/ folder
    bad = autograde(zip_path, tmp_path / "bad",
                    {"07-token-bucket/token_bucket.py": "class TokenBucket(:\n"})
    assert bad["score"] == 0
    tests = bad["tests"]
    assert isinstance(tests, list) and len(tests) == len(good["tests"])  # type: ignore[arg-type]
    assert all(t["status"] == "failed" for t in tests)


def test_the_classroom_template_grades_pushes_and_hides_answers(
        course: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "template"
    assert main(["exercises", "--dir", str(course), "release", "--github-classroom",
                 str(target)]) == EXIT_OK
    workflow = yaml.safe_load((target / ".github" / "workflows" / "classroom.yml").read_text())
    steps = workflow["jobs"]["grade"]["steps"]
    commands = " ".join(step.get("run", "") for step in steps)
    assert "sandbox exercises --dir . grade" in commands and "Points" in commands
    assert any(step.get("uses", "").startswith("actions/checkout") for step in steps)
    files = [p.relative_to(target).as_posix() for p in target.rglob("*")]
    assert "07-token-bucket/token_bucket.py" in files and "15-test-the-cache" in files
    assert not any(part in {"solution", "hidden"} for f in files for part in f.split("/"))
    assert main(["exercises", "--dir", str(course), "release"]) == EXIT_USAGE  # no target
    assert "give one of" in capsys.readouterr().err
    assert main(["exercises", "--dir", str(course), "release", "--gradescope",
                 str(tmp_path / "x.zip"), "--only", "tokn-bucket"]) == EXIT_USAGE
    assert "tokn-bucket" in capsys.readouterr().err and not (tmp_path / "x.zip").exists()
