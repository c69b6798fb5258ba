"""The lessons mode: the list by topic, the player's steps, checkpoints and saved progress.

Small runs come from a tiny lesson written into a temporary SANDBOX_LESSONS_DIR, so every run
here is 200 requests; progress goes to the fresh SANDBOX_DATA_DIR tests/conftest.py sets.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from textual.containers import VerticalScroll
from textual.widgets import Markdown, OptionList, Static
from tui_helpers import SMALL, WIDE, RecordingApp, open_lesson, wait_until

from sandbox.course.lessons import load_lessons
from sandbox.course.progress import ProgressStore
from sandbox.settings import Settings
from sandbox.tui.screens.lesson import LessonScreen
from sandbox.tui.screens.lessons import LessonsScreen
from sandbox.tui.widgets.checkpoint_view import CheckpointView
from sandbox.tui.widgets.waterfall import WaterfallView

SMALL_LESSON = '''+++
id = "tiny"
title = "A tiny lesson"
topic = 5
order = 1
summary = "Small runs for the tests"
+++

An introduction.

## Read me

Nothing happens here.

```checkpoint
kind = "choice"
question = "Which is right?"
choices = [
  { text = "This one", correct = true, explain = "Because it is." },
  { text = "That one", explain = "It is not." },
]
```

## Switch the cache on

```sandbox
set = { "cache.strategy" = "cache_aside" }
run = { scenario = "steady", requests = 200 }
```

The cache now answers.

## Your turn

```sandbox
reset = true
```

```checkpoint
kind = "challenge"
question = "Get the hit rate up, with the cache on."
run = { scenario = "steady", requests = 200 }
metric = "cache.hit_rate"
above = 0.3
keep = { "cache.strategy" = "cache_aside" }
```
'''


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "lessons"
    folder.mkdir()
    (folder / "tiny.md").write_text(SMALL_LESSON, encoding="utf-8")
    (folder / "broken.md").write_text("no header here\n", encoding="utf-8")
    monkeypatch.setenv("SANDBOX_LESSONS_DIR", str(folder))
    return folder


def prompts(app: RecordingApp) -> list[str]:
    listing = app.screen.query_one("#lesson-list", OptionList)
    return [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]


def lesson_screen(app: RecordingApp) -> LessonScreen:
    screen = app.screen
    assert isinstance(screen, LessonScreen), screen
    return screen


def plain(app: RecordingApp, selector: str) -> str:
    """What the Static shows, as plain text."""
    console = Console(width=200, file=io.StringIO(), color_system=None)
    with console.capture() as captured:
        console.print(app.screen.query_one(selector, Static).content)
    return captured.get()


async def open_tiny(pilot) -> LessonScreen:  # type: ignore[no-untyped-def]
    return await open_lesson(pilot, "tiny")


async def test_the_shipped_lessons_are_listed_by_topic() -> None:
    lessons, errors = load_lessons(Path(__file__).resolve().parents[2] / "lessons")
    assert lessons and not errors
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, LessonsScreen))
        shown = "\n".join(prompts(app))
        assert "5 · Caching" in shown and "1 · Clients and requests" in shown
        for lesson in lessons:  # under the topic's heading, the title without the topic's name
            topic_name, subtitle = lesson.title.split(": ", 1)
            assert subtitle in shown and f"{topic_name}: " not in shown
        assert f"0/{len(lessons[0].steps)} steps" in shown
        assert "broken" not in shown
        assert not app.errors()


async def test_a_step_opens_at_its_top_and_a_key_brings_its_question_into_view() -> None:
    lessons, _ = load_lessons(Path(__file__).resolve().parents[2] / "lessons")
    long_one = next(lesson for lesson in lessons if lesson.title.startswith("Error handling"))
    app = RecordingApp()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_lesson(pilot, long_one.id)
        await wait_until(pilot, lambda: isinstance(app.focused, OptionList))
        await pilot.pause()
        text = screen.query_one("#lesson-text", VerticalScroll)
        question = screen.query_one(CheckpointView)

        def question_in_view() -> bool:
            box = screen.query_one("#checkpoints")  # the question's place in the text's scroll
            top = box.virtual_region.y + question.virtual_region.y
            return text.scroll_y <= top < text.scroll_y + text.scrollable_content_region.height

        assert text.scroll_y == 0  # the step's title and first lines are what the learner sees
        assert not question_in_view()  # its question is further down
        await pilot.press("down")
        await wait_until(pilot, question_in_view)
        assert app.focused is question.query_one(OptionList)


async def test_a_broken_file_is_listed_and_a_lesson_plays_step_by_step(tiny: Path) -> None:
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, LessonsScreen))
        shown = prompts(app)
        assert any("A tiny lesson" in p and "0/3 steps" in p for p in shown)
        broken = [p for p in shown if "broken.md" in p]
        assert broken and "broken" in broken[0] and "header" in broken[0]

        screen = await open_tiny(pilot)
        assert screen.index == 0
        assert "step 1 of 3" in plain(app, "#step-title") and "Read me" in plain(app, "#step-title")
        assert "Nothing happens here" in screen.query_one("#step-markdown", Markdown).source

        # a choice checkpoint: the explanation shows, the answer is saved
        view = screen.query_one(CheckpointView)
        choices = view.query_one(OptionList)
        assert choices.has_focus
        # Shown shuffled, the same way every time: the right answer, written first, is b).
        assert [str(choices.get_option_at_index(i).prompt) for i in range(2)] == [
            "a) That one", "b) This one"]
        choices.highlighted = 0
        await pilot.press("enter")
        await pilot.pause()
        assert "Because it is." not in plain(app, ".checkpoint-result")
        assert "It is not." in plain(app, ".checkpoint-result")
        assert "pick another" in plain(app, ".checkpoint-result")  # a wrong answer may retry
        assert ProgressStore().lesson("tiny").answers[(0, 0)] == ("That one", False)
        choices.highlighted = 1
        await pilot.press("enter")
        await pilot.pause()
        assert "right" in plain(app, ".checkpoint-result")
        assert "pick another" not in plain(app, ".checkpoint-result")
        assert ProgressStore().lesson("tiny").answers[(0, 0)] == ("This one", True)

        # next applies the `set` and runs the experiment
        await pilot.press("right")
        await wait_until(pilot, lambda: screen.last_metrics is not None)
        assert screen.step_settings.cache.strategy == "cache_aside"
        assert app.settings == Settings()  # the playground's switches are the learner's
        assert screen.index == 1 and "step 2 of 3" in plain(app, "#step-title")
        assert screen.last_metrics is not None and screen.last_metrics["requests"] == 200
        shown_metrics = plain(app, "#lesson-metrics")
        assert "p95 ms" in shown_metrics and "db queries" in shown_metrics
        assert "cache hit" in shown_metrics
        assert 0 in ProgressStore().lesson("tiny").steps_done

        # back and [ ] move too
        await pilot.press("left")
        assert screen.index == 0
        await pilot.press("right_square_bracket")
        assert screen.index == 1
        await pilot.press("left_square_bracket")
        assert screen.index == 0
        assert not app.errors()


async def test_a_challenge_is_met_after_the_switch_and_progress_survives(tiny: Path) -> None:
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_tiny(pilot)
        await pilot.press("right")
        await wait_until(pilot, lambda: screen.last_metrics is not None)
        await pilot.press("right")
        assert screen.index == 2
        assert screen.step_settings == Settings()  # this step sets nothing

        await pilot.press("c")
        await wait_until(pilot, lambda: "not yet" in plain(app, ".checkpoint-result"))
        assert "cache.strategy must stay cache_aside" in plain(app, ".checkpoint-result")
        assert not ProgressStore().lesson("tiny").challenges_met

        app.settings = app.settings.replace({"cache.strategy": "cache_aside"})  # as the playground does
        await pilot.press("c")
        await wait_until(pilot, lambda: "met:" in plain(app, ".checkpoint-result"))
        assert ProgressStore().lesson("tiny").challenges_met == {(2, 0)}
        assert not app.errors()

    again = RecordingApp()
    async with again.run_test(size=WIDE) as pilot:
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(again.screen, LessonsScreen))
        # steps 1 and 2 moved past, step 3's challenge met: all three ticked
        assert any("A tiny lesson" in p and "3/3 steps" in p for p in prompts(again))
        screen = await open_tiny(pilot)
        assert screen.index == 2 and "step 3 of 3" in plain(again, "#step-title")
        assert "met before" in plain(again, ".checkpoint-result")


async def test_a_request_step_shows_the_response_and_a_failure_is_a_notification(tiny: Path) -> None:
    (tiny / "tiny.md").write_text(SMALL_LESSON.replace(
        "Nothing happens here.", '```sandbox\nrequest = { method = "GET", path = "/products/1" }\n```'),
        encoding="utf-8")
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_tiny(pilot)
        await wait_until(pilot, lambda: "200 GET /products/1" in plain(app, "#lesson-response"))
        assert '{"id": 1, "' in plain(app, "#lesson-response")  # JSON that wraps between fields
        waterfall = screen.query_one(WaterfallView)
        assert waterfall.display and waterfall.span_names()
        # nothing listens at this Redis: the request fails, and says so in a notification
        app.settings = app.settings.replace({"redis.url": "redis://127.0.0.1:1/0"})
        screen.enter(0)
        await wait_until(pilot, lambda: bool(app.errors()))
        assert "no response" in plain(app, "#lesson-response")
        assert "Traceback" not in "".join(app.errors())


def test_a_lessons_requests_share_one_sandbox_across_steps() -> None:
    """Lesson 16's story: a retried POST without a key makes a second order; with a key the
    retry is replayed. Both need the same database from one step to the next."""
    from sandbox.settings import Settings
    from sandbox.tui.composing import ComposedRequest
    from sandbox.tui.lesson_sandbox import LessonSandbox

    shared = LessonSandbox()
    body = '{"items": [{"product_id": 3, "quantity": 1}]}'
    order = ComposedRequest(method="POST", path="/orders", body=body, user="grace@shop.test")
    keyed = ComposedRequest(method="POST", path="/orders", body=body, user="grace@shop.test",
                            headers=(("Idempotency-Key", "lesson-test"),))
    try:
        first = json.loads(shared.send(order, Settings()).body)
        again = json.loads(shared.send(order, Settings()).body)
        assert first["id"] != again["id"]  # a second, different order
        once = json.loads(shared.send(keyed, Settings()).body)
        replay = json.loads(shared.send(keyed, Settings()).body)
        assert replay["id"] == once["id"] and replay["replayed"] is True
    finally:
        shared.close()


async def test_a_lesson_leaves_the_playground_alone_until_asked(tiny: Path) -> None:
    """Issue: set db.indexes=none and a token bucket in the playground, open a lesson and
    step back: the playground had changed. Now only `o` copies a step's switches there."""
    app = RecordingApp()
    mine = Settings().replace({"db.indexes": "none", "ratelimit.algorithm": "token_bucket"})
    async with app.run_test(size=WIDE) as pilot:
        app.settings = mine
        screen = await open_tiny(pilot)
        await pilot.press("right")  # step 2 sets cache.strategy and runs
        await wait_until(pilot, lambda: screen.last_metrics is not None)
        assert screen.step_settings.cache.strategy == "cache_aside"
        assert screen.step_settings.db.indexes != "none"  # nor do the learner's reach a step
        await pilot.press("left")
        await pilot.press("right")
        assert app.settings == mine

        await pilot.press("o")  # asked: the step's switches, in the playground
        await wait_until(pilot, lambda: app.current_mode == "playground")
        assert app.settings == screen.step_settings
        assert not app.errors()


