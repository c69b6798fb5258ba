"""The pytest plugin every exercise's tests run under.

It gives tests the `student` fixture (the student's module, loaded from the file they edit, or
from wherever the grader points it), registers `@pytest.mark.points(N)`, and, when the grader
asks, writes one JSON line per event to a report file as the run goes, so that a run killed
half-way (an endless loop, `os._exit`) still says which tests passed and which one was running.

    pytest -p sandbox.grading.plugin exercises/07-token-bucket
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Generator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from sandbox.grading import REPORT_ENV, STUDENT_DIR_ENV

MANIFEST = "exercise.toml"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "points(n): how many points the test is worth")
    path = os.environ.get(REPORT_ENV)
    if path and not hasattr(config, "_sandbox_report"):
        reporter = _Reporter(Path(path))
        config._sandbox_report = reporter  # type: ignore[attr-defined]
        config.pluginmanager.register(reporter, "sandbox-grading-report")


def exercise_folder(test_file: Path) -> Path:
    """The exercise a test file belongs to: the nearest folder up with an exercise.toml."""
    for folder in test_file.resolve().parents:
        if (folder / MANIFEST).is_file():
            return folder
    raise RuntimeError(f"{test_file} is not inside an exercise folder (no {MANIFEST} above it)")


def student_files(folder: Path) -> list[str]:
    import tomllib

    data = tomllib.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    return [str(f) for f in data.get("files", [])]


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


@pytest.fixture
def student(request: pytest.FixtureRequest) -> ModuleType:
    """The student's module (an exercise's first file), freshly loaded for each test."""
    folder = exercise_folder(Path(request.node.path))
    files = student_files(folder)
    path = source_dir(folder) / files[0]
    return load_student_module(path, f"student_{folder.name.replace('-', '_')}_{path.stem}")


@pytest.fixture
def student_modules(request: pytest.FixtureRequest) -> dict[str, ModuleType]:
    """Every student file of the exercise, by file stem, for exercises with several files."""
    folder = exercise_folder(Path(request.node.path))
    base = source_dir(folder)
    return {Path(f).stem: load_student_module(
        base / f, f"student_{folder.name.replace('-', '_')}_{Path(f).stem}")
        for f in student_files(folder)}


class _Reporter:
    """Writes the run as JSON lines: collected tests, each start, each result."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("a", encoding="utf-8")
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
