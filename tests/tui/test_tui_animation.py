"""Issue 4, item 3: a request's path animated hop by hop in the flow view.

The hops themselves (order, latencies, colours) are checked without Textual; then the player is
driven with keys: start, pause, single step, speed, escape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static
from tui_helpers import SMALL, WIDE, RecordingApp, open_lesson, plain_text, playground, wait_until

from sandbox.clock import SimClock
from sandbox.scenarios import run_scenario
from sandbox.settings import Settings
from sandbox.tracing import Span, Trace
from sandbox.tui.animation import MIN_DWELL_S, OUTCOME_STYLE, SPEEDS, Animation, dwell_s, hops
from sandbox.tui.widgets.flow_view import FlowView
from sandbox.tui.widgets.requests_view import RequestsView

from test_tui_playground import run_and_wait, set_requests  # isort: skip


def _span(name: str, kind: str, start: float, ms: float, children: tuple[Span, ...] = (),
          **attrs: Any) -> Span:
    span = Span(None, name, kind, start)
    span.duration_ms = ms
    span.children = list(children)
    span.attrs = {k.replace("_", "."): v for k, v in attrs.items()}
    return span


def _trace(status: int, *children: Span) -> Trace:
    trace = Trace(SimClock(), "req-1", "GET", "/products/1")
    end = max((c.start_ms + c.duration_ms for c in children), default=0.0)
    trace.root = _span("GET /products/1", "client", 0.0, end, children)
    trace.status = status
    return trace


def test_hops_follow_the_spans_in_order_with_their_own_latency() -> None:
    trace = _trace(
        200,
        _span("lb", "lb", 0.0, 1.0, lb_instance="app-2"),
        _span("gateway", "gateway", 1.0, 1.5),
        _span("app-2", "instance", 2.5, 3.0, (
            _span("controller.get_product", "controller", 3.0, 2.5, (
                _span("service.catalog.product", "service", 3.1, 2.4, (
                    _span("cache.get", "cache", 3.2, 0.2, (_span("redis.GET", "cache", 3.2, 0.2),),
                          cache_key="product:1", cache_hit=False),
                    _span("repository.products.by_id", "repository", 3.4, 1.3, (
                        _span("db.pool", "db", 3.4, 0.0),  # nothing happened: no hop
                        _span("db.query", "db", 3.5, 1.2, db_plan="SEARCH products"),
                    )),
                )),
            )),
        )),
        _span("network.response", "client", 5.5, 2.0),
    )
    steps = hops(trace)
    assert [h.box for h in steps] == ["client", "lb", "gateway", "app-2", "controller", "service",
                                      "cache", "repository", "db", "client"]
    assert [round(h.latency_ms, 2) for h in steps] == [0.0, 1.0, 1.5, 0.5, 0.1, 0.9, 0.2, 0.1,
                                                        1.2, 2.0]
    assert sum(h.latency_ms for h in steps) == pytest.approx(trace.duration_ms)
    assert [h.at_ms for h in steps][:3] == [0.0, 0.0, 1.0]
    assert steps[1].detail == "→ app-2"
    assert steps[6].text() == "cache 0.20 ms miss product:1" and steps[6].outcome == "miss"
    assert steps[8].text() == "SQLite 1.20 ms SEARCH products"
    assert steps[-1].detail == "← 200" and steps[-1].outcome == "2xx"
    assert OUTCOME_STYLE["miss"] != OUTCOME_STYLE["hit"] == OUTCOME_STYLE["2xx"]


def test_outcomes_colour_429_5xx_and_a_dead_instance() -> None:
    limited = hops(_trace(429, _span("gateway", "gateway", 0.0, 1.0, ratelimit_rejected=True),
                          _span("network.response", "client", 1.0, 1.0)))
    assert [(h.box, h.outcome) for h in limited] == [("client", "ok"), ("gateway", "429"),
                                                     ("client", "429")]
    dead = hops(_trace(502, _span("app-2", "instance", 0.0, 1.0, instance_down=True),
                       _span("network.response", "client", 1.0, 1.0)))
    assert dead[1].outcome == "down" and dead[1].detail == "DOWN" and dead[-1].outcome == "5xx"
    assert {OUTCOME_STYLE[o] for o in ("5xx", "down")} == {"bold red"}
    assert OUTCOME_STYLE["429"] == "bold magenta" and OUTCOME_STYLE["4xx"] == "bold yellow"


def test_hops_of_real_runs_add_up_and_mark_hits_misses_and_failures() -> None:
    settings = Settings().replace({"cache.strategy": "cache_aside", "ratelimit.algorithm": "fixed_window",
                                   "ratelimit.limit": 3})
    result = run_scenario("steady", settings, seed=7, requests=150, keep_traces=150)
    outcomes: set[str] = set()
    for _, trace in result.traces:
        steps = hops(trace)
        assert sum(h.latency_ms for h in steps) == pytest.approx(trace.duration_ms, abs=1e-6)
        assert [h.at_ms for h in steps] == sorted(h.at_ms for h in steps)  # in start order
        assert steps[0].box == steps[-1].box == "client"
        outcomes |= {h.outcome for h in steps}
    assert {"hit", "miss", "2xx", "429"} <= outcomes
    down = run_scenario("steady", Settings().replace({"faults.db_down": True}), seed=7, requests=20,
                        keep_traces=20)
    failed = hops(next(t for _, t in down.traces if t.status >= 500))
    assert failed[-1].outcome == "5xx" and any(h.outcome == "5xx" for h in failed[1:-1])


def test_the_player_steps_pauses_and_changes_speed() -> None:
    trace = _trace(200, _span("lb", "lb", 0.0, 40.0), _span("gateway", "gateway", 40.0, 0.01),
                   _span("network.response", "client", 40.01, 1.0))
    anim = Animation.of(trace)
    assert anim.current.box == "client" and not anim.done
    assert dwell_s(anim.steps[2], 1.0) == MIN_DWELL_S  # a tiny hop still stays lit a while
    assert dwell_s(anim.steps[1], 1.0) > dwell_s(anim.steps[1], 4.0)
    assert [anim.faster(), anim.faster(), anim.faster()] == [2.0, 4.0, 4.0]
    assert [anim.slower() for _ in SPEEDS] == [2.0, 1.0, 0.5, 0.25, 0.25]
    assert anim.advance() and anim.advance() and anim.advance() and anim.done
    assert not anim.advance()
    assert set(anim.lit()) == {"client", "lb", "gateway"} and anim.lit()["client"].outcome == "2xx"


async def _ready(pilot: Pilot[None]) -> FlowView:
    await set_requests(pilot, 200)
    await run_and_wait(pilot)
    await pilot.press("f")
    await pilot.pause()
    return playground(pilot.app).query_one(FlowView)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [WIDE, SMALL])
async def test_a_plays_the_path_and_keys_pause_step_speed_and_stop(size: tuple[int, int]) -> None:
    app = RecordingApp()
    async with app.run_test(size=size) as pilot:
        flow = await _ready(pilot)
        assert flow.compact == (size == SMALL)
        await pilot.press("a")
        anim = flow.animation
        assert anim is not None and not anim.paused and len(anim.steps) >= 5
        assert "animating" in plain_text(flow.query_one("#flow-caption", Static).content)
        await wait_until(pilot, lambda: anim.index >= 1)  # it plays by itself, >= 0.4 s a hop
        await pilot.press("space")
        assert anim.paused and not anim.done
        at = anim.index
        await pilot.pause(0.4)
        assert anim.index == at  # paused: stays
        await pilot.press("full_stop")
        assert anim.index == at + 1 and anim.paused  # one hop, no more
        await pilot.pause(0.4)
        assert anim.index == at + 1
        caption = plain_text(flow.query_one("#flow-caption", Static).content)
        assert f"hop {at + 2}/{len(anim.steps)}" in caption and anim.current.text() in caption
        await pilot.press("plus", "plus")
        assert anim.speed == 4.0
        await pilot.press("minus", "minus", "minus")
        assert anim.speed == 0.5 and flow.speed == 0.5
        await pilot.press("escape")
        assert flow.animation is None
        assert "animating" not in plain_text(flow.query_one("#flow-caption", Static).content)
        assert app.errors() == []


async def test_a_in_the_requests_tab_animates_the_picked_request() -> None:
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        flow = await _ready(pilot)
        await pilot.press("t")
        view = playground(app).query_one(RequestsView)
        await pilot.press("down", "down")
        await pilot.pause()
        picked = view.trace_at(2)[1]
        assert flow.selected is picked
        await pilot.press("a")
        await pilot.pause()
        assert flow.animation is not None and flow.animation.trace is picked
        assert playground(app).query_one("#views").active == "flow"  # type: ignore[attr-defined]
        await wait_until(pilot, lambda: flow.animation is not None and flow.animation.index >= 1)


POINTING_LESSON = '''+++
id = "pointing"
title = "A pointing lesson"
topic = 5
order = 1
summary = "Highlights for the tests"
+++

## Plain

Nothing to look at.

## Look here

```sandbox
highlight = ["cache", "db", "instance"]
```

The cache and the database.
'''


async def test_a_lesson_step_highlights_its_hops_in_the_flow_view(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "lessons"
    folder.mkdir()
    (folder / "pointing.md").write_text(POINTING_LESSON, encoding="utf-8")
    monkeypatch.setenv("SANDBOX_LESSONS_DIR", str(folder))
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        await open_lesson(pilot, "pointing")
        flow = app.screen.query_one(FlowView)
        assert not flow.display and flow.pointed == frozenset()  # step 1 points at nothing
        await pilot.press("right")
        await pilot.pause()
        assert flow.display and flow.pointed == {"cache", "db", "instance"}
        drawn = plain_text(flow.query_one("#flow-diagram", Static).content)
        assert "◆ cache" in drawn and "◆ SQLite" in drawn and "◆ app-1" in drawn
        assert "◆ gateway" not in drawn and "◆ controller" not in drawn
        caption = plain_text(flow.query_one("#flow-caption", Static).content)
        assert "◆ marks what this step is about" in caption
        await pilot.press("left")
        await pilot.pause()
        assert not flow.display and flow.pointed == frozenset()
