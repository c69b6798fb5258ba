"""The home screen: the course at a glance (issue 4, item 1), resume, and the way into each mode.

The exercises are a private copy of two shipped ones in a temporary SANDBOX_EXERCISES; progress
goes to the fresh SANDBOX_DATA_DIR tests/conftest.py sets.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import OptionList, Static
from tui_helpers import SMALL, WIDE, HomeApp, burst, copy_exercises, plain_text, wait_until

from sandbox.course.exercises import default_root, load_exercises
from sandbox.course.progress import ProgressStore
from sandbox.tui.exercising import load_course, resume_target
from sandbox.tui.screens.exercise import ExerciseScreen
from sandbox.tui.screens.help import HelpScreen
from sandbox.tui.screens.home import HomeScreen
from sandbox.tui.screens.lesson import LessonScreen
from sandbox.tui.screens.lessons import LessonsScreen
from sandbox.tui.screens.playground import PlaygroundScreen
from sandbox.tui.widgets.key_bar import KeyBar

LESSONS = Path(__file__).resolve().parents[2] / "lessons"


@pytest.fixture
def exercises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = copy_exercises(tmp_path / "exercises", "07-token-bucket", "15-test-the-cache")
    monkeypatch.setenv("SANDBOX_EXERCISES", str(root))
    return root


def home(app: HomeApp) -> HomeScreen:
    screen = app.screen
    assert isinstance(screen, HomeScreen), screen
    return screen


def prompts(app: HomeApp, selector: str) -> list[str]:
    listing = app.screen.query_one(selector, OptionList)
    return [plain_text(listing.get_option_at_index(i).prompt, 60).strip()
            for i in range(listing.option_count)]


async def loaded(pilot) -> HomeScreen:  # type: ignore[no-untyped-def]
    screen = home(pilot.app)
    await wait_until(pilot, lambda: screen.course is not None)
    await pilot.pause()
    return screen


@pytest.mark.parametrize("size", [SMALL, WIDE], ids=["80x24", "120x40"])
async def test_home_lists_lessons_by_topic_and_exercises_with_status(
        exercises: Path, size: tuple[int, int]) -> None:
    """Issue 4, item 1: lessons by topic with progress, exercises with status and points."""
    app = HomeApp()
    async with app.run_test(size=size) as pilot:
        screen = await loaded(pilot)
        lessons = prompts(app, "#home-lessons")
        assert len(lessons) == 16
        assert lessons[0].startswith("1 Clients and requests") and lessons[0].endswith("0/5")
        assert lessons[4].startswith("5 Caching")
        shown = prompts(app, "#home-exercises")
        assert shown[0].startswith("7 · A token bucket") and shown[0].endswith("-/18")
        assert shown[1].startswith("15 · Test the cache")
        assert "0/34 points" in str(screen.query_one("#home-exercises").border_title)
        start = prompts(app, "#home-start")
        assert "Resume" in start[0] and "start with lesson 1" in start[0]
        assert "Playground" in start[1]
        assert app.screen.query_one("#home-start").has_focus
        assert not app.errors()


async def test_progress_and_statuses_show_after_work_elsewhere(exercises: Path) -> None:
    store = ProgressStore()
    store.step_done("caching", 0)
    store.step_done("caching", 1)
    bucket = exercises / "07-token-bucket" / "token_bucket.py"
    bucket.write_text(bucket.read_text(encoding="utf-8") + "\n# started\n", encoding="utf-8")
    app = HomeApp()
    async with app.run_test(size=WIDE) as pilot:
        await loaded(pilot)
        lessons = prompts(app, "#home-lessons")
        assert lessons[4].endswith("2/10") and "█" in lessons[4]
        shown = prompts(app, "#home-exercises")
        assert shown[0].startswith("7 ✎")  # changed since the stub, not checked yet
        # a check saved elsewhere (the CLI, the exercise view) shows when home comes back
        exercise = load_exercises(exercises)[0][0]
        store.exercise_checked(exercise.name, exercise.fingerprint(), 6, 18, False)
        home(app).reload()
        await wait_until(pilot, lambda: prompts(app, "#home-exercises")[0].endswith("6/18"))
        assert prompts(app, "#home-exercises")[0].startswith("7 ✗")
        assert "6/34 points" in str(app.screen.query_one("#home-exercises").border_title)
    store.close()


def test_resume_goes_to_what_was_touched_last(exercises: Path) -> None:
    store = ProgressStore()
    try:
        course = load_course(LESSONS, default_root(), store)
        assert course.resume is not None and course.resume.kind == "lesson"
        assert course.resume.target == course.lessons[0].id  # a new learner: the first lesson

        store.moved_to("caching", 2)
        resume = resume_target(course, store)
        assert resume is not None and (resume.kind, resume.target) == ("lesson", "caching")
        assert "step 3 of 10" in resume.label

        exercise = course.exercises[0].exercise
        store.exercise_checked(exercise.name, exercise.fingerprint(), 0, 18, False)
        course = load_course(LESSONS, default_root(), store)
        assert course.resume is not None
        assert (course.resume.kind, course.resume.target) == ("exercise", "token-bucket")
        assert "failing" in course.resume.label

        store.moved_to("rate-limiting", 1)  # back to a lesson after that
        resume = resume_target(course, store)
        assert resume is not None and (resume.kind, resume.target) == ("lesson", "rate-limiting")
    finally:
        store.close()


async def test_keys_open_the_playground_a_lesson_an_exercise_and_resume(exercises: Path) -> None:
    app = HomeApp()
    async with app.run_test(size=SMALL) as pilot:
        screen = await loaded(pilot)
        # enter on the highlighted "Resume": a new learner starts lesson 1
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, LessonScreen))
        assert isinstance(app.screen, LessonScreen) and app.screen.lesson.topic == 1
        await pilot.press("escape")  # as the key bar says: to the lessons; h is home
        await wait_until(pilot, lambda: isinstance(app.screen, LessonsScreen))
        await pilot.press("h")
        await wait_until(pilot, lambda: app.screen is screen)

        # e: the exercises column; enter opens the highlighted one
        await pilot.press("e")
        assert app.screen.query_one("#home-exercises").has_focus
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ExerciseScreen))
        assert isinstance(app.screen, ExerciseScreen)
        assert app.screen.exercise.name == "test-the-cache"
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)

        # l: the lessons column; the about line says what the highlighted lesson is
        await pilot.press("l", "down", "down", "down", "down")
        about = plain_text(screen.query_one("#home-about-text", Static).content)
        assert "Caching" in about and "0 of 10 steps" in about

        # p: the playground; h: home again
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, PlaygroundScreen))
        await pilot.press("h")
        await wait_until(pilot, lambda: app.screen is screen)

        # r: resume, the same as the first line
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, LessonScreen))
        assert not app.errors()


async def test_a_broken_exercise_folder_is_listed_not_fatal(exercises: Path) -> None:
    (exercises / "07-token-bucket" / "exercise.toml").write_text("title = \n", encoding="utf-8")
    app = HomeApp()
    async with app.run_test(size=WIDE) as pilot:
        await loaded(pilot)
        shown = prompts(app, "#home-exercises")
        assert shown[0].startswith("15 · Test the cache")
        assert any("⚠" in line and "07-token-bucket" in line for line in shown)
        assert not app.errors()


async def test_keys_typed_at_once_after_e_move_in_the_exercises(exercises: Path) -> None:
    app = HomeApp()
    async with app.run_test(size=WIDE) as pilot:
        await loaded(pilot)
        await burst(pilot, ("e", "e"), ("down", None))
        exercises_list = app.screen.query_one("#home-exercises", OptionList)
        assert app.focused is exercises_list and exercises_list.highlighted == 1
        assert app.screen.query_one("#home-lessons", OptionList).highlighted == 0


async def test_a_narrow_key_bar_keeps_help_in_sight_and_cuts_no_key_in_half(
    exercises: Path,
) -> None:
    app = HomeApp()
    async with app.run_test(size=SMALL) as pilot:
        await loaded(pilot)
        bar = app.screen.query_one(KeyBar)
        line = plain_text(bar.render()).rstrip("\n")
        assert line == (" ⏎ Open  r Resume  p Playground  l Lessons  e Exercises "
                        "     ? Help ▏^p palette ")
        await pilot.click(KeyBar, offset=(line.index("Help"), 0))
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))


async def test_the_key_bar_shows_the_screens_keys_and_a_click_presses_one(exercises: Path) -> None:
    """The footer line: the keys of the screen in front, dimmed when unavailable, clickable."""
    app = HomeApp()
    async with app.run_test(size=WIDE) as pilot:
        await loaded(pilot)
        bar = app.screen.query_one(KeyBar)
        line = plain_text(bar.render())
        for shown in ("Open", "Resume", "Playground", "Lessons", "Quit", "Help", "palette"):
            assert shown in line, line
        assert "Home" not in line  # the mode the learner is in has no key of its own

        # the key under the mouse is lit, and only while the mouse is there
        start = line.index("Playground") - 3
        hover = bar.get_component_rich_style("key-bar--hover")
        await pilot.hover(KeyBar, offset=(start + 2, 0))
        lit = [(span.start, span.end) for span in bar.render().spans if span.style == hover]
        assert lit == [(start, start + len(" p Playground "))]
        await pilot.hover(offset=(5, 5))
        assert not [span for span in bar.render().spans if span.style == hover]

        # a click on "Playground" presses p
        await pilot.click(KeyBar, offset=(start + 2, 0))
        await wait_until(pilot, lambda: isinstance(app.screen, PlaygroundScreen))
        await pilot.pause()
        bar = app.screen.query_one(KeyBar)
        line = plain_text(bar.render())
        assert "Run" in line and "Home" in line and "Resume" not in line, line
        # a key with a tooltip shows it while the mouse is over it
        await pilot.hover(KeyBar, offset=(line.index("Run"), 0))
        assert bar.tooltip == "Fire the scenario at the backend with these switches"
        await pilot.hover(KeyBar, offset=(line.index("Home"), 0))
        assert bar.tooltip is None
        assert not app.errors()


async def test_the_about_panel_describes_the_highlighted_line_of_the_focused_list(
        exercises: Path) -> None:
    """Issue: with Resume highlighted, the about panel described exercise 1 (the exercises
    list, refilled when the course was read, had reported its own highlight)."""
    app = HomeApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = await loaded(pilot)
        await pilot.pause()
        about = plain_text(screen.query_one("#home-about-text", Static).content)
        assert about.startswith("Resume") and "points" not in about
        await pilot.press("e")
        await pilot.pause()
        about = plain_text(screen.query_one("#home-about-text", Static).content)
        assert not about.startswith("Resume") and "points" in about  # now an exercise's
        assert not app.errors()