async def test_a_step_is_ticked_once_its_questions_are_answered_right(tiny: Path) -> None:
    """Issue: lesson 1, step 3 answered right stayed unticked in the lessons list."""
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_tiny(pilot)
        screen.pick(0, 1)  # wrong
        await pilot.pause()
        assert 0 not in ProgressStore().lesson("tiny").steps_done
        screen.pick(0, 0)  # right, without moving on
        await pilot.pause()
        assert 0 in ProgressStore().lesson("tiny").steps_done
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, LessonsScreen))
        assert any("A tiny lesson" in p and "1/3 steps" in p for p in prompts(app))
        assert not app.errors()


def test_a_step_is_complete_when_each_kind_of_checkpoint_is_done() -> None:
    from sandbox.course.lessons import parse_lesson
    from sandbox.course.progress import LessonProgress
    from sandbox.tui.learning import step_complete

    lesson = parse_lesson(SMALL_LESSON)
    first, third = lesson.steps[0], lesson.steps[2]
    assert [p.kind for p in first.checkpoints] == ["choice"]
    assert [p.kind for p in third.checkpoints] == ["challenge"]
    progress = LessonProgress()
    assert not step_complete(first, 0, progress)
    progress.answers[(0, 0)] = ("That one", False)
    assert not step_complete(first, 0, progress)
    progress.answers[(0, 0)] = ("This one", True)
    assert step_complete(first, 0, progress)
    assert not step_complete(third, 2, progress)
    progress.challenges_met.add((2, 0))
    assert step_complete(third, 2, progress)
    assert not step_complete(lesson.steps[1], 1, progress)  # no checkpoint: moving on ticks it


