"""`e` on an exercise opens the learner's file in $EDITOR, the app stepping aside meanwhile.

The editor itself runs only in a real terminal (the tmux check in the closing note); here the
app's side: what it says without an editor, and where the terminal cannot step aside.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import WIDE, HomeApp, copy_exercises, wait_until

from sandbox.tui.screens.exercise import ExerciseScreen
from sandbox.tui.screens.home import HomeScreen


@pytest.fixture
def exercises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = copy_exercises(tmp_path / "exercises", "07-token-bucket")
    monkeypatch.setenv("SANDBOX_EXERCISES", str(root))
    return root


async def open_bucket(pilot) -> ExerciseScreen:  # type: ignore[no-untyped-def]
    home = pilot.app.screen
    assert isinstance(home, HomeScreen)
    await wait_until(pilot, lambda: home.course is not None)
    home.open_option("exercise:token-bucket")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ExerciseScreen))
    await pilot.pause()
    return pilot.app.screen  # type: ignore[no-any-return]


async def test_without_an_editor_e_says_how_to_set_one(exercises: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)
    app = HomeApp()
    async with app.run_test(size=WIDE) as pilot:
        await open_bucket(pilot)
        await pilot.press("e")
        await pilot.pause()
        said = [message for _, _, message in app.shown]
        assert any("Set EDITOR" in m and "token_bucket.py" in m for m in said), said
        assert not app.errors()


async def test_where_the_terminal_cannot_step_aside_it_says_so(
        exercises: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDITOR", "true")  # a headless test driver cannot suspend
    app = HomeApp()
    async with app.run_test(size=WIDE) as pilot:
        await open_bucket(pilot)
        await pilot.press("e")
        await pilot.pause()
        said = [message for _, _, message in app.shown]
        assert any("cannot hand the screen to an editor" in m for m in said), said
        assert not app.errors()
