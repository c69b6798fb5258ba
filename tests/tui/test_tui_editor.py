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


@pytest.mark.parametrize(("editor", "said"), [
    (None, "Set EDITOR"),  # none set: how to set one, and where the file is
    ("true", "cannot hand the screen to an editor"),  # a headless driver cannot suspend
], ids=["no-editor", "cannot-suspend"])
async def test_e_says_what_to_do_when_the_editor_cannot_open(
        exercises: Path, monkeypatch: pytest.MonkeyPatch, editor: str | None, said: str) -> None:
    monkeypatch.delenv("VISUAL", raising=False)
    if editor is None:
        monkeypatch.delenv("EDITOR", raising=False)
    else:
        monkeypatch.setenv("EDITOR", editor)
    app = HomeApp()
    async with app.run_test(size=WIDE) as pilot:
        await open_bucket(pilot)
        await pilot.press("e")
        await pilot.pause()
        shown = [message for _, _, message in app.shown]
        assert any(said in m and "token_bucket.py" in m for m in shown), shown
        assert not app.errors()
