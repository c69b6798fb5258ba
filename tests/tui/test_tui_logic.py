"""The app's logic without the app: comparisons, flow figures, the composer's parsing and curl."""

from __future__ import annotations

import copy

import pytest

from sandbox.errors import SettingsError
from sandbox.scenarios import run_scenario
from sandbox.settings import Settings
from sandbox.tui.composing import ComposedRequest, build_curl, parse_headers
from sandbox.tui.flowstats import build_layout, compute_flow
from sandbox.tui.runs import RunRecord, compare


@pytest.fixture(scope="module")
def run() -> RunRecord:
    result = run_scenario("steady", Settings(), seed=7, requests=200, keep_traces=200)
    return RunRecord("steady", 7, 200, Settings(), result.metrics, tuple(result.traces))


def _with(record: RunRecord, settings: Settings, **changes: float) -> RunRecord:
    metrics = copy.deepcopy(record.metrics)
    for path, value in changes.items():
        section, _, key = path.partition("__")
        if key:
            metrics[section][key] = value
        else:
            metrics[section] = value
    return RunRecord(record.scenario, record.seed, record.requests, settings, metrics, record.traces)


def test_compare_colours_by_direction_and_lists_changed_settings(run: RunRecord) -> None:
    after = _with(run, Settings().replace({"cache.strategy": "cache_aside", "db.indexes": "none"}),
                  latency_ms__p95=run.metrics["latency_ms"]["p95"] * 3, cache__hit_rate=0.5)
    comparison = compare(run, after)
    verdicts = {row.label: row.verdict for row in comparison.rows}
    assert verdicts["p95 ms"] == "worse"  # latency: lower is better
    assert verdicts["cache hit"] == "better"  # hit rate: higher is better
    assert verdicts["p50 ms"] == "same"
    assert comparison.describe_changes() == [
        "cache.strategy: off -> cache_aside",
        "db.indexes: orders.customer_id,order_items.order_id,reviews.product_id,users.email -> none",
    ]
    hit = next(r for r in comparison.rows if r.label == "cache hit")
    assert (hit.before, hit.after, hit.change) == ("0.0%", "50.0%", "+50pp")


def test_compare_names_a_different_scenario_and_seed(run: RunRecord) -> None:
    other = RunRecord("spike", 8, 200, Settings(), run.metrics, run.traces)
    assert compare(run, other).changed_keys() == ["scenario", "seed"]
    assert all(row.verdict == "same" for row in compare(run, other).rows)


def test_two_different_experiments_are_said_to_be_so_and_not_judged(run: RunRecord) -> None:
    """Issue: before -> after compared a steady run with a spike run as if they were the same
    experiment, colouring the change as better or worse."""
    from tui_helpers import plain_text

    from sandbox.tui.widgets.compare_panel import experiment_warning, headline_rows

    slower = _with(run, Settings(), latency_ms__p95=run.metrics["latency_ms"]["p95"] * 3)
    same = compare(run, slower)
    assert same.other_experiment == [] and experiment_warning(same) is None
    spike = RunRecord("spike", 7, 200, Settings(), slower.metrics, run.traces)
    other = compare(run, spike)
    assert [c.key for c in other.other_experiment] == ["scenario"]
    warning = experiment_warning(other)
    assert warning is not None and "not the same experiment (scenario steady → spike)" in \
        warning.plain
    judged = {cell.style for cell in headline_rows(same).columns[2].cells}
    unjudged = {cell.style for cell in headline_rows(other).columns[2].cells}
    assert "bold red" in judged and unjudged == {"dim"}
    assert "p95 ms" in plain_text(headline_rows(other))


def test_flow_figures_add_up_and_mark_the_parts(run: RunRecord) -> None:
    stats = compute_flow((t for _, t in run.traces), run.metrics)
    assert stats.requests == 200
    assert stats.served == {"app-1": 100, "app-2": 100}
    own = sum(box.mean_ms for box in stats.kinds.values())
    assert own == pytest.approx(stats.mean_ms, rel=1e-6)  # self times add up to the whole
    assert stats.db_queries > 0 and stats.cache_lookups == 0
    layout = build_layout(run.settings, stats)
    states = {box.key: box.state for box in layout.boxes()}
    assert states["cache"] == "off" and states["queue"] == "off"
    assert states["db"] == "ok" and states["app-1"] == "ok"


