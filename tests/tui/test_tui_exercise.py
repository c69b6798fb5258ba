"""The exercise view (issue 6, item 2): check, hint, reset after confirmation, next, and the
learner's own code serving the playground's traffic.

Every test works on a private copy of shipped exercises in a temporary SANDBOX_EXERCISES, so
the repository's stubs are never touched; progress goes to conftest's fresh SANDBOX_DATA_DIR.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.widgets import Static
from tui_helpers import (
    PATIENCE_S,
    SMALL,
    WIDE,
    HomeApp,
    copy_exercises,
    plain_text,
    wait_until,
)

from sandbox.course.exercises import Exercise, load_exercises
from sandbox.course.progress import ProgressStore
from sandbox.settings import Settings
from sandbox.tui.dialogs import ConfirmDialog
from sandbox.tui.exercising import (
    PluggedCode,
    StudentCodeStalled,
    explain_error,
    load_plugged,
    playground_setup,
    run_guarded,
)
from sandbox.tui.screens.exercise import ExerciseScreen
from sandbox.tui.screens.home import HomeScreen
from sandbox.tui.screens.playground import PlaygroundScreen
from sandbox.tui.widgets.run_controls import RunControls


@pytest.fixture
def exercises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = copy_exercises(tmp_path / "exercises", "07-token-bucket", "15-test-the-cache")
    monkeypatch.setenv("SANDBOX_EXERCISES", str(root))
    return root


def bucket(root: Path) -> Exercise:
    return next(e for e in load_exercises(root)[0] if e.name == "token-bucket")


def shown(app: HomeApp, selector: str) -> str:
    return plain_text(app.screen.query_one(selector, Static).content)


async def open_exercise(pilot, name: str) -> ExerciseScreen:  # type: ignore[no-untyped-def]
    app = pilot.app
    screen = app.screen
    assert isinstance(screen, HomeScreen)
    await wait_until(pilot, lambda: screen.course is not None)
    screen.open_option(f"exercise:{name}")
    await wait_until(pilot, lambda: isinstance(app.screen, ExerciseScreen))
    await pilot.pause()
    exercise_screen = app.screen
    assert isinstance(exercise_screen, ExerciseScreen)
    return exercise_screen


@pytest.mark.parametrize("size", [SMALL, WIDE], ids=["80x24", "120x40"])
async def test_the_view_shows_the_task_the_file_and_the_status(
        exercises: Path, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(exercises.parent)
    app = HomeApp()
    async with app.run_test(size=size) as pilot:
        screen = await open_exercise(pilot, "token-bucket")
        assert "token bucket" in screen.query_one("#exercise-markdown").source.lower()
        facts = shown(app, "#exercise-facts")
        assert "exercises/07-token-bucket/token_bucket.py" in facts
        assert "not started" in facts and "-/18 points" in facts
        assert "p runs your code in the playground" in facts
        assert "0 of 3" in shown(app, "#exercise-hints-heading")
        assert not app.errors()


async def test_check_on_the_stub_explains_the_first_failure(exercises: Path) -> None:
    app = HomeApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_exercise(pilot, "token-bucket")
        await pilot.press("c")
        await pilot.pause()
        assert screen.checking and not screen.query_one("#exercise-busy").has_class("-idle")
        await wait_until(pilot, lambda: screen.last_result is not None)
        verdict = shown(app, "#exercise-verdict")
        assert "✗ token-bucket: 0 of" in verdict and "(0/18 points)" in verdict
        assert "First failure" in verdict and "not written yet" in verdict
        assert "token_bucket.py:" in verdict  # the line of their file
        assert "Traceback" not in verdict
        assert "failing" in shown(app, "#exercise-facts")
        assert screen.query_one("#exercise-busy").has_class("-idle")
        check = ProgressStore().exercise_checks()["token-bucket"]
        assert (check.score, check.max_score, check.passed) == (0, 18, False)
        assert not app.errors()


async def test_a_hint_at_a_time_and_progress_is_saved(exercises: Path) -> None:
    exercise = bucket(exercises)
    app = HomeApp()
    async with app.run_test(size=SMALL) as pilot:
        await open_exercise(pilot, "token-bucket")
        assert exercise.hints[0] not in shown(app, "#exercise-hint-text")
        await pilot.press("h")
        assert ProgressStore().hints_shown("token-bucket") == 1
        assert exercise.hints[0][:40] in shown(app, "#exercise-hint-text").replace("\n", " ")
        assert "1 of 3" in shown(app, "#exercise-hints-heading")
        await pilot.press("h", "h", "h")
        assert ProgressStore().hints_shown("token-bucket") == 3
        assert any("No more hints" in message for _, _, message in app.shown)
    again = HomeApp()
    async with again.run_test(size=SMALL) as pilot:
        await open_exercise(pilot, "token-bucket")
        assert "3 of 3" in shown(again, "#exercise-hints-heading")


async def test_reset_asks_first_and_then_restores_the_stub(exercises: Path) -> None:
    exercise = bucket(exercises)
    path = exercise.student_path("token_bucket.py")
    stub = path.read_text(encoding="utf-8")
    mine = stub + "\n# my work\n"
    path.write_text(mine, encoding="utf-8")
    ProgressStore().exercise_checked(exercise.name, exercise.fingerprint(), 3, 18, False)
    app = HomeApp()
    async with app.run_test(size=WIDE) as pilot:
        await open_exercise(pilot, "token-bucket")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")  # no: nothing changes
        await wait_until(pilot, lambda: isinstance(app.screen, ExerciseScreen))
        assert path.read_text(encoding="utf-8") == mine

        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("escape")  # escape is no too
        await wait_until(pilot, lambda: isinstance(app.screen, ExerciseScreen))
        assert path.read_text(encoding="utf-8") == mine

        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, ExerciseScreen))
        assert path.read_text(encoding="utf-8") == stub
        assert "token-bucket" not in ProgressStore().exercise_checks()
        assert "not started" in shown(app, "#exercise-facts")
        assert any("restored to the stub" in message for _, _, message in app.shown)


async def test_next_goes_to_the_following_exercise(exercises: Path) -> None:
    app = HomeApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_exercise(pilot, "token-bucket")
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is not screen)
        assert isinstance(app.screen, ExerciseScreen)
        assert app.screen.exercise.name == "test-the-cache"
        await pilot.press("n")
        assert any("last exercise" in message for _, _, message in app.shown)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen))


async def test_an_exercise_without_a_plug_says_why_it_cannot_run(exercises: Path) -> None:
    app = HomeApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_exercise(pilot, "test-the-cache")
        assert screen.check_action("play", ()) is None  # shown disabled in the footer
        assert "no plug point" in shown(app, "#exercise-facts")
        await pilot.press("p")  # says why, and stays
        await pilot.pause()
        assert app.screen is screen
        assert any("no plug point" in message for _, _, message in app.shown)
        footer = {b.binding.key: b for b in screen.active_bindings.values()}
        assert footer["p"].binding.action == "play" and not footer["p"].enabled


async def test_the_solution_runs_in_the_playground(exercises: Path) -> None:
    """Issue 6, item 2: the learner's own code serving traffic in the flow view."""
    exercise = bucket(exercises)
    solution = exercise.solution_path("token_bucket.py").read_text(encoding="utf-8")
    exercise.student_path("token_bucket.py").write_text(solution, encoding="utf-8")
    app = HomeApp()
    async with app.run_test(size=WIDE) as pilot:
        await open_exercise(pilot, "token-bucket")
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, PlaygroundScreen))
        playground = app.screen
        assert isinstance(playground, PlaygroundScreen)
        assert playground.plugged is not None and playground.plugged.label == "your token_bucket.py"
        assert app.settings.ratelimit.algorithm == "token_bucket"
        await wait_until(pilot, lambda: bool(playground.runs))
        record = playground.runs[-1]
        assert record.plugged == "your token_bucket.py" and record.scenario == "spike"
        assert record.metrics["ratelimit"]["rejected"] > 0  # their bucket refused some
        assert "plugged in" in str(playground.sub_title)
        flow = plain_text(playground.query_one("#flow-caption", Static).content)
        assert "served with your token_bucket.py" in flow
        assert not app.errors()

        # u unplugs: the next run is the sandbox's own code again
        await pilot.press("u")
        assert playground.plugged is None and str(playground.sub_title) == "playground"
        # h: home, where the exercise is still open
        await pilot.press("h")
        await wait_until(pilot, lambda: isinstance(app.screen, ExerciseScreen))


