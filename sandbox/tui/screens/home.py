"""The home screen: the course at a glance, and the way into everything else.

At the top, "resume" (the lesson or exercise the learner touched last) and the free-play
playground. Below, the lessons by topic with the steps done, and the exercises with their
status and points. The course is read in a worker after the first frame (it is many files),
and read again whenever the screen comes back, since progress moves elsewhere.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, OptionList, Static
from textual.widgets.option_list import Option

from sandbox.tui.shell import Shell, shell
from sandbox.tui.widgets.key_bar import KeyBar

if TYPE_CHECKING:
    from sandbox.course.lessons import Lesson
    from sandbox.course.progress import ProgressStore
    from sandbox.tui.exercising import Course, ExerciseRow

BAR = 6  # cells in a lesson's progress bar


def lesson_line(lesson: Lesson, done: int, *, bar: bool = True) -> Table:
    """ 5  Caching              ███░░░ 2/4   (without the bar in a narrow terminal)"""
    total = len(lesson.steps)
    finished = total > 0 and done >= total
    grid = Table.grid(expand=True, padding=(0, 1))
    grid.add_column(width=2, justify="right", style="dim")
    grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    cells: list[RenderableType] = [str(lesson.topic),
                                   Text(lesson.topic_name, style="green" if finished else "")]
    if bar:
        filled = round(BAR * done / total) if total else 0
        drawn = Text("█" * filled, style="green" if finished else "cyan")
        drawn.append("░" * (BAR - filled), style="dim")
        grid.add_column(width=BAR, no_wrap=True)
        cells.append(drawn)
    grid.add_column(width=5, justify="right", no_wrap=True)
    cells.append(Text(f"{done}/{total}", style="green" if finished else "dim"))
    grid.add_row(*cells)
    return grid


def exercise_line(row: ExerciseRow) -> Table:
    """ 7 ✗ A token bucket          3/10"""
    from sandbox.tui.exercising import STATE_MARK, STATE_STYLE  # loaded with the course

    grid = Table.grid(expand=True, padding=(0, 1))
    grid.add_column(width=2, justify="right", style="dim")
    grid.add_column(width=1)
    grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    grid.add_column(width=5, justify="right", no_wrap=True)
    style = STATE_STYLE[row.state]
    grid.add_row(str(row.exercise.order), Text(STATE_MARK[row.state], style=style),
                 Text(row.exercise.title, style="" if row.state == "not started" else style),
                 Text(row.points, style=style))
    return grid


def describe_option(option_id: str, course: Course | None) -> RenderableType:
    """What the highlighted line is: a few lines under the lists."""
    if option_id == "playground":
        return Text.assemble(
            ("The playground", "bold"), "\nEvery switch of the sandbox, traffic scenarios, the "
            "flow of each request through the topology, metrics before and after, and each "
            "request's trace. ", ("enter or p opens it.", "dim"))
    if option_id == "resume":
        resume = course.resume if course else None
        return Text.assemble(("Resume", "bold"), "\nBack to where you left off",
                             f": {resume.label}. " if resume else ". ",
                             ("enter or r.", "dim"))
    if course is None:
        return Text("reading the course…", style="dim")
    if option_id.startswith("lesson:"):
        lesson = course.lesson(option_id.removeprefix("lesson:"))
        if lesson is None:
            return ""
        lines = Text.assemble((lesson.title, "bold"))
        if lesson.summary:
            lines.append(f"\n{lesson.summary}", style="italic")
        done = course.steps_done.get(lesson.id, 0)
        lines.append(f"\n{done} of {len(lesson.steps)} steps done · ", style="dim")
        lines.append("enter opens the lesson\n", style="dim")
        for number, step in enumerate(lesson.steps, start=1):
            lines.append(f"\n  {number}. {step.title}")
        return lines
    if option_id.startswith("exercise:"):
        row = course.exercise(option_id.removeprefix("exercise:"))
        if row is None:
            return ""
        from sandbox.tui.exercising import STATE_STYLE  # loaded with the course

        exercise = row.exercise
        lines = Text.assemble((exercise.title, "bold"), "  ",
                              (row.state, STATE_STYLE[row.state]), f" · {row.points} points")
        if exercise.summary:
            lines.append(f"\n{exercise.summary}", style="italic")
        lines.append(f"\ntopic {exercise.topic}, lesson {exercise.lesson} · you edit "
                     f"{exercise.folder.name}/{exercise.files[0]} · ", style="dim")
        lines.append("enter opens it\n", style="dim")
        for test in (t for t in exercise.tests if not t.hidden):
            what = " ".join(test.doc.split("\n\n")[0].split()) if test.doc else test.name
            lines.append(f"\n  {test.points:>2g} pts  ", style="dim")
            lines.append(what)
        return lines
    return ""


class HomeScreen(Screen[None]):
    """Resume, the playground, the lessons and the exercises."""

    SUB_TITLE = "home"
    AUTO_FOCUS = "#home-start"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", priority=True),
        Binding("r", "resume", "Resume"),
        Binding("p", "app.switch_mode('playground')", "Playground"),
        Binding("l", "focus_list('lessons')", "Lessons"),
        Binding("e", "focus_list('exercises')", "Exercises"),
        Binding("right", "focus_list('exercises')", "Exercises column", show=False),
        Binding("left", "focus_list('lessons')", "Lessons column", show=False),
    ]

    @dataclass
    class Loaded(Message):
        course: Course
        generation: int

    @dataclass
    class LoadFailed(Message):
        message: str

    def __init__(self) -> None:
        super().__init__()
        self.course: Course | None = None
        self.store: ProgressStore | None = None
        self._drawn_narrow = False
        self._generation = 0

    @property
    def sandbox_app(self) -> Shell:
        return shell(self)

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="home"):
            start = OptionList(
                Option(Text.assemble(("▶ Resume  ", "bold"), ("reading the course…", "dim")),
                       id="resume", disabled=True),
                Option(Text.assemble(("◆ Playground  ", "bold"),
                                     ("free play: flip switches, fire traffic, watch the numbers",
                                      "dim")), id="playground"),
                id="home-start")
            start.border_title = "start here"
            yield start
            with Horizontal(id="home-lists"):
                lessons = OptionList(Option(Text("reading the lessons…", style="dim"),
                                            disabled=True), id="home-lessons")
                lessons.border_title = "lessons"
                yield lessons
                exercises = OptionList(Option(Text("reading the exercises…", style="dim"),
                                              disabled=True), id="home-exercises")
                exercises.border_title = "exercises"
                yield exercises
            with VerticalScroll(id="home-about") as about:
                about.border_title = "about"
                yield Static("", id="home-about-text")
        yield KeyBar()

    def on_mount(self) -> None:
        self.call_after_refresh(self.reload)  # the first frame first: reading takes a moment

    def on_resize(self) -> None:
        narrow = self.has_class("-narrow")
        if self.course is not None and narrow != self._drawn_narrow:
            self._show_lessons(self.course)  # with or without the progress bars

    def on_screen_resume(self) -> None:
        if self.course is not None:
            self.reload()

    def on_unmount(self) -> None:
        if self.store is not None:
            self.store.close()

    def progress_store(self) -> ProgressStore | None:
        """The learner's progress, opened once (None, and a notification, if it cannot be)."""
        if self.store is None:
            from sandbox.tui.screens.lessons import open_store

            self.store = open_store(self)
        return self.store

    # -- reading the course -------------------------------------------------------------------

    def reload(self) -> None:
        """Read the course again, in a thread of its own: a daemon, so that quitting at once
        never waits for it (it only reads)."""
        self._generation += 1
        threading.Thread(target=self._load, args=(self._generation,), name="home-load",
                         daemon=True).start()

    def _load(self, generation: int) -> None:
        from sandbox.course.exercises import default_root
        from sandbox.course.folders import lessons_dir
        from sandbox.course.progress import ProgressError, ProgressStore
        from sandbox.tui.exercising import load_course

        try:
            store: ProgressStore | None = ProgressStore()  # this thread's own connection
        except ProgressError:
            store = None  # the UI thread says so when it opens its own
        message: Message
        try:
            message = self.Loaded(load_course(lessons_dir(), default_root(), store), generation)
        except Exception as exc:  # shown in the app, never as a traceback
            message = self.LoadFailed(f"{type(exc).__name__}: {exc}")
        finally:
            if store is not None:
                store.close()
        with contextlib.suppress(RuntimeError):  # the app quit while this thread read
            self.post_message(message)

    @on(LoadFailed)
    def _load_failed(self, event: LoadFailed) -> None:
        self.notify(event.message, title="cannot read the course", severity="error", timeout=10)

    @on(Loaded)
    def _loaded(self, event: Loaded) -> None:
        if event.generation != self._generation:
            return  # a later reading is on its way
        self.course = course = event.course
        self.progress_store()
        self._show_start(course)
        self._show_lessons(course)
        self._show_exercises(course)
        # both columns as tall as the longer one (the stylesheet caps it), borders included
        rows = max(self.query_one(f"#home-{name}", OptionList).option_count
                   for name in ("lessons", "exercises"))
        self.query_one("#home-lists").styles.height = rows + 2
        focused = self.focused
        if isinstance(focused, OptionList):
            self._describe(focused)

    def _show_start(self, course: Course) -> None:
        start = self.query_one("#home-start", OptionList)
        resume = course.resume
        text = Text.assemble(("▶ Resume  ", "bold"), no_wrap=True, overflow="ellipsis")
        text.append(resume.label if resume else "nothing to resume yet",
                    style="" if resume else "dim")
        start.replace_option_prompt("resume", text)
        if resume is not None:
            first_time = start.get_option("resume").disabled
            start.enable_option("resume")
            if first_time:
                start.highlighted = 0  # resume is what most visits come for
        else:
            start.disable_option("resume")

    def _refill(self, listing: OptionList, options: list[Option]) -> None:
        highlighted = listing.highlighted
        listing.clear_options()
        listing.add_options(options)
        if highlighted is not None and highlighted < listing.option_count:
            listing.highlighted = highlighted
        else:
            listing.action_first()

    def _show_lessons(self, course: Course) -> None:
        listing = self.query_one("#home-lessons", OptionList)
        wide = not self.has_class("-narrow")
        self._drawn_narrow = not wide
        options = [Option(lesson_line(lesson, course.steps_done.get(lesson.id, 0), bar=wide),
                          id=f"lesson:{lesson.id}") for lesson in course.lessons]
        loaded = {lesson.path for lesson in course.lessons}
        broken = sorted({e.path for e in course.lesson_errors if e.path not in loaded})
        options += [Option(Text(f"⚠ {path.rsplit('/', 1)[-1]}: broken (sandbox lessons check)",
                                style="yellow"), disabled=True) for path in broken]
        if not options:
            options = [Option(Text("no lessons found", style="dim"), disabled=True)]
        self._refill(listing, options)
        started = sum(1 for n in course.steps_done.values() if n)
        listing.border_title = f"lessons · {started} of {len(course.lessons)} started"

    def _show_exercises(self, course: Course) -> None:
        listing = self.query_one("#home-exercises", OptionList)
        options = [Option(exercise_line(row), id=f"exercise:{row.exercise.name}")
                   for row in course.exercises]
        options += [Option(Text(f"⚠ {error}", style="yellow"), disabled=True)
                    for error in course.exercise_errors]
        if not options:
            options = [Option(Text(f"no exercises in {course.exercises_root}", style="dim"),
                              disabled=True)]
        self._refill(listing, options)
        scored, total = course.points()
        listing.border_title = f"exercises · {scored:g}/{total:g} points"

    # -- what the highlighted line is ---------------------------------------------------------

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        # Only the list the learner is in: refilling the others (the course read again)
        # moves their highlight too, and must not describe a line nobody is on.
        if event.option_list.has_focus:
            self._describe(event.option_list)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.open_option(event.option.id or "")

    def on_descendant_focus(self) -> None:
        focused = self.focused
        if isinstance(focused, OptionList):
            self._describe(focused)

    def _describe(self, listing: OptionList) -> None:
        index = listing.highlighted
        option_id = (listing.get_option_at_index(index).id or "") if index is not None else ""
        about = self.query_one("#home-about-text", Static)
        about.update(describe_option(option_id, self.course))
        self.query_one("#home-about", VerticalScroll).scroll_home(animate=False)

    # -- going places -------------------------------------------------------------------------

    def action_focus_list(self, which: str) -> None:
        # At once, not queued as `focus()` would: a key typed right after (e, down) must
        # already go to the list it asked for.
        self.set_focus(self.query_one(f"#home-{which}", OptionList))

    def action_open(self) -> None:
        focused = self.focused
        if isinstance(focused, OptionList) and focused.highlighted is not None:
            self.open_option(focused.get_option_at_index(focused.highlighted).id or "")

    def action_resume(self) -> None:
        if self.course is None or self.course.resume is None:
            self.notify("The course is still being read: a moment.", timeout=3)
            return
        resume = self.course.resume
        self.open_option(f"{resume.kind}:{resume.target}")

    def open_option(self, option_id: str) -> None:
        course = self.course
        if option_id == "playground":
            self.app.switch_mode("playground")
        elif option_id == "resume":
            self.action_resume()
        elif course is None:
            return
        elif option_id.startswith("lesson:"):
            lesson = course.lesson(option_id.removeprefix("lesson:"))
            if lesson is not None:
                from sandbox.tui.screens.lesson import LessonScreen

                # On the lessons' own stack, as if opened from their list: Escape then goes
                # to that list (as the key bar says) and `h` comes back here.
                self.app.switch_mode("lessons")
                opened = LessonScreen(lesson, self.progress_store())
                if isinstance(self.app.screen, LessonScreen):  # one lesson open at a time
                    self.app.switch_screen(opened)
                else:
                    self.app.push_screen(opened)
        elif option_id.startswith("exercise:"):
            row = course.exercise(option_id.removeprefix("exercise:"))
            if row is not None:
                from sandbox.tui.screens.exercise import ExerciseScreen

                self.app.push_screen(ExerciseScreen(row.exercise,
                                                    [r.exercise for r in course.exercises],
                                                    self.progress_store()))
