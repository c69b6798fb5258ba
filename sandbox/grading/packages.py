"""Autograder packages: the course as Gradescope's autograder zip, or as a GitHub Classroom
template repository.

Gradescope runs `setup.sh` once to build its image, then `run_autograder` per submission, with
the student's files in /autograder/submission and the score expected in
/autograder/results/results.json. Neither platform can reach this repository, so the zip
carries the package's own source (installed by `pip install` in setup.sh) and the course's
exercises with their hidden tests (the autograder is never given to students); solutions are
never in either package.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path

from sandbox.course.exercises import Exercise, ExerciseError
from sandbox.grading.instructor import release

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the autograder's image.
set -euo pipefail
cd "$(dirname "$0")"
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    # The sandbox needs Python 3.11 or newer; older Ubuntu images get it from deadsnakes.
    apt-get update
    apt-get install -y software-properties-common
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update
    apt-get install -y python3.11 python3.11-venv
    ln -sf "$(command -v python3.11)" /usr/local/bin/python3
fi
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --upgrade pip
/autograder/venv/bin/pip install ./package
# The seeded shop's database, built into the image once (a few CPU seconds), not again for
# every submission in a fresh container.
/autograder/venv/bin/python -c 'from sandbox.backend.seed import ensure_seed_file; \\
from sandbox.runtime import DATA_SEED; print("built", ensure_seed_file(DATA_SEED))'
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this once per submission. AUTOGRADER_ROOT (default /autograder) and PYTHON
# (default the venv setup.sh made) are there so the package can be tried outside Gradescope.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${PYTHON:-$ROOT/venv/bin/python}"
COURSE="$ROOT/source/exercises"
WORK="$(mktemp -d)"
mkdir -p "$ROOT/results"
# The upload may hold NN-name/ folders (as the student bundle has them) or bare files: a bare
# file goes to every exercise that names a file of that name.
for exercise in "$COURSE"/*/; do
    name="$(basename "$exercise")"
    mkdir -p "$WORK/$name"
    if [ -d "$ROOT/submission/$name" ]; then
        cp -R "$ROOT/submission/$name/." "$WORK/$name/"
    fi
    for file in "$ROOT"/submission/*.py; do
        [ -f "$file" ] || continue
        if [ -f "$exercise/$(basename "$file")" ]; then
            cp "$file" "$WORK/$name/"
        fi
    done
done
cd "$ROOT/source"
"$PYTHON" -m sandbox exercises --dir "$COURSE" grade --submission "$WORK" \\
    --gradescope "$ROOT/results/results.json"
# grade exits 1 when a test fails: that is a score, not an autograder failure.
[ -f "$ROOT/results/results.json" ]
"""

CLASSROOM_YML = """name: Autograding
on: [push, workflow_dispatch]
permissions:
  contents: read
jobs:
  grade:
    runs-on: ubuntu-latest
    timeout-minutes: 20
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install the sandbox
        run: pip install "${{ vars.SANDBOX_PACKAGE || 'backend-sandbox' }}"
      - name: Grade
        run: |
          set +e
          sandbox exercises --dir . grade --gradescope results.json
          code=$?
          python3 - <<'PY' | tee -a "$GITHUB_STEP_SUMMARY"
          import json
          tests = json.load(open("results.json"))["tests"]
          got, most = sum(t["score"] for t in tests), sum(t["max_score"] for t in tests)
          print(f"Points {got:g}/{most:g}")
          PY
          exit $code
"""


def _package_source(dest: Path) -> None:
    """This package's source, installable with `pip install DIR` where the repository is not
    reachable: the package folder, pyproject.toml and the README it names."""
    import sandbox

    package = Path(sandbox.__file__).resolve().parent
    project = package.parent
    if not (project / "pyproject.toml").is_file():
        raise ExerciseError(f"{project} has no pyproject.toml: build the autograder from a "
                            "checkout of the sandbox (pip install -e .), not an installed wheel")
    shutil.copytree(package, dest / "sandbox",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        if (project / name).is_file():
            shutil.copy2(project / name, dest / name)


def gradescope_zip(root: Path, zip_path: Path, only: set[str] | None = None) -> list[Exercise]:
    """Write Gradescope's autograder zip: setup.sh and run_autograder at its top, the package
    source in package/, the exercises (hidden tests in, solutions out) in exercises/."""
    with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
        source = Path(tmp)
        done = release(root, source / "exercises", hidden=True, only=only)
        if not done:
            raise ExerciseError("no exercise to package (check the names after --only)")
        _package_source(source / "package")
        zip_path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as bundle:
            for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
                info = zipfile.ZipInfo(name)
                info.external_attr = 0o755 << 16  # executable, as Gradescope needs
                info.compress_type = zipfile.ZIP_DEFLATED
                bundle.writestr(info, text)
            for path in sorted(source.rglob("*")):
                if path.is_file():
                    bundle.write(path, path.relative_to(source).as_posix())
    return done


def classroom_template(root: Path, target: Path,
                       only: set[str] | None = None) -> list[Exercise]:
    """Write a GitHub Classroom template repository: the student bundle (no solutions, no
    hidden tests) and a workflow that grades each push and prints `Points X/Y`."""
    done = release(root, target, only=only)
    workflow = target / ".github" / "workflows" / "classroom.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(CLASSROOM_YML, encoding="utf-8")
    return done
