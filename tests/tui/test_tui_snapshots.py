"""Snapshots of the screens that matter, at 80x24 and 120x40 (issue 4's tests).

Each was looked at before it was accepted (`pytest tests/tui/test_tui_snapshots.py
--snapshot-update` writes them under __snapshots__/). Nothing in them may depend on the clock or
on where the test runs: runs are seeded, the wall time a run took is pinned to zero, the
exercises are a private copy shown by a relative path, progress starts empty, and toasts are
cleared before the picture is taken.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input
from tui_helpers import PATIENCE_S, SMALL, WIDE, HomeApp, copy_exercises

from sandbox.tui.screens.exercise import ExerciseScreen
from sandbox.tui.screens.home import HomeScreen
from sandbox.tui.screens.lesson import LessonScreen
from sandbox.tui.screens.playground import PlaygroundScreen
from sandbox.tui.widgets import run_controls
from sandbox.tui.widgets.run_controls import RunControls

SIZES = pytest.mark.parametrize("size", [SMALL, WIDE], ids=["80x24", "120x40"])
SnapCompare = Callable[..., bool]
EXERCISES = ("05-cache-aside", "07-token-bucket", "14-circuit-breaker", "15-test-the-cache")


@pytest.fixture(autouse=True)
def _steady_screens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_exercises(tmp_path / "exercises", *EXERCISES)
    monkeypatch.setenv("SANDBOX_EXERCISES", str(root))
    monkeypatch.chdir(tmp_path)  # the learner's file shows as exercises/NN-name/file.py
    monkeypatch.setattr(run_controls, "wall_clock", lambda: 0.0)  # every run takes 0.0 s


async def until(pilot: Pilot[Any], predicate: Callable[[], object]) -> None:
    deadline = time.monotonic() + PATIENCE_S  # a guard against a hang, not a speed limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("the screen never got ready for its snapshot")
        await pilot.pause(0.02)


async def settle(pilot: Pilot[Any]) -> None:
    """Let everything started finish, then drop the toasts (they come and go with time)."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    pilot.app.clear_notifications()
    await pilot.pause()


async def course_read(pilot: Pilot[Any]) -> HomeScreen:
    screen = pilot.app.screen
    assert isinstance(screen, HomeScreen)
    await until(pilot, lambda: screen.course is not None)
    return screen


def snap(snap_compare: SnapCompare, size: tuple[int, int],
         run_before: Callable[[Pilot[Any]], Awaitable[None]]) -> None:
    assert snap_compare(HomeApp(), terminal_size=size, run_before=run_before)


@SIZES
def test_home(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await course_read(pilot)
        await pilot.press("e", "down")  # the token bucket, described under the lists
        await settle(pilot)

    snap(snap_compare, size, ready)


@SIZES
def test_playground_after_a_run(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await course_read(pilot)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(pilot.app.screen, PlaygroundScreen))
        screen = pilot.app.screen
        assert isinstance(screen, PlaygroundScreen)
        screen.query_one("#run-requests", Input).value = "800"
        await pilot.press("r")
        await until(pilot, lambda: bool(screen.runs) and not screen.query_one(RunControls).running)
        await settle(pilot)

    snap(snap_compare, size, ready)


def test_playground_flow_after_a_run(snap_compare: SnapCompare) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await course_read(pilot)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(pilot.app.screen, PlaygroundScreen))
        screen = pilot.app.screen
        assert isinstance(screen, PlaygroundScreen)
        pilot.app.settings = pilot.app.settings.replace({"cache.strategy": "cache_aside",
                                                         "topology.instances": 3})
        screen.query_one("#run-requests", Input).value = "800"
        await pilot.press("r")
        await until(pilot, lambda: bool(screen.runs) and not screen.query_one(RunControls).running)
        await pilot.press("f")
        await settle(pilot)

    snap(snap_compare, WIDE, ready)


@SIZES
def test_lesson_player(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        home = await course_read(pilot)
        home.open_option("lesson:caching")
        await until(pilot, lambda: isinstance(pilot.app.screen, LessonScreen))
        screen = pilot.app.screen
        assert isinstance(screen, LessonScreen)
        await pilot.press("right")  # step 2: the cache on; predict, then measure
        await until(pilot, lambda: screen.index == 1)
        await pilot.press("enter")  # the first answer
        await until(pilot, lambda: screen.last_metrics is not None and not screen.running)
        await settle(pilot)

    snap(snap_compare, size, ready)


@SIZES
def test_exercise_view_after_a_check_and_a_hint(snap_compare: SnapCompare,
                                                size: tuple[int, int]) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        home = await course_read(pilot)
        home.open_option("exercise:token-bucket")
        await until(pilot, lambda: isinstance(pilot.app.screen, ExerciseScreen))
        screen = pilot.app.screen
        assert isinstance(screen, ExerciseScreen)
        await pilot.press("h", "c")
        await until(pilot, lambda: screen.last_result is not None)
        await settle(pilot)

    snap(snap_compare, size, ready)