async def test_the_stub_in_the_playground_fails_in_plain_words(exercises: Path) -> None:
    app = HomeApp()
    async with app.run_test(size=WIDE) as pilot:
        await open_exercise(pilot, "token-bucket")
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(app.screen, PlaygroundScreen))
        await wait_until(pilot, lambda: bool(app.errors()))
        message = app.errors()[0]
        assert "not written yet" in message and "token_bucket.py:" in message
        assert "Traceback" not in message
        assert not app.screen.query_one(RunControls).running


async def test_a_broken_module_shows_an_error_and_stays_put(exercises: Path) -> None:
    exercise = bucket(exercises)
    exercise.student_path("token_bucket.py").write_text("def take(:\n", encoding="utf-8")
    app = HomeApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_exercise(pilot, "token-bucket")
        await pilot.press("p")
        await wait_until(pilot, lambda: bool(app.errors()))
        assert app.screen is screen  # still on the exercise
        message = app.errors()[0]
        assert "syntax error" in message and "line 1" in message
        assert "Traceback" not in message


def test_a_missing_name_and_an_endless_loop_are_explained(exercises: Path) -> None:
    exercise = bucket(exercises)
    path = exercise.student_path("token_bucket.py")
    path.write_text("class Bucket:\n    pass\n", encoding="utf-8")
    plugged = load_plugged(exercise)
    with pytest.raises(Exception) as raised:
        plugged.build(Settings(), 7)
    assert "TokenBucket" in explain_error(raised.value, path)

    # Code that does not return until the test lets it: run_guarded must give up on it after
    # 0.2 s of silence (one that waited instead would return, after minutes, without raising).
    release = threading.Event()
    with pytest.raises(StudentCodeStalled) as stalled:
        run_guarded(lambda alive: release.wait(PATIENCE_S), silence_s=0.2,
                    what="your token_bucket.py")
    release.set()
    assert "endless loop" in str(stalled.value)


