"""Start an exercise's test process: the one part of grading that must be quick to import.

`sandbox exercises check NAME` calls this before loading the rest of the grader or the
command line, so that the test process (which needs a few hundred milliseconds to import
pytest and the sandbox) starts first and the rest loads beside it. Only the standard library
is imported here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sandbox.grading import REPORT_ENV, STUDENT_DIR_ENV

MEMORY_CAP = 3 * 1024**3
FILE_CAP = 256 * 1024**2


@dataclass
class Launched:
    """A test process just started, or why it could not be."""

    proc: subprocess.Popen[bytes] | None
    report: Path
    error: str = ""


def launch(folder: Path, files: list[str], student_dir: Path, label: str) -> Launched:
    """Run pytest with the grading plugin on `files` (relative to `folder`), the student's
    code taken from `student_dir`, in a new session with memory and file-size caps."""
    import tempfile

    folder = folder.resolve()  # pytest runs inside it: a relative path would count from there
    fd, name = tempfile.mkstemp(prefix=f"grade-{label}-", suffix=".jsonl")
    os.close(fd)
    report = Path(name)
    env = dict(os.environ)
    env.update({REPORT_ENV: str(report), "PYTHONDONTWRITEBYTECODE": "1",
                "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
                STUDENT_DIR_ENV: str(student_dir.resolve())})
    command = [
        sys.executable, "-m", "pytest", "-p", "sandbox.grading.plugin",
        "-p", "no:cacheprovider", "-p", "no:asyncio", "-c", os.devnull,
        "--rootdir", str(folder), "--import-mode=importlib", "-q", "--no-header",
        "--tb=short", "-rN", "-s", *files,
    ]
    try:
        proc = subprocess.Popen(
            command, cwd=folder, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_limit_resources if os.name == "posix" else None,
        )
    except OSError as exc:
        report.unlink(missing_ok=True)
        return Launched(None, report, f"could not start the test process: {exc}")
    return Launched(proc, report)


def visible_test_files(folder: Path, hidden: bool) -> list[str]:
    """The graded test files of an exercise folder, found without reading them."""
    files = sorted(p.name for p in folder.glob("test_*.py"))
    if hidden:
        files += sorted(f"hidden/{p.name}" for p in (folder / "hidden").glob("test_*.py"))
    return files


def _limit_resources() -> None:  # runs in the child, before pytest starts
    import resource

    for limit, cap in ((resource.RLIMIT_AS, MEMORY_CAP), (resource.RLIMIT_FSIZE, FILE_CAP)):
        try:
            _, hard = resource.getrlimit(limit)
            resource.setrlimit(limit, (cap if hard == resource.RLIM_INFINITY else min(cap, hard),
                                       hard))
        except (ValueError, OSError):
            pass
