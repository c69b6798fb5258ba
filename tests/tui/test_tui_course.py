"""A course folder in the terminal app (issue 19): `sandbox --course DIR` opens on the course's
own lessons and exercises, an instructor's new lesson among them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import OptionList
from tui_helpers import WIDE, HomeApp, copy_exercises, plain_text, wait_until

from sandbox.commands.cli import use_course
from sandbox.tui.screens.home import HomeScreen
from sandbox.tui.screens.lesson import LessonScreen


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SANDBOX_COURSE", "SANDBOX_EXERCISES", "SANDBOX_LESSONS_DIR"):
        monkeypatch.setenv(name, "")  # so that whatever `--course` sets is undone after
        monkeypatch.delenv(name)
    folder = tmp_path / "course"
    copy_exercises(folder / "exercises", "07-token-bucket")
    (folder / "lessons").mkdir()
    shipped = Path(__file__).resolve().parents[2] / "lessons" / "05-caching.md"
    shutil.copy2(shipped, folder / "lessons" / "caching.md")
    text = shipped.read_text(encoding="utf-8").replace('id = "caching"', 'id = "pooling"', 1)
    text = text.replace("title = \"", "title = \"Pooling, ", 1)
    (folder / "lessons" / "pooling.md").write_text(text, encoding="utf-8")
    use_course(str(folder))  # what `sandbox --course DIR` does before the app opens
    return folder


def prompts(app: HomeApp, selector: str) -> list[str]:
    listing = app.screen.query_one(selector, OptionList)
    return [plain_text(listing.get_option_at_index(i).prompt, 80).strip()
            for i in range(listing.option_count)]


async def test_the_app_opens_on_the_course_folders_lessons_and_exercises(course: Path) -> None:
    app = HomeApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = app.screen
        assert isinstance(screen, HomeScreen)
        await wait_until(pilot, lambda: screen.course is not None)
        await pilot.pause()
        lessons = prompts(app, "#home-lessons")
        assert len(lessons) == 2 and all(row.startswith("5 Caching") for row in lessons), lessons
        exercises = prompts(app, "#home-exercises")
        assert len(exercises) == 1 and exercises[0].startswith("7 · A token bucket")
        await pilot.press("l", "down", "enter")  # the instructor's own lesson, opened
        await wait_until(pilot, lambda: isinstance(app.screen, LessonScreen), timeout=20)
        assert isinstance(app.screen, LessonScreen) and app.screen.lesson.id == "pooling"
        assert not app.errors()