@pytest.mark.parametrize("code", [
    "from sandbox.mechanisms.ratelimit import TokenBucketLimiter as TokenBucket\n",
    "import importlib\nlib = importlib.import_module('pyrate_limiter')\n",
    "import sandbox.mechanisms\nfrom sandbox.mechanisms import ratelimit as _r\n"
    "TokenBucket = getattr(_r, 'TokenBucket' + 'Limiter')\n",
    "import sandbox.mechanisms.ratelimit\n",
])
def test_the_playground_refuses_what_the_grader_refuses(exercises: Path, code: str) -> None:
    """The playground runs the learner's code in the app's own process, where nothing can be
    refused at import. It says what the grader would say, instead of letting code that will
    score 0 look fine in the playground first."""
    exercise = bucket(exercises)
    path = exercise.student_path("token_bucket.py")
    path.write_text(code, encoding="utf-8")
    with pytest.raises(ImportError) as raised:
        load_plugged(exercise)
    said = explain_error(raised.value, path)
    assert "is not allowed in this exercise" in said, said
    assert "sandbox.mechanisms.ratelimit" in said or "pyrate_limiter" in said, said
    # the same file with its own bucket (and an allowed import) loads
    path.write_text("import time\n\nclass TokenBucket:\n    pass\n", encoding="utf-8")
    assert load_plugged(exercise).module is not None


def test_the_plugged_code_reloads_after_an_edit(exercises: Path) -> None:
    exercise = bucket(exercises)
    path = exercise.student_path("token_bucket.py")
    path.write_text("VERSION = 1\n", encoding="utf-8")
    plugged = PluggedCode(exercise)
    assert plugged.load().VERSION == 1
    assert plugged.load() is plugged.module  # unchanged: not loaded again
    path.write_text("VERSION = 22\n", encoding="utf-8")
    assert plugged.load().VERSION == 22


def test_every_pluggable_shipped_exercise_has_a_playground_setup() -> None:
    from sandbox.course.exercises import default_root
    from sandbox.plugs import plug_points
    from sandbox.tui.exercising import PLAYGROUND_SETUPS

    assert set(PLAYGROUND_SETUPS) <= set(plug_points())
    for exercise in load_exercises(default_root())[0]:
        setup = playground_setup(exercise)
        if exercise.plug:
            assert exercise.plug in PLAYGROUND_SETUPS, exercise.name
            assert setup is not None
            Settings().replace(dict(setup.settings))  # every switch is a real one
        else:
            assert setup is None


def test_before_after_names_whose_code_served_each_run() -> None:
    from sandbox.tui.runs import RunRecord, compare

    metrics = {"latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0}, "throughput_rps": 10.0,
               "status": {"200": 5}, "ratelimit": {"rejected": 0}, "cache": {"hit_rate": 0.0},
               "db": {"queries": 1, "rows_scanned": 1}, "queue": {"dead_lettered": 0}}
    mine = RunRecord("spike", 7, 100, Settings(), metrics, (), plugged="your token_bucket.py")
    built_in = RunRecord("spike", 7, 100, Settings(), metrics, ())
    assert compare(mine, built_in).describe_changes() == [
        "code: your token_bucket.py -> built-in"]
    assert compare(built_in, built_in).changes == ()
