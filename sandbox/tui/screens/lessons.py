"""The lessons list: every lesson grouped by topic, with its progress and its problems.

The list (`LessonsScreen`, mode `l`) reads the lessons folder (broken files are listed with
their problem, never fatal) and each lesson's progress. Enter opens the lesson player
(`sandbox.tui.screens.lesson`) at the saved position.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Group, RenderableType
from rich.markdown import Markdown as RichMarkdown
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, OptionList, Static
from textual.widgets.option_list import Option

from sandbox.course.lessons import Lesson, LessonError, load_lessons
from sandbox.course.progress import LessonProgress, ProgressError, ProgressStore
from sandbox.tui.learning import (
    broken_files,
    progress_text,
)
from sandbox.tui.screens import SCREENS_CSS
from sandbox.tui.screens.lesson import LessonScreen
from sandbox.tui.widgets.key_bar import KeyBar

if TYPE_CHECKING:
    pass

def lessons_folder() -> Path:
    from sandbox.course.folders import lessons_dir

    return lessons_dir()


def open_store(screen: Screen[Any]) -> ProgressStore | None:
    try:
        return ProgressStore()
    except ProgressError as exc:
        screen.notify(str(exc), title="progress is not saved", severity="error", timeout=10)
        return None


class LessonsScreen(Screen[None]):
    """Every lesson by topic with its progress; enter opens one."""

    CSS_PATH = SCREENS_CSS

    SUB_TITLE = "lessons"
    AUTO_FOCUS = "#lesson-list"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_lesson", "Open the lesson", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.lessons: list[Lesson] = []
        self.errors: list[LessonError] = []
        self.store: ProgressStore | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="lessons"):
            yield OptionList(id="lesson-list")
            with VerticalScroll(id="lesson-about", classes="panel-scroll") as about:
                about.border_title = "about"
                yield Static("", id="lesson-about-text")
        yield KeyBar()

    def on_mount(self) -> None:
        self.store = open_store(self)
        self.reload()

    def on_unmount(self) -> None:
        if self.store is not None:
            self.store.close()

    def on_screen_resume(self) -> None:
        if self.lessons:
            self.show_list()  # progress may have moved in the lesson

    def reload(self) -> None:
        try:
            self.lessons, self.errors = load_lessons(lessons_folder())
        except OSError as exc:
            self.lessons, self.errors = [], []
            self.notify(f"cannot read the lessons folder: {exc}", severity="error")
        self.show_list()

    def progress(self, lesson_id: str) -> LessonProgress:
        return self.store.lesson(lesson_id) if self.store else LessonProgress()

    def show_list(self) -> None:
        listing = self.query_one("#lesson-list", OptionList)
        highlighted = listing.highlighted
        listing.clear_options()
        problems = broken_files(self.errors)
        topic = None
        for lesson in self.lessons:
            if lesson.topic != topic:
                topic = lesson.topic
                listing.add_option(Option(Text(f"{lesson.topic} · {lesson.topic_name}", style="bold"),
                                          disabled=True))
            line = Text(f"  {progress_text(lesson, self.progress(lesson.id)):<10}", style="dim")
            # Under its topic's heading a title need not repeat the topic's name.
            line.append(lesson.title.removeprefix(f"{lesson.topic_name}: "), style="")
            if lesson.path in problems:
                line.append(f"  ⚠ {problems[lesson.path][0].message}", style="yellow")
            listing.add_option(Option(line, id=f"lesson:{lesson.id}"))
        loaded = {lesson.path for lesson in self.lessons}
        broken = {path: errs for path, errs in problems.items() if path not in loaded}
        if broken:
            listing.add_option(Option(Text("broken lesson files", style="bold red"), disabled=True))
            for path, errs in broken.items():
                line = Text(f"  ✗ {Path(path).name}: broken", style="red")
                line.append(f" — {errs[0].message}", style="dim")
                listing.add_option(Option(line, id=f"broken:{path}"))
        if not self.lessons and not broken:
            listing.add_option(Option(f"no lessons in {lessons_folder()}", disabled=True))
        if highlighted is not None and highlighted < listing.option_count:
            listing.highlighted = highlighted
        elif listing.option_count:
            listing.action_first()

    def lesson_by_id(self, lesson_id: str) -> Lesson | None:
        return next((lesson for lesson in self.lessons if lesson.id == lesson_id), None)

    @on(OptionList.OptionHighlighted, "#lesson-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        about = self.query_one("#lesson-about-text", Static)
        option_id = event.option.id or ""
        if option_id.startswith("broken:"):
            path = option_id.removeprefix("broken:")
            errs = broken_files(self.errors).get(path, [])
            about.update(Text.assemble((f"{Path(path).name} cannot be read\n\n", "bold red"),
                                       "\n".join(str(e) for e in errs)))
            return
        lesson = self.lesson_by_id(option_id.removeprefix("lesson:"))
        if lesson is None:
            about.update("")
            return
        progress = self.progress(lesson.id)
        lines: list[RenderableType] = [Text(lesson.title, style="bold"),
                 Text(f"topic {lesson.topic}: {lesson.topic_name} · {progress_text(lesson, progress)}",
                      style="dim")]
        if lesson.summary:
            lines.append(Text(lesson.summary, style="italic"))
        lines += [Text(""), RichMarkdown(lesson.intro), Text("")]
        lines += [Text(("✓ " if i in progress.steps_done else "  ") + f"{i + 1}. {step.title}")
                  for i, step in enumerate(lesson.steps)]
        lines += [Text(""), Text("enter: open the lesson", style="dim")]
        about.update(Group(*lines))

    @on(OptionList.OptionSelected, "#lesson-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.open_option(event.option.id or "")

    def action_open_lesson(self) -> None:
        listing = self.query_one("#lesson-list", OptionList)
        if listing.highlighted is not None:
            self.open_option(listing.get_option_at_index(listing.highlighted).id or "")

    def open_option(self, option_id: str) -> None:
        if option_id.startswith("broken:"):
            self.notify("This lesson file is broken: fix it (sandbox lessons check) and reopen "
                        "the app.", severity="warning")
            return
        lesson = self.lesson_by_id(option_id.removeprefix("lesson:"))
        if lesson is not None:
            self.app.push_screen(LessonScreen(lesson, self.store))


# -- one lesson ------------------------------------------------------------------------------
