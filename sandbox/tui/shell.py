"""What a screen may ask of the app it runs in: the switches, their signal, playing plugged code.

Screens reach the app through `shell(self)` typed as this protocol rather than importing the
app class, so the app can import its screens and no screen imports the app back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from textual.screen import Screen
    from textual.signal import Signal

    from sandbox.settings import Settings
    from sandbox.tui.exercising import PlaygroundSetup, PluggedCode


class Shell(Protocol):
    """The app's side of the screens' contract (`SandboxApp` is the one implementation)."""

    settings_changed: Signal[Settings]

    @property
    def settings(self) -> Settings:
        """The switches every screen reads; setting them publishes `settings_changed`."""

    @settings.setter
    def settings(self, settings: Settings) -> None: ...

    async def play(self, plugged: PluggedCode, setup: PlaygroundSetup) -> None:
        """Open the playground on the learner's plugged-in code with the exercise's setup."""


def shell(screen: Screen[Any]) -> Shell:
    """The app `screen` is mounted in, seen through the screens' contract."""
    return cast("Shell", screen.app)
