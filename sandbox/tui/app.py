"""The terminal app: modes (home, playground, composer, lessons), global keys, the theme, help.

The app owns one thing besides navigation: `settings`, the switches every screen reads. The
playground's switches panel changes it; the next run and the composer's next request use it.

Only the home screen is imported up front: it is the first frame, and it is cheap. Every other
mode is imported the first time the learner goes there, so start-up never pays for the sandbox
runtime, the request composer or the flow view.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.signal import Signal

from sandbox.tui.screens.home import HomeScreen

if TYPE_CHECKING:
    from sandbox.settings import Settings
    from sandbox.tui.exercising import PlaygroundSetup, PluggedCode

DARK, LIGHT = "textual-dark", "textual-light"


def _playground() -> Screen[Any]:
    from sandbox.tui.screens.playground import PlaygroundScreen

    return PlaygroundScreen()


def _composer() -> Screen[Any]:
    from sandbox.tui.screens.composer import ComposerScreen

    return ComposerScreen()


def _lessons() -> Screen[Any]:
    from sandbox.tui.screens.lessons import LessonsScreen

    return LessonsScreen()


class SandboxApp(App[None]):
    """The backend sandbox in a terminal."""

    TITLE = "the backend sandbox"
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute, so subclasses elsewhere work
    MODES: ClassVar = {"home": HomeScreen, "playground": _playground, "composer": _composer,
                       "lessons": _lessons}
    DEFAULT_MODE = "home"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # noqa: RUF012 (Textual's type)
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]  # noqa: RUF012 (Textual's type)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark,f1", "help", "Help"),
        Binding("h", "switch_mode('home')", "Home"),
        Binding("n", "switch_mode('composer')", "Composer"),
        Binding("p", "switch_mode('playground')", "Playground", show=False),
        Binding("l", "switch_mode('lessons')", "Lessons"),
        Binding("ctrl+t", "toggle_theme", "Light / dark"),
    ]

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        # The switches every screen reads, built on first use: the home screen never reads
        # them, so start-up never imports the settings tree. Screens that show them subscribe
        # to `settings_changed`.
        self._settings = settings
        self.settings_changed: Signal[Settings] = Signal(self, "settings_changed")
        # Set from a key press until the screen shows its effect. A running scenario (a thread
        # worker, sharing Python's interpreter lock with the interface) steps aside meanwhile,
        # so the interface answers at once however hard the run is working.
        self.ui_busy = threading.Event()

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from sandbox.settings import Settings

            self._settings = Settings()
        return self._settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        if settings != self._settings:
            self._settings = settings
            self.settings_changed.publish(settings)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseDown):
            self.ui_busy.set()
            self.call_after_refresh(self.ui_busy.clear)
        await super().on_event(event)

    def on_mount(self) -> None:
        self.theme = DARK

    async def play(self, plugged: PluggedCode, setup: PlaygroundSetup) -> None:
        """The learner's code into the playground: the exercise's switches, then a run."""
        from sandbox.settings import Settings
        from sandbox.tui.screens.playground import PlaygroundScreen

        self.settings = Settings(redis=self.settings.redis).replace(dict(setup.settings))
        await self.switch_mode("playground")
        screen = self.screen
        if isinstance(screen, PlaygroundScreen):
            screen.plug_in(plugged, setup.scenario, setup.requests, setup.look)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The key for the mode the learner is in says nothing: hide it from the footer."""
        return not (action == "switch_mode" and parameters and parameters[0] == self.current_mode)

    def action_help(self) -> None:
        from sandbox.tui.screens.composer import ComposerScreen
        from sandbox.tui.screens.exercise import ExerciseScreen
        from sandbox.tui.screens.help import HelpScreen
        from sandbox.tui.screens.lesson import LessonScreen
        from sandbox.tui.screens.playground import PlaygroundScreen
        from sandbox.tui.widgets.flow_view import FlowView
        from sandbox.tui.widgets.requests_view import RequestsView

        if isinstance(self.screen, HelpScreen):
            return
        groups: list[tuple[str, list[BindingType]]] = [
            ("everywhere", list(self.BINDINGS)),
            ("home", list(HomeScreen.BINDINGS)),
            ("playground", list(PlaygroundScreen.BINDINGS)),
            ("switches", [Binding("enter,space", "", "Flip a switch, or edit the value"),
                          Binding("escape", "", "Back to the list / clear the filter")]),
            ("flow tab", list(FlowView.BINDINGS)),
            ("requests tab", list(RequestsView.BINDINGS)),
            ("composer", list(ComposerScreen.BINDINGS)),
            ("lessons", [Binding("enter", "", "Open the lesson"),
                         Binding("a,b,c,d", "", "Answer the question with that choice"),
                         *LessonScreen.BINDINGS]),
            ("exercise", list(ExerciseScreen.BINDINGS)),
            ("everywhere", [Binding("ctrl+p", "", "Command palette"),
                            Binding("tab,shift+tab", "", "Next / previous field"),
                            Binding("ctrl+q", "", "Quit, even while typing")]),
        ]
        self.push_screen(HelpScreen(groups))

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT if self.theme == DARK else DARK

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's own commands, then the sandbox's (what the keys do, by name)."""
        from sandbox.tui.screens.exercise import ExerciseScreen
        from sandbox.tui.screens.playground import PlaygroundScreen

        yield from super().get_system_commands(screen)
        if isinstance(screen, HomeScreen):
            yield SystemCommand("Resume", "Back to the lesson or exercise you were on (r)",
                                screen.action_resume)
            yield SystemCommand("Go to the exercises", "The exercises column (e)",
                                lambda: screen.action_focus_list("exercises"))
        if isinstance(screen, PlaygroundScreen):
            yield SystemCommand("Run the scenario", "Fire the chosen traffic with the current switches (r)",
                                screen.action_run)
            yield SystemCommand("Cancel the run", "Stop the scenario that is running (escape)",
                                screen.action_cancel)
            yield SystemCommand("Reset the switches", "Put every setting back to its default (ctrl+r)",
                                screen.action_reset_switches)
            yield SystemCommand("Find a switch", "Filter the settings by name or help text (/)",
                                screen.action_find_switch)
            if screen.plugged is not None:
                yield SystemCommand("Unplug your code", "Runs use the sandbox's own code again (u)",
                                    screen.action_unplug)
            yield SystemCommand("Pick the scenario", "Open the list of traffic scenarios (g)",
                                screen.action_pick_scenario)
            from sandbox.scenarios import PATTERNS
            from sandbox.settings import all_keys

            for name, pattern in PATTERNS.items():
                yield SystemCommand(f"Scenario: {name}", pattern.summary,
                                    lambda name=name: screen.choose_scenario(name))
            for spec in all_keys():
                yield SystemCommand(f"Switch: {spec.key}", spec.help,
                                    lambda key=spec.key: screen.show_switch(key))
        if isinstance(screen, ExerciseScreen):
            yield SystemCommand("Check the exercise", "Run its tests on your file (c)",
                                screen.action_check)
            yield SystemCommand("Show a hint", "The next hint for this exercise (h)",
                                screen.action_hint)
            if screen.check_action("play", ()):
                yield SystemCommand("Run it in the playground",
                                    "Your code serving traffic in the flow view (p)",
                                    screen.action_play)
            yield SystemCommand("Next exercise", "Open the next exercise (n)", screen.action_next)
            yield SystemCommand("Reset to the stub", "Put the original stub back, after asking "
                                "(ctrl+r)", screen.action_reset)
        yield SystemCommand("Home", "The course: resume, lessons, exercises (h)",
                            lambda: self.switch_mode("home"))
        yield SystemCommand("Open the request composer", "Write and send one request (n)",
                            lambda: self.switch_mode("composer"))
        yield SystemCommand("Open the playground", "Switches, runs, metrics and traces (p)",
                            lambda: self.switch_mode("playground"))
        yield SystemCommand("Open the lessons", "Every lesson by topic (l)",
                            lambda: self.switch_mode("lessons"))
        yield SystemCommand("Sandbox help", "What this is, and every key (? or F1)", self.action_help)
        yield SystemCommand("Light / dark", "Toggle the theme (ctrl+t)", self.action_toggle_theme)


if TYPE_CHECKING:  # mypy holds the app to the contract its screens rely on
    from sandbox.tui.shell import Shell

    _KEEPS_CONTRACT: Shell = SandboxApp()
