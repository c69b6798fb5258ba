"""Start an exercise's test process: the one part of grading that must be quick to import.

`sandbox exercises check NAME` calls this before loading the rest of the grader or the
command line, so that the test process (which needs a few hundred milliseconds to import
pytest and the sandbox) starts first and the rest loads beside it. Only the standard library
is imported here.

The test process is trusted: it holds the tests and writes the verdict. It runs on a fresh
private copy of the exercise's tests (nothing a submission does can change what the next one
is graded with), reports through a pipe that only it holds, and starts the student's code in
a worker process of its own (see plugin.py).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sandbox.grading import COURSE_DIR_ENV, CPU_ENV, REPORT_ENV, STUDENT_DIR_ENV

MEMORY_CAP = 3 * 1024**3
FILE_CAP = 256 * 1024**2
# What the test copy leaves out: the reference solution never sits beside a student's run.
NOT_COPIED = ("solution", "__pycache__", ".starter")


@dataclass
class Launched:
    """A test process just started (with the pipe its report comes through), or why not."""

    proc: subprocess.Popen[bytes] | None
    report: int  # the read end of the report pipe; -1 when nothing started
    copy: Path | None = None  # the private copy of the tests, removed when the run ends
    error: str = ""

    def discard(self) -> None:
        """Close the pipe and remove the copy (the run is over, or never began)."""
        if self.report >= 0:
            with contextlib.suppress(OSError):
                os.close(self.report)
            self.report = -1
        if self.copy is not None:
            shutil.rmtree(self.copy, ignore_errors=True)
            self.copy = None


def private_copy(folder: Path, label: str) -> Path:
    """The exercise's folder, tests and manifest, copied where only this user can read it."""
    root = Path(tempfile.mkdtemp(prefix=f"grade-{label}-"))  # mode 0700
    target = root / folder.name
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns(*NOT_COPIED),
                    symlinks=False)
    return target


def launch(folder: Path, files: list[str], student_dir: Path, label: str) -> Launched:
    """Run pytest with the grading plugin on `files` (relative to `folder`), the student's
    code taken from `student_dir`, in a new session with memory and file-size caps."""
    folder = folder.resolve()
    if student_dir.is_symlink():  # a submission's exercise folder, linked to a solution
        return Launched(None, -1, None, f"the student's folder {student_dir.name} is a "
                                        "symlink: the grader does not follow links")
    try:
        copy = private_copy(folder, label)
    except OSError as exc:
        return Launched(None, -1, None, f"could not copy the tests: {exc}")
    read, write = os.pipe()
    env = dict(os.environ)
    env.update({REPORT_ENV: str(write), CPU_ENV: str(next_cpu()),
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
                COURSE_DIR_ENV: str(folder.parent),
                STUDENT_DIR_ENV: str(student_dir.resolve())})
    command = [
        sys.executable, "-m", "pytest", "-p", "sandbox.grading.plugin",
        "-p", "no:cacheprovider", "-p", "no:asyncio", "-c", os.devnull,
        "--rootdir", str(copy), "--import-mode=importlib", "-q", "--no-header",
        "--tb=no", "-rN", "-s", *files,
    ]
    launched = Launched(None, read, copy.parent)
    try:
        launched.proc = subprocess.Popen(
            command, cwd=copy, env=env, stdin=subprocess.DEVNULL, pass_fds=[write],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_limit_resources if os.name == "posix" else None,
        )
    except OSError as exc:
        launched.discard()
        launched.error = f"could not start the test process: {exc}"
    finally:
        os.close(write)
    return launched


_LAUNCHES = itertools.count()


def next_cpu() -> int:
    """A processor for the next test process and its worker, taking them in turn, so that
    exercises graded side by side get one each (see plugin.worker)."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return -1
    return allowed[next(_LAUNCHES) % len(allowed)] if allowed else -1


StartedWorker = tuple[subprocess.Popen[bytes], socket.socket]


def start_worker(hide: list[str], cpu: int = -1, python: str = "",
                 forbidden: Mapping[str, str] | None = None) -> StartedWorker:
    """Start the student's worker process (worker.py) and return it with our end of its
    socket. The test process calls this as early as it can, so the worker's start-up runs
    beside the loading of the tests; remote.StudentWorker then talks to it. `python` is
    another interpreter of the same version to run it with (default: this one).
    `forbidden` are the modules the exercise forbids, {module: why} (forbid.py): hidden from
    the worker along with `hide`, and refused by it."""
    from sandbox.grading.forbid import encode, resolve
    from sandbox.grading.pids import capped_cgroup, enter

    ours, theirs = socket.socketpair()
    entries = resolve(forbidden or {})
    hide = [*hide, *(place for entry in entries for place in entry.places)]
    hidden = [p for p in [*hide, *_repositories_around(hide)] if _may_hide(p)]
    try:
        proc = subprocess.Popen(
            [python or sys.executable, "-I", "-S", "-c", _worker_main(), str(theirs.fileno()), str(cpu),
             encode(entries), *hidden],
            pass_fds=[theirs.fileno()], env=_worker_env(), cwd="/",
            stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            preexec_fn=enter(capped_cgroup()),  # a fork bomb stops at the cap (pids.py)
        )
    except OSError:
        ours.close()
        raise
    finally:
        theirs.close()
    return proc, ours


def _worker_main() -> str:
    """The worker's command: Python isolated from the environment and without `site` (its
    .pth files cost a third of the start-up), given the paths to the sandbox and the
    installed packages instead."""
    import site

    import sandbox

    paths = [os.path.dirname(os.path.dirname(os.path.abspath(sandbox.__file__))),
             *site.getsitepackages()]
    return (f"import sys; sys.path[:0] = {paths!r}; "
            "from sandbox.grading.worker import main; main(sys.argv)")


def _worker_env() -> dict[str, str]:
    """The worker's environment: nothing of the grader's (no report pipe, no tokens)."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}


def _repositories_around(folders: list[str]) -> list[str]:
    """The .git of every repository a hidden folder sits in: its history holds the hidden
    tests and the solutions too."""
    found = []
    for folder in folders:
        here = os.path.realpath(folder)
        while True:
            if os.path.exists(os.path.join(here, ".git")):
                found.append(os.path.join(here, ".git"))
            parent = os.path.dirname(here)
            if parent == here:
                break
            here = parent
    return sorted(set(found))


def _may_hide(path: str) -> bool:
    """A folder (or a file) is hidden from the worker unless Python or the sandbox live in
    it."""
    import sandbox

    needed = [os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
              os.path.realpath(os.path.dirname(sandbox.__file__))]
    real = os.path.realpath(path)
    return os.path.exists(real) and not any(
        n == real or n.startswith(real.rstrip("/") + "/") for n in needed)


def visible_test_files(folder: Path, hidden: bool) -> list[str]:
    """The graded test files of an exercise folder, found without reading them."""
    files = sorted(p.name for p in folder.glob("test_*.py"))
    if hidden:
        files += sorted(f"hidden/{p.name}" for p in (folder / "hidden").glob("test_*.py"))
    return files


def _limit_resources() -> None:  # runs in the child, before pytest starts
    import resource

    for limit, cap in ((resource.RLIMIT_AS, MEMORY_CAP), (resource.RLIMIT_FSIZE, FILE_CAP),
                       (resource.RLIMIT_CORE, 0)):
        try:
            _, hard = resource.getrlimit(limit)
            resource.setrlimit(limit, (cap if hard == resource.RLIM_INFINITY else min(cap, hard),
                                       hard))
        except (ValueError, OSError):
            pass