async def test_h_goes_home_and_escape_goes_to_the_lessons_list(tiny: Path) -> None:
    """Issue: a lesson opened from home sat on home's stack, so `h` did nothing there or from
    the playground, and Escape went home though the key bar says "esc Lessons"."""
    from tui_helpers import HomeApp

    from sandbox.tui.screens.home import HomeScreen

    app = HomeApp()
    async with app.run_test(size=WIDE) as pilot:
        home = app.screen
        assert isinstance(home, HomeScreen)
        await wait_until(pilot, lambda: home.course is not None)
        await pilot.press("r")  # resume: the tiny lesson
        await wait_until(pilot, lambda: isinstance(app.screen, LessonScreen))
        await pilot.press("h")
        await wait_until(pilot, lambda: app.screen is home)

        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, LessonScreen))
        await pilot.press("p")
        await wait_until(pilot, lambda: app.current_mode == "playground")
        await pilot.press("h")
        await wait_until(pilot, lambda: app.screen is home)

        await pilot.press("r")  # again: still one lesson open, not two
        await wait_until(pilot, lambda: isinstance(app.screen, LessonScreen))
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, LessonsScreen))
        assert not app.errors()


async def test_help_names_keys_as_the_key_bar_does_and_says_where_p_differs() -> None:
    """Issue: help showed `full_stop`, `equals_sign`, `right_square_bracket`, and `p` twice
    with two meanings and no word on which applies where."""
    from tui_helpers import HomeApp

    from sandbox.tui.screens.help import HelpScreen

    app = HomeApp()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        shown = plain(app, "#help-keys")
        for raw in ("full_stop", "equals_sign", "right_square_bracket", "question_mark",
                    "left_square_bracket"):
            assert raw not in shown, raw
        assert "→ / ]" in shown and "? / f1" in shown
        playground = next(line for line in shown.splitlines() if "Playground" in line
                          and "everywhere" in line)
        assert "(not in: exercise" in playground, playground


