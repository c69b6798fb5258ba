"""The terminal app: modes (playground, composer), global keys, the theme, the help screen.

The app owns one thing besides navigation: `settings`, the switches every screen reads. The
playground's switches panel changes it; the next run and the composer's next request use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen

from sandbox.settings import Settings
from sandbox.tui.screens.composer import ComposerScreen
from sandbox.tui.screens.help import HelpScreen
from sandbox.tui.screens.lessons import LessonScreen, LessonsScreen
from sandbox.tui.screens.playground import PlaygroundScreen

DARK, LIGHT = "textual-dark", "textual-light"


class SandboxApp(App[None]):
    """The backend sandbox in a terminal."""

    TITLE = "the backend sandbox"
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute, so subclasses elsewhere work
    MODES: ClassVar = {"playground": PlaygroundScreen, "composer": ComposerScreen, "lessons": LessonsScreen}
    DEFAULT_MODE = "playground"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # noqa: RUF012 (Textual's type)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark,f1", "help", "Help"),
        Binding("n", "switch_mode('composer')", "Composer"),
        Binding("p", "switch_mode('playground')", "Playground", show=False),
        Binding("l", "switch_mode('lessons')", "Lessons"),
        Binding("ctrl+t", "toggle_theme", "Light / dark"),
    ]

    settings: reactive[Settings] = reactive(Settings)

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        if settings is not None:
            self.settings = settings

    def on_mount(self) -> None:
        self.theme = DARK

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        groups: list[tuple[str, list[BindingType]]] = [
            ("everywhere", list(self.BINDINGS)),
            ("playground", list(PlaygroundScreen.BINDINGS)),
            ("switches", [Binding("enter,space", "", "Flip a switch, or edit the value"),
                          Binding("escape", "", "Back to the list / clear the filter")]),
            ("requests tab", [Binding("o", "", "Slowest first / arrival order")]),
            ("composer", list(ComposerScreen.BINDINGS)),
            ("lessons", [Binding("enter", "", "Open the lesson"), *LessonScreen.BINDINGS]),
            ("everywhere", [Binding("ctrl+p", "", "Command palette"),
                            Binding("tab,shift+tab", "", "Next / previous field"),
                            Binding("ctrl+q", "", "Quit, even while typing")]),
        ]
        self.push_screen(HelpScreen(groups))

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT if self.theme == DARK else DARK

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's own commands, then the sandbox's (what the keys do, by name)."""
        yield from super().get_system_commands(screen)
        if isinstance(screen, PlaygroundScreen):
            yield SystemCommand("Run the scenario", "Fire the chosen traffic with the current switches (r)",
                                screen.action_run)
            yield SystemCommand("Cancel the run", "Stop the scenario that is running (escape)",
                                screen.action_cancel)
            yield SystemCommand("Reset the switches", "Put every setting back to its default (ctrl+r)",
                                screen.action_reset_switches)
            yield SystemCommand("Find a switch", "Filter the settings by name or help text (/)",
                                screen.action_find_switch)
        yield SystemCommand("Open the request composer", "Write and send one request (n)",
                            lambda: self.switch_mode("composer"))
        yield SystemCommand("Open the playground", "Switches, runs, metrics and traces (p)",
                            lambda: self.switch_mode("playground"))
        yield SystemCommand("Sandbox help", "What this is, and every key (? or F1)", self.action_help)
        yield SystemCommand("Light / dark", "Toggle the theme (ctrl+t)", self.action_toggle_theme)
