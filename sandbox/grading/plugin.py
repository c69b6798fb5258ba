"""The pytest plugin every exercise's tests run under.

It gives tests the `student` fixture: the student's module, imported in a worker process of
its own (worker.py), shut in where it can neither see the course nor touch this process, and
called through proxies (remote.py). The tests, the sandbox and the verdict stay here. It also
registers `@pytest.mark.points(N)`, and, when the grader asks, writes one JSON line per event
to a pipe the grader reads as the run goes, so that a run killed half-way (an endless loop)
still says which tests passed and which one was running. No process the student's code
starts inherits that pipe.

    pytest -p sandbox.grading.plugin exercises/07-token-bucket
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import stat
import sys
from collections.abc import Generator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

from sandbox.grading import COURSE_DIR_ENV, CPU_ENV, REPORT_ENV, STUDENT_DIR_ENV
from sandbox.grading.confine import kill_descendants, protect_trusted_process

if TYPE_CHECKING:
    from sandbox.grading.launch import StartedWorker
    from sandbox.grading.remote import StudentWorker

MANIFEST = "exercise.toml"


def pytest_configure(config: pytest.Config) -> None:
    global _EARLY, _RUN_FOLDER, _REPORTER
    config.addinivalue_line("markers", "points(n): how many points the test is worth")
    fd = os.environ.pop(REPORT_ENV, "")
    if fd.isdigit() and not hasattr(config, "_sandbox_report"):
        protect_trusted_process()  # the grader's test process: see confine.py
        _RUN_FOLDER = str(config.rootpath)
        with contextlib.suppress(OSError, ValueError):  # a bad manifest: said by each test
            _EARLY_FORBIDDEN.update(forbidden_imports(config.rootpath))
        # Started now, so that it gets going while pytest sets up and the tests load;
        # waited for at the first test that needs it. The run is one exercise's (launch.py).
        _EARLY = _start(_EARLY_FORBIDDEN)
        reporter = _REPORTER = _Reporter(int(fd))
        config._sandbox_report = reporter  # type: ignore[attr-defined]
        config.pluginmanager.register(reporter, "sandbox-grading-report")


def exercise_folder(test_file: Path) -> Path:
    """The exercise a test file belongs to: the nearest folder up with an exercise.toml."""
    for folder in test_file.resolve().parents:
        if (folder / MANIFEST).is_file():
            return folder
    raise RuntimeError(f"{test_file} is not inside an exercise folder (no {MANIFEST} above it)")


def _manifest(folder: Path) -> dict[str, Any]:
    """The exercise's manifest, read once per test run (every load of the student's code asks
    for its files and its forbidden modules; the grader's copy does not change meanwhile)."""
    import tomllib

    key = str(folder)
    if key not in _MANIFESTS:
        _MANIFESTS[key] = tomllib.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    return _MANIFESTS[key]


_MANIFESTS: dict[str, dict[str, Any]] = {}


def student_files(folder: Path) -> list[str]:
    return [str(f) for f in _manifest(folder).get("files", [])]


def forbidden_imports(folder: Path) -> dict[str, str]:
    """The modules the exercise in `folder` forbids the student's code, {module: why}."""
    from sandbox.course.exercises import read_forbidden_imports

    return read_forbidden_imports(_manifest(folder).get("forbidden_imports", []))


def source_dir(folder: Path) -> Path:
    override = os.environ.get(STUDENT_DIR_ENV)
    return Path(override) if override else folder