COMPARED_LESSON = SMALL_LESSON.replace('''## Read me

Nothing happens here.
''', '''## Read me

```sandbox
run = { scenario = "steady", requests = 200 }
```
''')


async def test_a_step_shows_its_run_beside_the_step_it_follows_on_from(tiny: Path) -> None:
    """Issue: caching step 2 showed 407 queries but not step 1's 2,236 beside it. Opened
    straight at step 2, the lesson measures step 1 too, then shows `step 1 → now`."""
    from sandbox.scenarios import arun_scenario

    (tiny / "tiny.md").write_text(COMPARED_LESSON, encoding="utf-8")
    store = ProgressStore()
    store.moved_to("tiny", 1)
    store.close()
    app = RecordingApp()
    async with app.run_test(size=SMALL) as pilot:  # 80x24: every number whole
        screen = await open_tiny(pilot)
        assert screen.index == 1
        await wait_until(pilot, lambda: screen.last_metrics is not None)
        shown = plain(app, "#lesson-metrics")
        off = (await arun_scenario("steady", Settings(), seed=7, requests=200)).metrics["db"]["queries"]
        on = screen.last_metrics["db"]["queries"]
        assert off > on
        line = next(line for line in shown.splitlines() if "db queries" in line)
        assert line.split()[-3:] == [f"{off:,}", f"{on:,}", f"{(on - off) / off:+.0%}"], line
        assert "step 1" in shown and "now" in shown
        assert not app.errors()


