"""The package's front door and its one exception tree."""

from __future__ import annotations

import subprocess
import sys

import pytest

import sandbox


def test_the_front_door_names_the_main_parts() -> None:
    from sandbox.runtime import Sandbox
    from sandbox.scenarios import run_scenario
    from sandbox.settings import Settings

    assert sandbox.Sandbox is Sandbox and sandbox.Settings is Settings
    assert sandbox.run_scenario is run_scenario
    assert set(sandbox.__all__) >= {"Sandbox", "Settings", "run_scenario", "SandboxError"}
    with pytest.raises(AttributeError, match="no attribute 'Sandbx'"):
        _ = sandbox.Sandbx  # type: ignore[attr-defined]


def test_importing_the_package_loads_nothing_heavy() -> None:
    """The grader's fast path imports `sandbox.errors`; the front door must not pull in the
    whole backend on the way."""
    code = "import sys, sandbox.errors; print('sandbox.runtime' in sys.modules, 'starlette' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_every_error_the_sandbox_raises_on_purpose_is_a_sandbox_error() -> None:
    from sandbox.errors import SandboxError
    from sandbox.mechanisms.queue import JobFailed
    from sandbox.mechanisms.redis_store import CacheUnavailable
    from sandbox.mechanisms.resilience import DependencyFailed
    from sandbox.network.dns import UnknownHost
    from sandbox.scenarios import ScenarioCancelled

    for error in (JobFailed, CacheUnavailable, DependencyFailed, UnknownHost, ScenarioCancelled):
        assert issubclass(error, SandboxError), error


def test_exit_codes_and_shown_paths_exist_once() -> None:
    from sandbox import errors
    from sandbox.commands import cli, lessons
    from sandbox.commands import exercises as commands
    from sandbox.course import folders
    from sandbox.tui import exercising

    assert cli.EXIT_USAGE is errors.EXIT_USAGE == 2
    assert commands.shown_path is folders.shown_path
    assert not hasattr(exercising, "shown_path")
    assert lessons.lessons_dir is folders.lessons_dir
