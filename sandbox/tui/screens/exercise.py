"""One exercise: the task, the learner's file, and the student's loop as keys.

c checks (the tests run in their own process, in a worker: the app never waits), h shows the
next hint, ctrl+r puts the stub back (after asking), n goes to the next exercise, and p runs the
learner's own code in the playground, serving the traffic in the flow view. The verdict is the
one `sandbox exercises check` prints: passed or not, points, the first failure in plain words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Label, Markdown, ProgressBar, Static

from sandbox.course.exercises import Exercise
from sandbox.course.folders import shown_path
from sandbox.course.progress import ProgressError, ProgressStore
from sandbox.tui.exercising import (
    STATE_STYLE,
    PluggedCode,
    explain_error,
    hint_lines,
    not_pluggable_reason,
    playground_setup,
    restore_stubs,
)
from sandbox.tui.screens import SCREENS_CSS
from sandbox.tui.shell import Shell, shell
from sandbox.tui.widgets.key_bar import KeyBar

if TYPE_CHECKING:
    from sandbox.grading.runner import ExerciseResult


class ExerciseScreen(Screen[None]):
    """The task beside the learner's file, status, last verdict and hints."""

    CSS_PATH = SCREENS_CSS

    SUB_TITLE = "exercise"
    AUTO_FOCUS = "#exercise-task"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "check", "Check", tooltip="Run the visible tests against your code"),
        Binding("h", "hint", "Hint"),
        Binding("p", "play", "Run it in the playground"),
        Binding("p", "say_why_not_play", "Why it cannot run in the playground", show=False),
        Binding("n", "next", "Next exercise"),
        Binding("e", "edit", "Edit in $EDITOR"),
        Binding("ctrl+r", "reset", "Reset to the stub"),
        Binding("escape", "close", "Back"),
    ]

    @dataclass
    class Checked(Message):
        result: ExerciseResult
        fingerprint: str

    @dataclass
    class CheckFailed(Message):
        message: str

    @dataclass
    class CodeLoaded(Message):
        plugged: PluggedCode

    @dataclass
    class CodeFailed(Message):
        message: str

    def __init__(self, exercise: Exercise, exercises: list[Exercise],
                 store: ProgressStore | None) -> None:
        super().__init__()
        self.exercise = exercise
        self.exercises = exercises
        self.store = store
        self.checking = False
        self.loading_code = False
        self.last_result: ExerciseResult | None = None

    @property
    def sandbox_app(self) -> Shell:
        return shell(self)

    def compose(self) -> ComposeResult:
        exercise = self.exercise
        yield Header()
        with Horizontal(id="exercise"):
            with VerticalScroll(id="exercise-task", classes="panel-scroll") as task:
                task.border_title = f"{exercise.order} · {exercise.title}"
                yield Markdown(self._task_text(), id="exercise-markdown")
            with Vertical(id="exercise-side"):
                with Horizontal(id="exercise-busy", classes="-idle"):
                    yield ProgressBar(total=None, show_eta=False, show_percentage=False,
                                      id="exercise-progress")
                    yield Label("", id="exercise-busy-text")
                with VerticalScroll(id="exercise-notes", classes="panel-scroll") as notes:
                    notes.border_title = "your code"
                    yield Static("", id="exercise-facts")
                    yield Static("check", classes="exercise-heading", id="exercise-check-heading")
                    yield Static(Text.assemble(("Not checked yet: press ", "dim"), ("c", "bold"),
                                               (" to run the tests on your file.", "dim")),
                                 id="exercise-verdict")
                    yield Static("hints", classes="exercise-heading", id="exercise-hints-heading")
                    yield Static("", id="exercise-hint-text")
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = f"exercise {self.exercise.order} · {self.exercise.name}"
        self.show_facts()
        self.show_hints()

    def _task_text(self) -> str:
        """The README, without its title (the panel's border shows it)."""
        readme = self.exercise.folder / "README.md"
        try:
            text = readme.read_text(encoding="utf-8").lstrip()
        except OSError:
            return f"{self.exercise.summary}\n\n(this exercise has no README.md)"
        if text.startswith("# "):
            text = text.partition("\n")[2].lstrip()
        return text

    # -- what is shown ------------------------------------------------------------------------

    def status(self) -> tuple[str, str]:
        """(done / failing / changed / not started, points) as `exercises list` says them."""
        from sandbox.course.exercises import status

        if self.store is None:
            untouched = self.exercise.is_untouched()
            return ("not started" if untouched else "changed",
                    f"-/{self.exercise.visible_points:g}")
        return status(self.exercise, self.store)

    def show_facts(self) -> None:
        exercise = self.exercise
        state, points = self.status()
        lines = Text(overflow="fold")
        for file in exercise.files:
            lines.append(shown_path(exercise.student_path(file)) + "\n", style="bold")
        lines.append(state, style=f"bold {STATE_STYLE[state]}")
        lines.append(f" · {points} points · lesson {exercise.lesson}\n")
        if playground_setup(exercise) is not None:
            lines.append(f"plugs into the sandbox as “{exercise.plug}”: ", style="dim")
            lines.append("p", style="bold")
            lines.append(" runs your code in the playground", style="dim")
        else:
            lines.append(not_pluggable_reason(exercise), style="dim")
        self.query_one("#exercise-facts", Static).update(lines)

    def show_hints(self) -> None:
        shown = self.store.hints_shown(self.exercise.name) if self.store else 0
        total = len(self.exercise.hints)
        lines: list[RenderableType] = [Text(line) for line in hint_lines(self.exercise, shown)]
        more = (Text.assemble(("press ", "dim"), ("h", "bold"),
                              (f" for {'a' if not shown else 'the next'} hint "
                               f"({total - shown} of {total} left)", "dim"))
                if shown < total else Text("that is every hint", style="dim"))
        self.query_one("#exercise-hint-text", Static).update(Group(*lines, more))
        self.query_one("#exercise-hints-heading", Static).update(f"hints · {shown} of {total}")

    def _busy(self, text: str) -> None:
        busy = self.query_one("#exercise-busy")
        busy.set_class(not text, "-idle")
        self.query_one("#exercise-busy-text", Label).update(text)

    def _record(self, method: str, *args: object) -> None:
        if self.store is None:
            return
        try:
            getattr(self.store, method)(*args)
        except ProgressError as exc:
            self.notify(str(exc), title="progress not saved", severity="error", timeout=8)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("play", "say_why_not_play"):
            pluggable = playground_setup(self.exercise) is not None
            if action == "play":  # shown dimmed when the exercise plugs into nothing
                return True if pluggable else None
            return not pluggable  # ...and then p says why, instead of doing nothing
        if action in ("check", "reset"):
            return not self.checking
        return True

    # -- check ------------------------------------------------------------------------------

    def action_check(self) -> None:
        if self.checking:
            return
        self.checking = True
        self.refresh_bindings()
        self._busy(f"checking {self.exercise.name}: the tests run in a process of their own "
                   f"(at most {self.exercise.time_limit_s:g} s)…")
        self._check()

    @work(thread=True, exclusive=True, group="exercise-check", exit_on_error=False)
    def _check(self) -> None:
        from sandbox.grading.runner import run_exercise

        try:
            fingerprint = self.exercise.fingerprint()
            result = run_exercise(self.exercise)
        except Exception as exc:  # the grader's own trouble: shown, never a traceback
            self.post_message(self.CheckFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(self.Checked(result, fingerprint))

    @on(Checked)
    def _checked(self, event: Checked) -> None:
        from sandbox.grading.reports import verdict

        self.checking = False
        self.refresh_bindings()
        self._busy("")
        result = event.result
        self.last_result = result
        self._record("exercise_checked", self.exercise.name, event.fingerprint, result.score,
                     result.max_score, result.passed)
        parts: list[RenderableType] = [verdict(result)]
        if not result.passed:
            path = shown_path(self.exercise.student_path(self.exercise.files[0]))
            parts.append(Text(f"\nedit {path}, save, and press c again", style="dim"))
        self.query_one("#exercise-verdict", Static).update(Group(*parts))
        self.query_one("#exercise-check-heading", Static).update("check · just now")
        self.query_one("#exercise-notes", VerticalScroll).scroll_to_widget(
            self.query_one("#exercise-check-heading"), top=True, animate=False)
        self.show_facts()
        if result.passed:
            self.notify(f"All tests pass: {result.score:g}/{result.max_score:g} points. "
                        "n opens the next exercise.", title="✓ " + self.exercise.title,
                        timeout=6)
        else:
            failure = result.first_failure
            self.notify(failure.summary if failure else result.problem or "the tests failed",
                        title=f"✗ {self.exercise.name}: {result.score:g}/{result.max_score:g}",
                        severity="warning", timeout=5)

    @on(CheckFailed)
    def _check_failed(self, event: CheckFailed) -> None:
        self.checking = False
        self.refresh_bindings()
        self._busy("")
        self.notify(event.message, title="the check could not run", severity="error", timeout=10)

    # -- hint, reset, next ------------------------------------------------------------------

    def action_hint(self) -> None:
        name, total = self.exercise.name, len(self.exercise.hints)
        shown = self.store.hints_shown(name) if self.store else total
        if self.store is None:
            self.notify("Progress cannot be saved, so every hint is shown.", timeout=4)
        elif shown >= total:
            self.notify(f"No more hints: all {total} are shown.", timeout=4)
        else:
            self._record("hint_taken", name, shown + 1)
        self.show_hints()
        self.query_one("#exercise-notes", VerticalScroll).scroll_end(animate=False)

    def action_reset(self) -> None:
        from sandbox.tui.dialogs import ConfirmDialog

        files = ", ".join(self.exercise.files)
        question = (f"Put the original stub back in {files}?\n\n"
                    "Your code in it is lost: this cannot be undone.")
        self.app.push_screen(ConfirmDialog(question, yes="Reset", no="Keep my code"),
                             self._reset_answered)

    def _reset_answered(self, answer: bool | None) -> None:
        if not answer:
            self.notify("Left as it was.", timeout=3)
            return
        try:
            restore_stubs(self.exercise)
        except Exception as exc:  # a missing solution, a read-only file: say so
            self.notify(str(exc), title="cannot reset", severity="error", timeout=8)
            return
        self._record("forget_exercise", self.exercise.name)
        self.last_result = None
        self.query_one("#exercise-verdict", Static).update(
            Text("Back to the stub. Press c to check it.", style="dim"))
        self.query_one("#exercise-check-heading", Static).update("check")
        self.show_facts()
        self.notify(f"{', '.join(self.exercise.files)} restored to the stub.", timeout=4)

    def action_edit(self) -> None:
        """Open the learner's file in their editor, the app stepping aside until it exits."""
        import os
        import subprocess

        from textual.app import SuspendNotSupported

        from sandbox.tui.exercising import editor_command

        path = self.exercise.student_path(self.exercise.files[0])
        command = editor_command(path, os.environ)
        if command is None:
            self.notify(f"Set EDITOR (for example EDITOR=nano) to edit from here; or open "
                        f"{shown_path(path)} in your editor, then press c.", timeout=8)
            return
        try:
            with self.app.suspend():
                subprocess.run(command, check=False)
        except SuspendNotSupported:
            self.notify("This terminal cannot hand the screen to an editor: open "
                        f"{shown_path(path)} beside the app.", severity="warning", timeout=8)
            return
        except OSError as exc:  # no such program
            self.notify(f"Could not start {command[0]}: {exc.strerror or exc}", severity="error",
                        timeout=8)
            return
        self.show_facts()
        self.notify("Back from the editor: press c to check.", timeout=4)

    def action_next(self) -> None:
        names = [e.name for e in self.exercises]
        index = names.index(self.exercise.name) if self.exercise.name in names else -1
        if index + 1 >= len(self.exercises):
            self.notify("This is the last exercise.", timeout=3)
            return
        self.app.switch_screen(ExerciseScreen(self.exercises[index + 1], self.exercises,
                                              self.store))

    def action_close(self) -> None:
        self.app.pop_screen()

    # -- run in the playground ---------------------------------------------------------------

    def action_say_why_not_play(self) -> None:
        self.notify(not_pluggable_reason(self.exercise), severity="warning", timeout=6)

    def action_play(self) -> None:
        if playground_setup(self.exercise) is None:
            self.notify(not_pluggable_reason(self.exercise), severity="warning", timeout=6)
            return
        if self.loading_code:
            return
        self.loading_code = True
        self._busy(f"loading your {self.exercise.files[0]}…")
        self._load_code()

    @work(thread=True, exclusive=True, group="exercise-code", exit_on_error=False)
    def _load_code(self) -> None:
        from sandbox.tui.exercising import load_plugged, run_guarded

        path = self.exercise.student_path(self.exercise.files[0])
        try:  # importing it runs their top-level code, which may never return
            plugged = run_guarded(lambda alive: load_plugged(self.exercise),
                                  silence_s=self.exercise.time_limit_s,
                                  what=f"loading {path.name}")
        except BaseException as exc:  # their code's trouble, in plain words
            self.post_message(self.CodeFailed(explain_error(exc, path)))
            return
        self.post_message(self.CodeLoaded(plugged))

    @on(CodeFailed)
    def _code_failed(self, event: CodeFailed) -> None:
        self.loading_code = False
        self._busy("")
        self.notify(event.message, title="your code cannot run yet", severity="error", timeout=10)

    @on(CodeLoaded)
    async def _code_loaded(self, event: CodeLoaded) -> None:
        self.loading_code = False
        self._busy("")
        setup = playground_setup(self.exercise)
        assert setup is not None
        await self.sandbox_app.play(event.plugged, setup)
