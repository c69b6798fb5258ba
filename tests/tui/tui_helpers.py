"""Helpers for the terminal app's tests: a recording app, bounded waiting, the playground."""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from textual import events
from textual.notifications import SeverityLevel
from textual.pilot import Pilot

from sandbox.settings import Settings
from sandbox.tui import SandboxApp
from sandbox.tui.screens.lesson import LessonScreen
from sandbox.tui.screens.lessons import LessonsScreen
from sandbox.tui.screens.playground import PlaygroundScreen

WIDE = (120, 40)
SMALL = (80, 24)


# How long a condition may take to come true before the test fails: a guard against a hang,
# never a speed requirement, so it is generous (a busy machine runs everything slower).
PATIENCE_S = 120.0


async def wait_until(pilot: Pilot[None], predicate: Callable[[], object], *,
                     timeout: float = PATIENCE_S, delay: float = 0.02) -> None:
    """Let the app run until `predicate()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout:g} s")
        await pilot.pause(delay)


async def burst(pilot: Pilot[None], *keys: tuple[str, str | None]) -> None:
    """Keys (name, character) arriving together, as when typed fast, pasted or scripted;
    `pilot.press` waits for the app to settle after each key, which hides what this shows."""
    driver = pilot.app._driver
    assert driver is not None
    for key, character in keys:
        event = events.Key(key, character)
        event.set_sender(pilot.app)
        driver.send_message(event)
    await pilot.pause()


async def open_lesson(pilot: Pilot[None], lesson_id: str) -> LessonScreen:
    """From the playground: `l` for the lessons, then open `lesson_id` and wait for it."""
    await pilot.press("l")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, LessonsScreen))
    listing = pilot.app.screen
    assert isinstance(listing, LessonsScreen)
    listing.open_option(f"lesson:{lesson_id}")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, LessonScreen))
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, LessonScreen)
    return screen


def playground(app: SandboxApp) -> PlaygroundScreen:
    screen = app.screen
    assert isinstance(screen, PlaygroundScreen), screen
    return screen


class RecordingApp(SandboxApp):
    """The app, remembering every notification it showed as (severity, title, message).

    It opens on the playground, which most of these tests are about; `HomeApp` opens where
    the real app does.
    """

    DEFAULT_MODE = "playground"

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings)
        self.shown: list[tuple[str, str, str]] = []

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        self.shown.append((severity, title, message))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def errors(self) -> list[str]:
        return [f"{title}: {message}" for severity, title, message in self.shown
                if severity == "error"]


class HomeApp(RecordingApp):
    """The recording app, opening on the home screen like `sandbox` does."""

    DEFAULT_MODE = "home"


def plain_text(renderable: object, width: int = 200) -> str:
    """A renderable (a Static's content, a prompt) as plain text."""
    console = Console(width=width, file=io.StringIO(), color_system=None)
    with console.capture() as captured:
        console.print(renderable)
    return captured.get()


def copy_exercises(target: Path, *names: str) -> Path:
    """A private copy of some shipped exercises (stubs, tests, solutions) under `target`, so a
    test may check, edit and reset them without touching the repository's."""
    root = Path(__file__).resolve().parents[2] / "exercises"
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copytree(root / name, target / name,
                        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return target
