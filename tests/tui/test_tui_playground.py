"""The playground, driven like a learner would: flip switches, run, compare, read traces.

Starting the app costs a second or two (the switches panel has a widget for each of ~46
keys), so each test drives one app through a whole little story rather than one step.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, ProgressBar, Switch
from tui_helpers import SMALL, WIDE, RecordingApp, burst, playground, wait_until

from sandbox.settings import Settings, all_keys
from sandbox.tui.screens.help import HelpScreen
from sandbox.tui.widgets import run_controls
from sandbox.tui.widgets.compare_panel import ComparePanel
from sandbox.tui.widgets.flow_view import FlowView
from sandbox.tui.widgets.metrics_panel import MetricsPanel
from sandbox.tui.widgets.requests_view import RequestsView
from sandbox.tui.widgets.run_controls import RunControls
from sandbox.tui.widgets.setting_editor import ChoiceList, SettingEditor
from sandbox.tui.widgets.settings_panel import SettingsPanel


async def set_requests(pilot: Pilot[None], count: int) -> None:
    pilot.app.screen.query_one("#run-requests", Input).value = str(count)
    await pilot.pause()


async def run_and_wait(pilot: Pilot[None]) -> None:
    """Press r and wait until the metrics panel shows the new run."""
    panel = pilot.app.screen.query_one(MetricsPanel)
    before = panel.metrics
    await pilot.press("r")
    await pilot.app.workers.wait_for_complete()
    await wait_until(pilot, lambda: panel.metrics is not None and panel.metrics is not before)


def panel(app: RecordingApp) -> SettingsPanel:
    return playground(app).query_one(SettingsPanel)


async def type_into(pilot: Pilot[None], key: str, text: str) -> SettingEditor:
    """Pick `key` in the switches, put the cursor in its Input and type `text` over its value."""
    editor = panel(pilot.app).edit(key)  # type: ignore[arg-type]
    await pilot.pause()
    field = editor.widget()
    assert isinstance(field, Input)
    field.focus()
    field.select_all()
    await pilot.press(*text)
    await pilot.pause()
    return editor


def line(app: RecordingApp, key: str) -> str:
    """The switch list's line for `key`, as plain text."""
    return str(panel(app).switch_list.get_option(key).prompt)


async def test_at_120x40_every_switch_is_there_with_the_right_widget() -> None:
    app = RecordingApp()
    async with app.run_test(size=WIDE):
        screen = playground(app)
        switches = panel(app)
        assert screen.has_class("-wide") and switches.display
        listed = [o.id for o in switches.switch_list.options if not o.disabled]
        assert listed == [s.key for s in all_keys()]
        for spec in all_keys():
            widget = switches.edit(spec.key).widget()
            assert isinstance(widget, {"bool": Switch, "choice": ChoiceList}.get(spec.kind, Input)), spec.key
            assert widget.display
        assert screen.query_one(MetricsPanel).metrics is None
        assert screen.query_one(ComparePanel).comparison is None


