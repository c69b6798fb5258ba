"""Time, drawn: the charts of a run over simulated time, in the playground and in a lesson.

The issue: rate limiting step 2 said "look at the timeline" and there was none; the
playground's Metrics had an unlabelled sparkline. The charts are textual-plotext plots of the
run's `series`; these tests check what each draws, from the same metrics a learner sees.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input
from tui_helpers import SMALL, WIDE, RecordingApp, open_lesson, playground, wait_until

from sandbox.tui.widgets.metrics_panel import MetricsPanel
from sandbox.tui.widgets.run_controls import RunControls
from sandbox.tui.widgets.timeline_chart import TimelineChart

LIMITED = '''+++
id = "limits"
title = "Limits over time"
topic = 7
order = 1
+++

## No limit

```sandbox
run = { scenario = "spike", requests = 600 }
highlight = ["gateway"]
```

## A fixed window

```sandbox
set = { "ratelimit.algorithm" = "fixed_window", "ratelimit.limit" = 5 }
run = { scenario = "spike", requests = 600 }
```
'''


@pytest.fixture
def limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "lessons"
    folder.mkdir()
    (folder / "limits.md").write_text(LIMITED, encoding="utf-8")
    monkeypatch.setenv("SANDBOX_LESSONS_DIR", str(folder))
    return folder


def plotted(chart: TimelineChart) -> list[str]:
    """The labels of the lines the chart draws."""
    return [label for label in chart.plt.monitor.label if label]


async def test_a_lesson_step_draws_refusals_over_time_beside_the_step_before(
        limits: Path) -> None:
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_lesson(pilot, "limits")
        chart = screen.query_one(TimelineChart)
        await wait_until(pilot, lambda: screen.last_metrics is not None)
        assert chart.drawn == "latency" and chart.display  # no refusals: p95 over time
        assert plotted(chart) == ["p95 now"]

        await pilot.press("right")
        await wait_until(pilot, lambda: screen.index == 1 and screen.last_metrics is not None
                         and screen.last_metrics["ratelimit"]["rejected"] > 0)
        assert chart.drawn == "refusals"
        assert plotted(chart) == ["429 now"]  # step 1 refused nothing: no grey line
        series = screen.last_metrics["series"]
        assert sum(series["refused_per_s"]) * series["bucket_s"] == pytest.approx(
            screen.last_metrics["ratelimit"]["rejected"])

        await pilot.press("left")  # back: a step opens with its chart cleared, then drawn
        await wait_until(pilot, lambda: screen.index == 0 and chart.drawn == "latency")
        assert not app.errors()


async def test_at_80x24_a_measuring_step_shows_its_chart_not_the_flow(limits: Path) -> None:
    """Issue #15, bug 8: at 80x24 a step's chart sat below the fold under the flow picture."""
    from sandbox.tui.widgets.flow_view import FlowView

    app = RecordingApp()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_lesson(pilot, "limits")
        chart = screen.query_one(TimelineChart)
        await wait_until(pilot, lambda: screen.last_metrics is not None and chart.drawn != "")
        await pilot.pause()
        assert screen.has_class("-short")
        flow = screen.query_one(FlowView)
        assert flow.has_class("-pointing") and not flow.region  # it points, yet gives way
        # The whole plot, axes included, is on the screen's rows above the key bar.
        assert chart.region.height >= 8 and chart.region.bottom <= SMALL[1] - 1


async def test_the_playground_draws_traffic_and_p95_after_a_run() -> None:
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = playground(app)
        charts = list(screen.query(TimelineChart))
        assert [c.what for c in charts] == ["traffic", "latency", "hit_rate", "queue"]
        assert not any(c.display for c in charts)  # nothing to draw before a run
        screen.query_one("#run-requests", Input).value = "300"
        panel = screen.query_one(MetricsPanel)
        await pilot.press("r")
        await wait_until(pilot, lambda: panel.metrics is not None)
        # The cache is off: nothing was looked up, so there is no hit rate to draw.
        assert [c.drawn for c in charts] == ["traffic", "latency", None, None]
        assert not charts[2].display
        assert plotted(charts[0]) == ["answered"] and plotted(charts[1]) == ["p95 now"]

        first = panel.metrics
        await pilot.press("r")  # the same experiment again: the last run is drawn in grey
        await wait_until(pilot, lambda: panel.metrics is not first)
        assert plotted(charts[1]) == ["p95 now", "p95 last run"]

        app.settings = app.settings.replace({"cache.strategy": "cache_aside"})
        second = panel.metrics
        await pilot.press("r")  # the cache on: its hit rate climbs as it fills
        await wait_until(pilot, lambda: panel.metrics is not second)
        assert charts[2].display and plotted(charts[2]) == ["hits now"]  # none before
        rates = [v for v in panel.metrics["series"]["hit_rate_pct"] if v is not None]
        assert rates[0] < rates[-1]  # cold at first, warm later
        assert not app.errors()


async def test_the_requests_tab_shows_the_trace_of_the_row_under_the_cursor() -> None:
    """Issue: sorted slowest first, a new run showed the trace of a request that was not the
    top row until down was pressed (a highlight queued before the sort won)."""
    from sandbox.tui.widgets.requests_view import RequestsView

    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = playground(app)
        screen.query_one("#run-requests", Input).value = "200"
        panel = screen.query_one(MetricsPanel)
        await pilot.press("r")
        await wait_until(pilot, lambda: panel.metrics is not None)
        await pilot.press("t", "o")  # the requests, slowest first
        view = screen.query_one(RequestsView)
        await pilot.pause()
        first = panel.metrics
        screen.query_one("#run-requests", Input).value = "250"
        screen.action_run()
        await wait_until(pilot, lambda: panel.metrics is not first)
        await pilot.pause()
        await pilot.pause()
        assert view.slowest_first and view.table.cursor_row == 0
        top = view.trace_at(0)[1]
        assert top.duration_ms == max(view.trace_at(i)[1].duration_ms
                                      for i in range(view.table.row_count))
        assert view.waterfall.trace is top
        assert not app.errors()


async def test_the_playground_draws_the_queue_backlog_when_jobs_wait() -> None:
    """Issue #15: queue depth over time, per second, with axes and units."""
    app = RecordingApp()
    app.settings = app.settings.replace({"queue.mode": "async", "queue.workers": 1})
    async with app.run_test(size=WIDE) as pilot:
        screen = playground(app)
        screen.query_one(RunControls).choose("rush", 300)
        panel = screen.query_one(MetricsPanel)
        await pilot.press("r")
        await wait_until(pilot, lambda: panel.metrics is not None)
        chart = screen.query_one("#chart-queue", TimelineChart)
        lag = panel.metrics["series"]["queue_lag"]
        assert max(lag) > 0 and len(lag) == len(panel.metrics["series"]["t_s"])
        assert chart.display and chart.drawn == "queue" and "jobs now" in plotted(chart)
        assert not app.errors()
