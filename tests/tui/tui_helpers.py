"""Helpers for the terminal app's tests: a recording app, bounded waiting, the playground."""

from __future__ import annotations

from collections.abc import Callable

from textual.notifications import SeverityLevel
from textual.pilot import Pilot

from sandbox.settings import Settings
from sandbox.tui import SandboxApp
from sandbox.tui.screens.playground import PlaygroundScreen

WIDE = (120, 40)
SMALL = (80, 24)


async def wait_until(pilot: Pilot[None], predicate: Callable[[], object], *, tries: int = 300,
                     delay: float = 0.02) -> None:
    """Let the app run until `predicate()` holds; fail after `tries` pauses."""
    for _ in range(tries):
        if predicate():
            return
        await pilot.pause(delay)
    raise AssertionError(f"condition not met after {tries} pauses")


def playground(app: SandboxApp) -> PlaygroundScreen:
    screen = app.screen
    assert isinstance(screen, PlaygroundScreen), screen
    return screen


class RecordingApp(SandboxApp):
    """The app, remembering every notification it showed as (severity, title, message)."""

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