async def test_at_80x24_switches_fold_away_and_help_theme_and_quit_work() -> None:
    app = RecordingApp()
    async with app.run_test(size=SMALL) as pilot:
        screen = playground(app)
        switches = panel(app)
        assert screen.has_class("-narrow") and not switches.display
        await pilot.press("s")
        assert switches.display
        await pilot.press("escape")
        assert not switches.display
        for key in ("question_mark", "f1"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is screen
        dark = app.theme
        await pilot.press("ctrl+t")
        assert app.theme != dark
        await pilot.press("ctrl+t")
        assert app.theme == dark
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_switches_change_the_settings_and_bad_values_are_refused() -> None:
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        switches = panel(app)
        # An Input: a valid number applies and marks the key as changed.
        await type_into(pilot, "topology.instances", "1")
        assert app.settings.topology.instances == 1
        assert line(app, "topology.instances").startswith("● instances")
        assert "1 changed" in str(switches.border_subtitle)
        # An invalid number: the error shows under the field and nothing is applied.
        editor = await type_into(pilot, "topology.instances", "0")
        assert "topology.instances" in editor.error and "1 to 32" in editor.error
        assert editor.has_class("-invalid") and app.settings.topology.instances == 1
        editor = await type_into(pilot, "cache.ttl_s", "soon")
        assert "cache.ttl_s" in editor.error and app.settings.cache.ttl_s == 30
        editor = await type_into(pilot, "topology.instances", "3")
        assert editor.error == "" and app.settings.topology.instances == 3
        # A choice: its values listed inside the panel; moving changes nothing, enter picks.
        switches.edit("cache.strategy")
        switches.switch_list.focus()
        await pilot.press("enter")
        await pilot.pause()
        choices = switches.editor.widget()
        assert isinstance(choices, ChoiceList) and app.focused is choices
        assert choices.highlighted == 0 and choices.value == "off"
        await pilot.press("down")
        await pilot.pause()
        assert app.settings.cache.strategy == "off"
        await pilot.press("enter")
        await pilot.pause()
        assert app.settings.cache.strategy == "cache_aside" and choices.value == "cache_aside"
        assert line(app, "cache.strategy").endswith("cache_aside")
        assert app.focused is switches.switch_list
        # Drawn inside the panel: the list ends above the panel's bottom border.
        assert choices.region.bottom < switches.region.bottom
        # A Switch: enter (or space) on a boolean's line flips it.
        switches.edit("db.n_plus_one")
        switches.switch_list.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.settings.db.n_plus_one is True
        await pilot.press("space")
        await pilot.pause()
        assert app.settings.db.n_plus_one is False
        # The filter finds a key; enter puts the cursor in its field.
        await pilot.press("slash", *"pool", "enter")
        await pilot.pause()
        assert switches.editor.key == "db.pool_size" and app.focused is switches.editor.widget()
        await pilot.press(*"16", "enter")
        await pilot.pause()
        assert app.settings.db.pool_size == 16 and app.focused is switches.switch_list
        # Reset puts every switch back, and the editor and list follow.
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.settings == Settings()
        assert not any(line(app, spec.key).startswith("●") for spec in all_keys()
                       if switches.switch_list._needle in spec.key)
        assert "all at defaults" in str(switches.query_one("#switches-summary").content)


async def test_the_editor_follows_the_cursor_and_enter_at_once_edits_the_key_under_it() -> None:
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        switches = playground(app).query_one(SettingsPanel)
        switches.edit("cache.strategy")
        switches.switch_list.focus()
        await pilot.pause()
        # The moved cursor is drawn at once and the editor follows when the cursor rests...
        await pilot.press("down", "down")
        under_cursor = switches.switch_list.highlighted_option
        assert under_cursor is not None
        await wait_until(pilot, lambda: switches.editor.key == under_cursor.id)
        # ...but enter, however soon it comes, edits the key the cursor is on.
        await burst(pilot, ("up", None), ("enter", None))
        under_cursor = switches.switch_list.highlighted_option
        assert under_cursor is not None and under_cursor.id == "cache.ttl_s"
        await wait_until(pilot, lambda: app.focused is switches.editor.widget())
        assert switches.editor.key == "cache.ttl_s"


async def test_runs_fill_the_panels_compare_and_show_waterfalls() -> None:
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = playground(app)
        await set_requests(pilot, 300)
        await run_and_wait(pilot)
        metrics = screen.query_one(MetricsPanel).metrics
        assert metrics is not None and metrics["requests"] == 300
        assert sum(metrics["status"].values()) == 300
        assert screen.query_one(ComparePanel).comparison is None
        flow = screen.query_one(FlowView)
        assert flow.stats is not None and flow.stats.requests == 300
        assert sum(flow.stats.served.values()) == 300 and flow.box_stat("db").visits > 0
        layout = flow.layout_now()
        assert [b.title for b in layout.instances] == ["app-1", "app-2"]
        assert all(b.figure.endswith("req") for b in layout.instances)
        await pilot.press("f")
        await pilot.pause()
        assert not flow.compact  # boxes fit at 120x40

        # The requests tab: pick a product view; its waterfall shows the query and its plan.
        await pilot.press("t")
        view = screen.query_one(RequestsView)
        assert view.table.row_count == 300
        index = view.row_of("view_product")
        assert index is not None
        await pilot.press(*["down"] * index, "enter")
        await pilot.pause()
        assert view.waterfall.trace is view.trace_at(index)[1]
        assert "db.query" in view.waterfall.span_names()
        assert "db.plan=" in view.waterfall.plain_text()
        await pilot.press("o")  # slowest first
        await pilot.pause()
        durations = [view.trace_at(i)[1].duration_ms for i in range(view.table.row_count)]
        assert durations == sorted(durations, reverse=True)

        # Flip a switch, run again: the comparison names it.
        await type_into(pilot, "topology.instances", "1")
        await pilot.press("enter")
        screen.query_one("#run-start").focus()
        await run_and_wait(pilot)
        comparison = screen.query_one(ComparePanel).comparison
        assert comparison is not None
        assert comparison.describe_changes() == ["topology.instances: 2 -> 1"]
        assert [r.label for r in comparison.rows][:3] == ["p50 ms", "p95 ms", "p99 ms"]
        assert comparison.after.metrics["instances"] == {"app-1": 300}
        assert [b.title for b in flow.layout_now().instances] == ["app-1"]
        assert app.errors() == []


async def test_at_80x24_a_run_shows_metrics_and_a_compact_flow() -> None:
    app = RecordingApp()
    async with app.run_test(size=SMALL) as pilot:
        await set_requests(pilot, 300)
        await run_and_wait(pilot)
        screen = playground(app)
        assert screen.query_one(MetricsPanel).metrics is not None
        await pilot.press("f")
        await pilot.pause()
        flow = screen.query_one(FlowView)
        assert flow.compact and flow.stats is not None and flow.stats.requests == 300


async def test_the_flow_tab_shows_the_mechanisms_moving_during_a_run() -> None:
    """Issue #15: the token bucket, the cache and the queue drawn as they change, during the
    run (one picture per 50 requests) and kept after it."""
    import io

    from rich.console import Console

    from sandbox.tui.widgets.mechanisms_panel import MechanismsPanel, render_state

    app = RecordingApp()
    app.settings = app.settings.replace({"ratelimit.algorithm": "token_bucket",
                                         "cache.strategy": "cache_aside",
                                         "cache.max_entries": 40, "queue.mode": "async"})
    async with app.run_test(size=WIDE) as pilot:
        screen = playground(app)
        mechanisms = screen.query_one(MechanismsPanel)
        seen: list[int] = []
        original = mechanisms.watch_state

        def watching() -> None:
            if mechanisms.state is not None:
                seen.append(mechanisms.state.done)
            original()

        mechanisms.watch_state = watching  # type: ignore[method-assign]
        await set_requests(pilot, 300)
        await run_and_wait(pilot)
        await pilot.press("f")
        await wait_until(pilot, lambda: mechanisms.state is not None
                         and mechanisms.state.done == 300)
        assert len(seen) > 2 and seen == sorted(seen)  # redrawn as the run went on
        state = mechanisms.state
        assert state is not None and state.cache is not None and state.cache.entries == 40
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(render_state(state))
        text = console.export_text()
        assert "token bucket" in text and "40 of 40 entries" in text and "next out" in text
        assert "done" in text and mechanisms.region  # on screen in the Flow tab


async def test_escape_cancels_a_long_run_quickly() -> None:
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        await set_requests(pilot, 200_000)
        controls = playground(app).query_one(RunControls)
        await pilot.press("r")
        assert controls.running
        bar = controls.query_one(ProgressBar)
        await wait_until(pilot, lambda: (bar.progress or 0) >= 500)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not controls.running)
        # Stopped where it was, not at its end: how long that took is the machine's business.
        assert (bar.progress or 0) < 200_000
        assert any("cancelled" in message.lower() for _, _, message in app.shown)
        assert playground(app).query_one(MetricsPanel).metrics is None
        await app.workers.wait_for_complete()