def test_flow_marks_errors_and_faults() -> None:
    settings = Settings().replace({"faults.db_down": True, "topology.instances": 3,
                                   "faults.instance_down": 2})
    result = run_scenario("steady", settings, seed=7, requests=100, keep_traces=100)
    stats = compute_flow((t for _, t in result.traces), result.metrics)
    layout = build_layout(settings, stats)
    boxes = {box.key: box for box in layout.boxes()}
    assert boxes["db"].state == "down" and boxes["app-2"].state == "down"
    assert boxes["repository"].state == "error" and "5xx" in boxes["repository"].note
    assert [b.key for b in layout.instances] == ["app-1", "app-2", "app-3"]


def test_limited_requests_mark_the_gateway() -> None:
    settings = Settings().replace({"ratelimit.algorithm": "fixed_window", "ratelimit.limit": 1})
    result = run_scenario("steady", settings, seed=7, requests=150, keep_traces=150)
    stats = compute_flow((t for _, t in result.traces), result.metrics)
    assert stats.kind("gateway").limited == result.metrics["ratelimit"]["rejected"] > 0
    gateway = build_layout(settings, stats).network[3]
    assert gateway.state == "limited" and "429" in gateway.note


def test_headers_parse_and_bad_lines_say_which() -> None:
    assert parse_headers("X-A: 1\n\n# note\nAccept:  application/json ") == (
        ("X-A", "1"), ("Accept", "application/json"))
    with pytest.raises(SettingsError, match="header line 2"):
        parse_headers("X-A: 1\nnot a header")


def test_curl_for_plain_json_and_logged_in_requests() -> None:
    assert build_curl(ComposedRequest("GET", "/products/1")) == "curl -i http://127.0.0.1:8000/products/1"
    post = build_curl(ComposedRequest("POST", "/orders", body='{"items": []}', user="grace@shop.test"))
    login, command = post.splitlines()
    assert login.startswith("TOKEN=$(curl -s -X POST http://127.0.0.1:8000/auth/login")
    assert "grace@shop.test" in login and "sandbox123" in login
    assert command == ("curl -i -X POST http://127.0.0.1:8000/orders -H \"Authorization: Bearer $TOKEN\""
                       " -H 'Content-Type: application/json' --data '{\"items\": []}'")
    keyed = build_curl(ComposedRequest("GET", "/users/me/orders", user="grace@shop.test"),
                       auth_mode="api_key")
    assert keyed == "curl -i http://127.0.0.1:8000/users/me/orders -H 'X-API-Key: sk_test_partner'"


def test_a_step_runs_with_its_own_switches_only() -> None:
    """Caching, step 4 ran with step 3's `cache.ttl_s=2` and showed 396 stale reads where its
    text (and its claim, measured on the defaults plus its own `set`) says over a thousand."""
    from sandbox.course.lessons import parse_lesson
    from sandbox.settings import RedisSettings, Settings
    from sandbox.tui.learning import settings_at

    text = """+++
id = "back-and-forth"
title = "Back and forth"
topic = 5
order = 1
+++

## one
```sandbox
reset = true
set = { "cache.strategy" = "cache_aside" }
```
## two
```sandbox
set = { "cache.strategy" = "cache_aside", "cache.ttl_s" = 2 }
```
## three
```sandbox
set = { "cache.strategy" = "cache_aside", "cache.invalidate_on_write" = false }
```
## four
Just text.
"""
    lesson = parse_lesson(text)
    redis = RedisSettings(url="redis://127.0.0.1:6390/0")
    learner = Settings(redis=redis).replace({"topology.instances": 4, "db.indexes": "none"})
    caching = Settings(redis=redis).replace({"cache.strategy": "cache_aside"})
    assert settings_at(lesson, 0, learner) == caching  # the learner's switches stay theirs
    assert settings_at(lesson, 1, learner) == caching.replace({"cache.ttl_s": 2})
    third = settings_at(lesson, 2, learner)
    assert third.cache.invalidate_on_write is False and third.cache.ttl_s == Settings().cache.ttl_s
    assert settings_at(lesson, 1, learner).cache.invalidate_on_write is True  # back again
    assert settings_at(lesson, 3, learner) == Settings(redis=redis)


