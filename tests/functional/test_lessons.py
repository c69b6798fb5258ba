"""Lessons: the validator (each error kind with its line), shipped lessons, their claims."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from claim_runs import RUNS
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.commands.cli import main
from sandbox.course import claims
from sandbox.course.claims import verify_claim
from sandbox.course.folders import lessons_dir
from sandbox.course.lessons import LessonError, check_lesson_text, load_lessons, parse_lesson
from sandbox.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE

SHIPPED, SHIPPED_ERRORS = load_lessons(lessons_dir())

GOOD = '''+++
id = "good"
title = "A good lesson"
topic = 5
order = 1
+++

Intro.

## First step
Text.

```sandbox
set = { "cache.strategy" = "cache_aside" }
run = { scenario = "steady", requests = 100 }
highlight = ["cache"]
```

```checkpoint
kind = "choice"
question = "Why?"
choices = [
  { text = "A", correct = true, explain = "Because." },
  { text = "B", explain = "No." },
]
```
'''


def test_shipped_lessons_are_valid() -> None:
    assert SHIPPED and not SHIPPED_ERRORS, [str(e) for e in SHIPPED_ERRORS]
    assert len({lesson.id for lesson in SHIPPED}) == len(SHIPPED)
    for lesson in SHIPPED:
        assert lesson.steps and any(s.checkpoints for s in lesson.steps), lesson.id
        assert any(s.run or s.request for s in lesson.steps), f"{lesson.id}: no experiment"


CLAIMS = [(lesson.id, claim) for lesson in SHIPPED for step in lesson.steps
          for claim in step.claims]


@pytest.mark.parametrize(("lesson_id", "claim"), CLAIMS,
                         ids=[f"{i}:{c.line}" for i, c in CLAIMS])
@pytest.mark.usefixtures("cheap_password_hashes")  # the numbers are the simulated costs
def test_every_number_a_lesson_states_is_true(lesson_id: str, claim: object,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # verify_claim, with the runs the session shares (measured here if nobody has yet)
    monkeypatch.setattr(claims, "_metrics", lambda *key: RUNS.get(key))
    result = verify_claim(claim)  # type: ignore[arg-type]
    assert result.ok, f"{lesson_id} line {claim.line}: {result.detail}"  # type: ignore[attr-defined]


def test_a_good_lesson_parses() -> None:
    lesson = parse_lesson(GOOD, "good.md")
    (step,) = lesson.steps
    assert lesson.id == "good" and lesson.topic_name == "Caching" and lesson.intro == "Intro."
    assert step.settings == {"cache.strategy": "cache_aside"} and step.highlight == ["cache"]
    assert step.run is not None and step.run.requests == 100
    assert step.checkpoints[0].choices[0].correct


def _broken(replace: str, with_: str) -> str:
    assert replace in GOOD
    return GOOD.replace(replace, with_)


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("no header\n## Step\n", 1, "starts with a TOML header"),
        ("+++\nid = \"x\"\n", 1, "closing +++ line is missing"),
        (_broken('title = "A good lesson"', 'title = "unclosed'), 3, "not valid TOML"),
        (_broken("order = 1", "order = 1\ncolour = 2"), 2, "unknown header key 'colour'"),
        (_broken('id = "good"\n', ""), 2, "needs 'id'"),
        (_broken('id = "good"', 'id = "Good Lesson"'), 2, "lowercase letters"),
        (_broken("topic = 5", "topic = 17"), 2, "use 1 to 16"),
        (_broken("## First step", "First step"), 13, "must be inside a step"),
        (_broken('"cache.strategy" = "cache_aside"', '"cach.strategy" = "cache_aside"'), 14,
         "Did you mean 'cache.strategy'"),
        (_broken('"cache.strategy" = "cache_aside"', '"cache.strategy" = "fast"'), 14,
         "cache_aside"),
        (_broken('scenario = "steady"', 'scenario = "storm"'), 15, "steady, spike, ramp"),
        (_broken('highlight = ["cache"]', 'highlight = ["moon"]'), 16, "highlight is a list"),
        (_broken("highlight", "glow"), 16, "unknown action glow"),
        (_broken('kind = "choice"', 'kind = "essay"'), 20, 'kind must be "choice"'),
        (_broken(", correct = true", ""), 22, "exactly one choice"),
        (_broken('question = "Why?"', 'question = "Why?"\nordered = "yes"'), 22,
         "ordered must be true"),
        (_broken('```\n\n```checkpoint', '\n```checkpoint'), 13, "never closed"),
    ],
)
def test_each_error_names_its_line_and_what_to_write(text: str, line: int, says: str) -> None:
    errors = check_lesson_text(text, "broken.md")
    assert errors, "expected an error"
    assert errors[0].line == line, [str(e) for e in errors]
    assert says in errors[0].message
    assert str(errors[0]).startswith(f"broken.md:{line}: ")


def test_choices_are_shown_shuffled_the_same_way_for_everyone() -> None:
    """Authors write the right answer first more often than not (77 of the 115 shipped
    questions): shown as written, pressing a) every time would score two in three. Shuffled
    by the question's text, no letter holds more than two fifths of the right answers, and a
    scale (`ordered = true`) keeps its order."""
    shown = {"a": 0, "b": 0, "c": 0, "d": 0}
    written_first = asked = 0
    for lesson in SHIPPED:
        for point in (p for step in lesson.steps for p in step.checkpoints if p.choices):
            order = point.display_order()
            assert sorted(order) == list(range(len(point.choices)))
            assert order == point.display_order()  # the same on every visit
            if point.ordered:
                assert order == list(range(len(point.choices)))
            right = next(shown_at for shown_at, i in enumerate(order) if point.choices[i].correct)
            shown["abcd"[right]] += 1
            written_first += point.choices[0].correct
            asked += 1
    assert asked >= 100 and written_first > asked / 2  # what the shuffle is for
    assert max(shown.values()) <= 0.4 * asked, shown
    reread = parse_lesson(GOOD, "good.md").steps[0].checkpoints[0]
    assert reread.display_order() == parse_lesson(GOOD, "good.md").steps[0].checkpoints[0] \
        .display_order()


def test_no_steps_is_an_error() -> None:
    text = GOOD.split("## First step")[0]
    assert "at least one step" in check_lesson_text(text, "x.md")[0].message


def test_challenge_and_claim_need_targets() -> None:
    challenge = GOOD.replace('kind = "choice"', 'kind = "challenge"\nrun = { scenario = '
                             '"steady" }\nmetric = "latency_ms.p95"')
    assert "needs a target" in check_lesson_text(challenge, "x.md")[0].message
    claim = GOOD + '\n```claim\nrun = { scenario = "steady" }\nmetric = "cache.hit_rate"\n```\n'
    assert "a claim needs below" in check_lesson_text(claim, "x.md")[0].message
    bad_metric = claim.replace('"cache.hit_rate"', '"happiness"')
    assert "metric must be a dotted path" in check_lesson_text(bad_metric, "x.md")[0].message


ASKS_FIRST = _broken('set = { "cache.strategy" = "cache_aside" }\nrun = { scenario = "steady", '
                     'requests = 100 }',
                     'request = { method = "DELETE", path = "/products/1" }'
                     ).replace('kind = "choice"', 'kind = "predict"') + "\nIt is a 405.\n"


def test_a_predict_on_a_request_step_needs_no_run_and_stands_before_its_answer() -> None:
    (step,) = parse_lesson(ASKS_FIRST, "asks.md").steps
    (point,) = step.checkpoints
    assert point.kind == "predict" and point.run is None and point.metric == ""
    assert step.text[:point.at].strip() == "Text."
    assert step.text[point.at:].strip() == "It is a 405."

    # Without a request there is no response to predict: it needs a run and a metric.
    fence = ASKS_FIRST.splitlines().index("```checkpoint") + 1
    no_request = ASKS_FIRST.replace('request = { method = "DELETE", path = "/products/1" }',
                                    "reset = true")
    (error,) = check_lesson_text(no_request, "asks.md")
    assert error.line == fence and "a predict needs run and metric" in error.message
    half = ASKS_FIRST.replace('kind = "predict"', 'kind = "predict"\nrun = { scenario = "steady" }')
    assert "metric must be a dotted path" in check_lesson_text(half, "asks.md")[0].message


# The steps that ask what their request gets before their text says it.
ASKED_FIRST = {
    ("clients-and-requests", "A body the server cannot read"),
    ("clients-and-requests", "Readable, but wrong"),
    ("clients-and-requests", "The right path, the wrong verb"),
    ("api-styles", "Place an order"),
    ("api-styles", "Retry without a key"),
    ("api-styles", "Send an idempotency key"),
    ("api-styles", "Retry with the same key"),
    ("api-styles", "Same key, different order"),
    ("security", "401 or 403"),
    ("security", "Taking the caller's word for it"),
    ("security", "Input is data, never code"),
    ("logging-and-monitoring", "Alive, or ready?"),
    ("scalability", "Read your own writes"),
}


def test_a_request_step_asks_for_its_status_before_its_text_names_it() -> None:
    """Issue: lessons 01 and 16 (and 06, 11, 13) named each response's status in the text
    above the question, so the learner read the answer before being asked. The text shown
    before answering must not name the status the request gets."""
    from sandbox.settings import Settings
    from sandbox.tui.learning import composed, settings_at
    from sandbox.tui.lesson_sandbox import LessonSandbox

    found = set()
    for lesson in SHIPPED:
        if not any(p.kind == "predict" and p.run is None for s in lesson.steps
                   for p in s.checkpoints):
            continue
        box = LessonSandbox()  # one per lesson, as in the app: an order stays for the retry
        try:
            for index, step in enumerate(lesson.steps):
                if step.request is None:
                    continue
                outcome = box.send(composed(step), settings_at(lesson, index, Settings()))
                asks = [p for p in step.checkpoints if p.kind == "predict" and p.run is None]
                if not asks:
                    continue
                found.add((lesson.id, step.title))
                assert str(outcome.status) not in step.text[:asks[0].at], (lesson.id, step.title)
        finally:
            box.close()
    assert found == ASKED_FIRST


def test_the_stale_reads_step_asks_before_it_counts() -> None:
    """Issue: "over a thousand" stale reads stood above any question about them."""
    caching = next(lesson for lesson in SHIPPED if lesson.id == "caching")
    step = next(s for s in caching.steps if s.title == "Stale reads")
    point = step.checkpoints[0]
    assert point.kind == "predict" and point.metric == "cache.stale_reads"
    assert point.run == step.run and len(point.choices) == 3
    assert "thousand" not in step.text[:point.at] and "thousand" in step.text[point.at:]


def test_folder_checks_ids_and_prerequisites_and_keeps_good_lessons(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(GOOD)
    (tmp_path / "b.md").write_text(GOOD)  # same id
    (tmp_path / "c.md").write_text(GOOD.replace('id = "good"', 'id = "other"').replace(
        "order = 1", 'order = 1\nprerequisites = ["missing"]'))
    (tmp_path / "d.md").write_text("broken")
    lessons, errors = load_lessons(tmp_path)
    messages = " | ".join(str(e) for e in errors)
    assert "already used" in messages and "prerequisite 'missing'" in messages
    assert "d.md:1:" in messages
    assert {lesson.id for lesson in lessons} == {"good", "other"}  # broken ones do not block


def test_cli_check_list_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["lessons", "check"]) == EXIT_OK
    (tmp_path / "bad.md").write_text(_broken("topic = 5", "topic = 99"))
    assert main(["lessons", "check", str(tmp_path)]) == EXIT_FAILED
    assert "bad.md:2: topic 99" in capsys.readouterr().err.replace("\n", "")
    monkeypatch.setenv("SANDBOX_LESSONS_DIR", str(tmp_path))
    assert main(["lessons", "list"]) == EXIT_OK
    assert "broken" in capsys.readouterr().err
    monkeypatch.delenv("SANDBOX_LESSONS_DIR")
    assert main(["lessons", "show", "caching"]) == EXIT_OK
    assert "Cache-aside" in capsys.readouterr().out
    assert main(["lessons", "show", "nope"]) == EXIT_USAGE


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_the_parser_only_ever_raises_its_own_error(text: str) -> None:
    for candidate in (text, "+++\n" + text, GOOD[: len(text) % len(GOOD)] + text):
        check_lesson_text(candidate)  # never raises
        with contextlib.suppress(LessonError):
            parse_lesson(candidate)