async def test_errors_are_notifications_never_crashes() -> None:
    # Nothing listens on port 1, so the real-Redis option fails at once.
    app = RecordingApp(Settings().replace({"redis.url": "redis://127.0.0.1:1/0"}))
    async with app.run_test(size=WIDE) as pilot:
        controls = playground(app).query_one(RunControls)
        await set_requests(pilot, 0)
        await pilot.press("r")
        await pilot.pause()
        assert not controls.running and any("requests must be" in e for e in app.errors())
        await set_requests(pilot, 50)
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await wait_until(pilot, lambda: not controls.running)
        assert any(e.startswith("the run failed") for e in app.errors())
        assert app.is_running


class _CountingClock:
    """`time` for the run worker: no real waiting, and a count of the waits it asked for."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0

    def perf_counter(self) -> float:
        self.now += 0.01
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1


async def test_a_key_press_costs_a_run_one_short_wait_not_one_per_request(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The run steps aside while a key is answered; if the flag that says so stays up (the
    screen too busy with the run's progress to reach its next refresh), the run stops waiting
    after one short wait instead of waiting again before every request."""
    clock = _CountingClock()
    monkeypatch.setattr(run_controls, "time", clock)
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        await set_requests(pilot, 300)
        app.ui_busy.set()  # as a key press sets it; nothing in this test clears it
        assert playground(app).query_one(RunControls).start(app.settings)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.ui_busy.is_set()
        assert 1 <= clock.sleeps <= 15  # one wait of at most 0.1 s (10 ticks of the clock)
        assert playground(app).runs and playground(app).runs[-1].requests == 300