def test_the_compared_step_is_the_one_that_differs_least() -> None:
    from sandbox.course.folders import lessons_dir
    from sandbox.course.lessons import load_lessons
    from sandbox.tui.learning import compared_step, metric_label, metric_rows

    lessons, _ = load_lessons(lessons_dir())
    caching = next(lesson for lesson in lessons if lesson.id == "caching")
    # step 4 turns invalidation off: against step 2 (the cache alone), not step 3 (a short TTL)
    assert [compared_step(caching, i) for i in range(4)] == [None, 0, 1, 1]
    assert metric_label("cache.stale_reads") == "stale reads"
    assert metric_label("cache.hits") == "cache hits"
    assert metric_label("status.503") == "503s"

    before = {"latency_ms": {"p50": 1.0, "p95": 10.0, "p99": 20.0}, "throughput_rps": 1.0,
              "status": {"200": 100}, "ratelimit": {"rejected": 0},
              "cache": {"hit_rate": 0.0, "hits": 0, "stale_reads": 0},
              "db": {"queries": 200, "rows_scanned": 1}, "queue": {"dead_lettered": 0}}
    after = {**before, "latency_ms": {"p50": 1.0, "p95": 5.0, "p99": 20.0},
             "cache": {"hit_rate": 0.5, "hits": 50, "stale_reads": 7},
             "db": {"queries": 100, "rows_scanned": 1}}
    rows = {r.label: r for r in metric_rows(after, ["cache.stale_reads"], before)}
    assert list(rows) == ["p95 ms", "cache hit", "db queries", "stale reads"]  # no 429s, 5xx
    assert (rows["p95 ms"].before, rows["p95 ms"].value, rows["p95 ms"].change,
            rows["p95 ms"].verdict) == ("10.00", "5.00", "-50%", "better")
    assert (rows["cache hit"].change, rows["cache hit"].verdict) == ("+50pp", "better")
    assert rows["stale reads"].focus and rows["stale reads"].change == "new"
    alone = metric_rows(after, [])
    assert all(r.before == "" and r.change == "" for r in alone)


PREDICTED = SMALL_LESSON.replace('''## Switch the cache on

```sandbox
set = { "cache.strategy" = "cache_aside" }
run = { scenario = "steady", requests = 200 }
```

The cache now answers.
''', '''## Switch the cache on

What will a cache do to the queries?

```sandbox
set = { "cache.strategy" = "cache_aside" }
run = { scenario = "steady", requests = 200 }
```

```checkpoint
kind = "predict"
question = "With the cache on, the database answers"
run = { scenario = "steady", requests = 200 }
metric = "db.queries"
choices = [
  { text = "fewer queries", correct = true, explain = "Hits never reach it." },
  { text = "more queries", explain = "A miss is still one query." },
]
```

Fewer: the popular products are answered from the cache.
''')


async def test_a_prediction_is_asked_before_the_text_that_answers_it(tiny: Path) -> None:
    """Issue: predict-then-measure questions sat under text that gave the answer away."""
    (tiny / "tiny.md").write_text(PREDICTED, encoding="utf-8")
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_tiny(pilot)
        await pilot.press("right")
        assert screen.index == 1
        source = screen.query_one("#step-markdown", Markdown).source
        assert "What will a cache do" in source and "Predict below first" in source
        assert "popular products are answered" not in source
        screen.pick(0, 0)
        await pilot.pause()
        source = screen.query_one("#step-markdown", Markdown).source
        assert "popular products are answered" in source and "Predict below" not in source
        await wait_until(pilot, lambda: screen.last_metrics is not None)

        await pilot.press("left", "right")  # answered before: the whole text at once
        assert "popular products are answered" in screen.query_one("#step-markdown",
                                                                   Markdown).source
        assert not app.errors()