def load_student_module(path: Path, unique: str) -> ModuleType:
    """Import the student's file under a name of its own (exercises may share file names).

    Its folder is put first on sys.path while it loads, so a student file may import a
    sibling file of the same exercise by its plain name.
    """
    spec = importlib.util.spec_from_file_location(unique, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(unique, None)
        raise
    finally:
        sys.path.remove(str(path.parent))
    return module


def sibling(test_file: str, relative: str) -> ModuleType:
    """Another file of the same exercise (say the visible tests, from a hidden test), loaded
    by path: exercise test files are not importable by name, since several exercises may use
    the same file names.

        visible = sibling(__file__, "test_token_bucket.py")
    """
    folder = exercise_folder(Path(test_file))
    path = folder / relative
    return load_student_module(path, f"sibling_{folder.name.replace('-', '_')}_{path.stem}")


_WORKER: StudentWorker | None = None
_EARLY: StartedWorker | None = None  # a worker started before the first test asked for it
_EARLY_FORBIDDEN: dict[str, str] = {}  # what that one refuses
_REPORTER: _Reporter | None = None
_LOADS = 0
_RUN_FOLDER = ""  # the folder the tests run from (the grader's private copy)


def worker(forbidden: dict[str, str] | None = None) -> StudentWorker:
    """The test run's worker process (a new one if the last one died: an `os._exit` in one
    test costs that test, not the rest). `forbidden`: the modules it must refuse (None: the
    same as now); a worker that refuses others is replaced, since a worker can never be
    given back a module it refused, nor take back one it has loaded."""
    global _WORKER, _EARLY
    wanted = dict(forbidden) if forbidden is not None else (
        _WORKER.forbidden if _WORKER is not None else {})
    if _WORKER is not None and (not _WORKER.alive or _WORKER.forbidden != wanted):
        _WORKER.stop()
        _WORKER = None
    if _WORKER is None:
        from sandbox.grading.remote import StudentWorker

        started, _EARLY = _EARLY, None
        if started is not None and wanted != _EARLY_FORBIDDEN:
            _discard(started)
            started = None
        _WORKER = StudentWorker(started=started or _start(wanted), forbidden=wanted)
    return _WORKER


def _start(forbidden: dict[str, str]) -> StartedWorker:
    from sandbox.grading.launch import start_worker

    hide = [p for p in (os.environ.get(COURSE_DIR_ENV), os.environ.get(STUDENT_DIR_ENV),
                        _RUN_FOLDER) if p]
    cpu = os.environ.get(CPU_ENV, "")
    return start_worker(hide, int(cpu) if cpu.isdigit() else -1, forbidden=forbidden)


def _discard(started: StartedWorker) -> None:
    proc, sock = started
    sock.close()
    proc.kill()
    proc.wait()


def _student_sources(folder: Path) -> dict[str, str]:
    base = source_dir(folder)
    return {f: read_student_file(base / f) for f in student_files(folder)}


def student_sources(test_file: str) -> dict[str, str]:
    """The text of the student's files for the exercise `test_file` belongs to, by file name,
    read here as the grader reads them (never through a link): for a test that looks at how
    the code is written, not only at what it does.

        sources = student_sources(__file__)
    """
    return _student_sources(exercise_folder(Path(test_file)))


def read_student_file(path: Path) -> str:
    """A student's file, read here (by the trusted test process) only if it is a plain file:
    a symlink, to another student's answer or a solution elsewhere on the grader's disk, is
    refused, never followed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if path.is_symlink():
            raise PermissionError(f"{path.name} is a symlink: the grader does not follow "
                                  "links (hand in the file itself)") from None
        raise exc from None
    with open(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PermissionError(f"{path.name} is not a plain file")
        return handle.read().decode("utf-8")


def load_in_worker(folder: Path, file: str) -> Any:
    """The student's `file` of the exercise in `folder`, freshly imported in the worker."""
    unique = _unique(f"student_{folder.name.replace('-', '_')}_{Path(file).stem}")
    started = worker(forbidden_imports(folder))
    if started.loads == 0:
        if _REPORTER is not None:
            _REPORTER._emit({"event": "worker", "level": started.level})
        cpu = os.environ.get(CPU_ENV, "")
        if cpu.isdigit():  # the tests are loaded: from here on, take turns with the worker
            from sandbox.grading.remote import share_one_processor

            share_one_processor(int(cpu))
    module = started.load(unique, _student_sources(folder), file)
    _LOADED_FROM.append((module, folder))
    return module


# Each student module loaded, with its exercise's folder (the grader's private copy): where
# `adapter_for` finds the exercise's adapter. The module is kept, so its id is never reused.
_LOADED_FROM: list[tuple[Any, Path]] = []


def adapter_for(module: Any) -> Path | None:
    """The adapter file of the exercise `module` (a `student` fixture) was loaded for, if its
    manifest names one. Always the course's copy: a submission's own copy is never read."""
    import tomllib

    for loaded, folder in reversed(_LOADED_FROM):
        if loaded is module:
            name = tomllib.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("adapter")
            return folder / name if isinstance(name, str) and name else None
    return None


@pytest.fixture
def student(request: pytest.FixtureRequest) -> Any:
    """The student's module (an exercise's first file), freshly loaded for each test in the
    worker process: a proxy whose calls run there."""
    folder = exercise_folder(Path(request.node.path))
    return load_in_worker(folder, student_files(folder)[0])


@pytest.fixture
def student_modules(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Every student file of the exercise, by file stem, for exercises with several files."""
    folder = exercise_folder(Path(request.node.path))
    return {Path(f).stem: load_in_worker(folder, f) for f in student_files(folder)}


def student_copy(test_file: str, student: Any) -> Any:
    """Another, separate import of the student's module, as a second worker process of the
    shop would have: it shares nothing in memory with the first.

        other_worker = student_copy(__file__, student)
    """
    return load_in_worker(exercise_folder(Path(test_file)), Path(str(student.__file__)).name)


def pytest_sessionstart(session: pytest.Session) -> None:
    global _RUN_FOLDER
    _RUN_FOLDER = str(session.config.rootpath)


_EXIT_STATUS = 0


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _WORKER, _EXIT_STATUS
    _EXIT_STATUS = int(exitstatus)
    if _WORKER is not None:
        _WORKER.stop()
        _WORKER = None
    if hasattr(session.config, "_sandbox_report"):
        kill_descendants()  # anything the student's code started and detached


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """The grader's test process ends here, once every result is written: tearing down the
    interpreter (the sandbox, pytest, every module) would add a fifth to a `check`."""
    reporter = getattr(config, "_sandbox_report", None)
    if reporter is None:
        return
    reporter.file.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_EXIT_STATUS)


def _build_the_shop_first() -> None:
    """Tests that run the sandbox need the seeded shop's database file, built once per
    machine in a few CPU seconds. It is built here, before the "collected" record starts the
    grader's clock, so that a cold cache (a fresh clone, a new autograder container) is not
    charged to the first student's time limit."""
    if "sandbox.backend.seed" not in sys.modules:
        return  # these tests never open the shop (the sandbox and its database import it)
    from sandbox.backend.seed import ensure_seed_file
    from sandbox.errors import SeedError
    from sandbox.runtime import DATA_SEED

    with contextlib.suppress(SeedError):  # each test that needs the file says why it failed
        ensure_seed_file(DATA_SEED)


class _Reporter:
    """Writes the run as JSON lines: collected tests, each start, each result."""

    def __init__(self, fd: int) -> None:
        self.file = open(fd, "w", encoding="utf-8")  # noqa: SIM115 - open for the whole run
        self.student_dirs: set[str] = set()

    def _emit(self, record: dict[str, Any]) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        items = []
        for item in session.items:
            marker = item.get_closest_marker("points")
            points = float(marker.args[0]) if marker and marker.args else 0.0
            items.append({"nodeid": item.nodeid, "points": points})
        _build_the_shop_first()
        self._emit({"event": "collected", "items": items})

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self._emit({"event": "start", "nodeid": nodeid})

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self._emit({"event": "finish", "nodeid": nodeid})

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item,
                                  call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
        outcome = yield
        report = outcome.get_result()
        if call.excinfo is not None and report.failed:
            folder = exercise_folder(Path(item.path))
            from sandbox.grading.explain import explain

            report.sandbox_explain = explain(call.excinfo, source_dir(folder),
                                             student_files(folder), call.when)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or report.failed or report.skipped:
            explained = getattr(report, "sandbox_explain", None)
            self._emit({
                "event": "result", "nodeid": report.nodeid, "when": report.when,
                "outcome": report.outcome, "duration_s": round(report.duration, 4),
                "explain": explained,
            })

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self._emit({"event": "collect_error", "nodeid": report.nodeid,
                        "message": str(report.longrepr)[-2000:]})


def helper_in_worker(source: str) -> Any:
    """Instructor code run beside the student's, in the worker, for tests that look at how
    the code works rather than at what it returns (did it call hmac.compare_digest?). Its
    answers come from the worker, so they are no stronger than the student's own."""
    return worker().load(_unique("helper"), {"helper.py": source}, "helper.py")


def _unique(prefix: str) -> str:
    """A module name used once in the worker (every load is a fresh import)."""
    global _LOADS
    _LOADS += 1
    return f"{prefix}_{_LOADS}"