def test_every_shipped_step_runs_with_the_switches_its_claims_measure() -> None:
    """A step's run and its claims agree on the switches: a claim's `set` is the defaults plus
    exactly what it lists, so a step whose run has the same scenario gets the same."""
    from sandbox.course.folders import lessons_dir
    from sandbox.course.lessons import load_lessons
    from sandbox.settings import Settings
    from sandbox.tui.learning import settings_at

    lessons, errors = load_lessons(lessons_dir())
    assert not errors
    checked: set[tuple[str, int]] = set()
    for lesson in lessons:
        for index, step in enumerate(lesson.steps):
            if step.run is None:
                continue
            ours = settings_at(lesson, index, Settings())
            for claim in step.claims:
                if (claim.run.scenario, claim.run.requests) == (step.run.scenario,
                                                                 step.run.requests) \
                        and Settings().replace(claim.settings) == ours:
                    checked.add((lesson.id, index + 1))
    assert ("caching", 4) in checked  # "over a thousand" stale reads, as the text says
    assert len(checked) >= 20


def test_the_editor_command_comes_from_visual_or_editor_with_its_arguments(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sandbox.tui.exercising import editor_command

    path = tmp_path / "token_bucket.py"
    assert editor_command(path, {}) is None
    assert editor_command(path, {"EDITOR": "  "}) is None
    assert editor_command(path, {"EDITOR": "nano"}) == ["nano", str(path)]
    assert editor_command(path, {"EDITOR": "nano", "VISUAL": "code --wait"}) == [
        "code", "--wait", str(path)]


def test_the_flow_says_where_the_time_its_boxes_leave_out_goes(run: RunRecord) -> None:
    """Issue: the flow's percentages did not add up to 100 and nothing said why."""
    from sandbox.tui.flowstats import unaccounted

    stats = compute_flow((t for _, t in run.traces), run.metrics)
    layout = build_layout(Settings(), stats)
    shown = sum(box.share for box in layout.boxes())
    note = unaccounted(layout, stats)
    assert shown < 0.99
    assert note.startswith(f"the other {1 - shown:.0%}: on the wire between hops")
    assert stats.kinds["client"].share == pytest.approx(1 - shown, abs=0.01)
    assert unaccounted(layout, None) == ""


def test_compare_adds_a_scenarios_own_figures_when_both_runs_have_them(run: RunRecord) -> None:
    """Issue #16: the stampede's hot-key loads and the lost writes of write-behind show in
    before -> after, and only where both runs report them."""
    assert not {"hot-key loads", "lost writes"} & {r.label for r in compare(run, run).rows}
    stampede = {"db_loads_after_expiry_max": 21, "hot_p99_after_expiry_ms": 28.1}
    before = _with(run, Settings(), cache={**run.metrics["cache"], "stampede": stampede,
                                           "lost_writes": 15})
    after = _with(run, Settings().replace({"cache.stampede_protection": "lock"}),
                  cache={**run.metrics["cache"], "lost_writes": 0,
                         "stampede": {**stampede, "db_loads_after_expiry_max": 1}})
    verdicts = {row.label: row.verdict for row in compare(before, after).rows}
    assert verdicts["hot-key loads"] == verdicts["lost writes"] == "better"
    assert verdicts["hot p99 ms"] == "same"


def test_metrics_panel_shows_hot_key_loads_and_lost_writes(run: RunRecord) -> None:
    from rich.console import Console

    from sandbox.tui.widgets.metrics_panel import headline_table

    stampede = {"db_loads_after_expiry_max": 21, "hot_p99_after_expiry_ms": 28.08,
                "protection": "off"}
    metrics = _with(run, Settings(), cache={**run.metrics["cache"], "stampede": stampede,
                                            "lost_writes": 15}).metrics
    console = Console(width=60, record=True)
    console.print(headline_table(metrics))
    text = console.export_text()
    assert "21 at most per expiry (off)" in text and "28.08 ms" in text
    assert "lost writes" in text and "15" in text
    console.print(headline_table(run.metrics))
    assert "lost writes" not in console.export_text()  # an ordinary run has neither row


def test_a_scenarios_own_sections_show_only_when_its_runs_have_them(run: RunRecord) -> None:
    """Issue #16: scraper's `clients` and flash_sale's `flash_sale` get rows in the Metrics
    view and in before -> after; other scenarios show no empty rows for them."""
    from rich.console import Console

    from sandbox.tui.widgets.metrics_panel import headline_table

    def shown(metrics: dict[str, object]) -> str:
        console = Console(width=60, record=True)
        console.print(headline_table(metrics))
        return console.export_text()

    assert "others p95" not in shown(run.metrics) and "oversold" not in shown(run.metrics)
    assert "oversold" not in {row.label for row in compare(run, run).rows}
    naive = run_scenario("flash_sale", Settings().replace({"db.stock_update": "naive"}),
                         requests=60).metrics
    conditional = run_scenario("flash_sale", Settings(), requests=60).metrics
    assert "oversold" in shown(naive) and "units sold" in shown(naive)
    before = RunRecord("flash_sale", 7, 60, Settings().replace({"db.stock_update": "naive"}),
                       naive, ())
    after = RunRecord("flash_sale", 7, 60, Settings(), conditional, ())
    oversold = next(r for r in compare(before, after).rows if r.label == "oversold")
    assert oversold.verdict == "better" and oversold.after == "0"
    classes = {"abuser": {"requests": 10, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0,
                          "refused_429": 8, "failed_5xx": 0, "db_time_ms": 4.0, "db_share": 0.1},
               "others": {"requests": 10, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0,
                          "refused_429": 0, "failed_5xx": 0, "db_time_ms": 36.0, "db_share": 0.9}}
    text = shown({**run.metrics, "clients": classes})
    assert "abuser 429/5xx" in text and "others p95" in text


def test_the_text_waits_for_the_first_unanswered_question_that_has_an_answer_after_it() -> None:
    from sandbox.course.lessons import parse_lesson
    from sandbox.tui.learning import response_waits, waiting_question

    def question(kind: str, extra: str = "") -> str:
        return (f'```checkpoint\nkind = "{kind}"\nquestion = "{kind}?"\n{extra}choices = [\n'
                '  { text = "a", correct = true, explain = "." },\n'
                '  { text = "b", explain = "." },\n]\n```\n')

    goal = ('```checkpoint\nkind = "challenge"\nquestion = "Goal."\nrun = { scenario = '
            '"steady" }\nmetric = "db.queries"\nbelow = 1\n```\n')
    text = ('+++\nid = "wait"\ntitle = "W"\ntopic = 1\norder = 1\n+++\n\n## Ask\n\nBefore.\n\n'
            '```sandbox\nrequest = { method = "GET", path = "/products/1" }\n```\n\n'
            + question("predict") + "\nFirst answer.\n\n" + question("choice")
            + "\nSecond answer.\n\n" + goal + "\nAfter the goal.\n\n" + question("choice"))
    (step,) = parse_lesson(text, "w.md").steps
    first, second, challenge, last = step.checkpoints
    assert waiting_question(step, set()) is first and response_waits(step, set())
    assert waiting_question(step, {0}) is second and not response_waits(step, {0})
    # a challenge holds nothing back, nor does a question with no prose after it
    assert waiting_question(step, {0, 1}) is None and waiting_question(step, {0, 1, 3}) is None
    assert step.text[:second.at].rstrip().endswith("First answer.")
    assert challenge.kind == "challenge" and last.at == len(step.text)