ASKED = SMALL_LESSON.replace('''## Read me

Nothing happens here.

```checkpoint
kind = "choice"''', '''## Read me

Delete a product.

```sandbox
request = { method = "DELETE", path = "/products/1" }
```

```checkpoint
kind = "predict"
question = "Which status comes back?"
choices = [
  { text = "405", correct = true, explain = "The path does not take DELETE." },
  { text = "404", explain = "The product is there." },
]
```

A 405, with an Allow header.

```checkpoint
kind = "choice"''').replace('''The cache now answers.
''', '''```checkpoint
kind = "choice"
question = "Where did the reads end?"
choices = [
  { text = "In the cache", correct = true, explain = "Hits." },
  { text = "In the database", explain = "Only misses." },
]
```

The cache now answers.
''')


async def test_a_request_step_keeps_its_response_and_its_answer_until_the_prediction(
        tiny: Path) -> None:
    """Issue: a request step showed its status, in the text and in the response beside the
    question, before the learner was asked what it would be."""
    (tiny / "tiny.md").write_text(ASKED, encoding="utf-8")
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_tiny(pilot)
        assert "predict, then see" in plain(app, ".checkpoint-question")
        await wait_until(pilot, lambda: screen._held is not None)  # sent, and kept back
        source = screen.query_one("#step-markdown", Markdown).source
        assert "Delete a product." in source and "Predict below first" in source
        assert "Allow header" not in source
        assert "Predict first" in plain(app, "#lesson-response")
        assert "405" not in plain(app, "#lesson-response")
        assert screen.query_one(WaterfallView).trace is None

        screen.pick(0, 1)  # a wrong guess is still a commitment: both are shown
        await pilot.pause()
        assert "405 DELETE /products/1" in plain(app, "#lesson-response")
        assert screen.query_one(WaterfallView).trace is not None
        assert "not quite" in plain(app, ".checkpoint-result")
        source = screen.query_one("#step-markdown", Markdown).source
        assert "Allow header" in source and "Predict below" not in source

        await pilot.press("right")  # a question before the text that answers it: the same
        assert screen.index == 1
        source = screen.query_one("#step-markdown", Markdown).source
        assert "Answer below first" in source and "cache now answers" not in source
        screen.pick(0, 0)
        await pilot.pause()
        assert "cache now answers" in screen.query_one("#step-markdown", Markdown).source

        await pilot.press("left")  # answered before: the response and the text at once
        await wait_until(pilot, lambda: "405 DELETE" in plain(app, "#lesson-response"))
        assert "Allow header" in screen.query_one("#step-markdown", Markdown).source
        assert not app.errors()


async def test_a_letter_answers_even_after_tab_moved_the_focus(tiny: Path) -> None:
    """Issue: after Tab took the focus to the other pane, the letters did nothing."""
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_tiny(pilot)
        choices = screen.query_one(CheckpointView).query_one(OptionList)
        await pilot.press("tab")
        await pilot.pause()
        assert app.focused is not None and app.focused is not choices
        await pilot.press("b")
        await pilot.pause()
        assert ProgressStore().lesson("tiny").answers[(0, 0)] == ("This one", True)
        assert app.focused is choices  # the question has the focus again
        await pilot.press("tab")
        await pilot.press("c")  # no third choice, and no challenge to check: nothing happens
        await pilot.pause()
        assert ProgressStore().lesson("tiny").answers[(0, 0)] == ("This one", True)
        assert screen.index == 0 and not app.errors()


async def test_a_letter_answers_a_question_at_once(tiny: Path) -> None:
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_tiny(pilot)
        assert "press its letter" in plain(app, ".checkpoint-keys")
        await pilot.press("a")  # the choices are shuffled: a) is "That one"
        await pilot.pause()
        assert ProgressStore().lesson("tiny").answers[(0, 0)] == ("That one", False)
        await pilot.press("b")
        await pilot.pause()
        assert ProgressStore().lesson("tiny").answers[(0, 0)] == ("This one", True)
        await pilot.press("c")  # no third choice: not an answer, and nothing breaks
        await pilot.pause()
        assert screen.index == 0 and not app.errors()
