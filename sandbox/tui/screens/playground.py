"""The playground: flip switches, fire traffic, watch the numbers move.

Left, the switches panel (every settings key). Right, the run bar, then three tabs: the last
run's metrics beside a before/after of the last two runs, the flow diagram, and the requests
with their trace waterfalls. In a narrow terminal the switches panel hides; `s` shows it.
"""

from __future__ import annotations

import contextlib
from collections import deque
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Select, TabbedContent, TabPane

from sandbox.errors import SandboxError, SettingsError
from sandbox.scenarios.metrics import MetricsRecorder
from sandbox.settings import Settings
from sandbox.tracing import Trace
from sandbox.tui.live import LiveServer
from sandbox.tui.runs import RunRecord, SandboxMaker, compare
from sandbox.tui.screens import SCREENS_CSS
from sandbox.tui.shell import Shell, shell
from sandbox.tui.widgets.compare_panel import ComparePanel
from sandbox.tui.widgets.flow_view import FlowView
from sandbox.tui.widgets.key_bar import KeyBar
from sandbox.tui.widgets.mechanisms_panel import MechanismsPanel
from sandbox.tui.widgets.metrics_panel import MetricsPanel
from sandbox.tui.widgets.requests_view import RequestsView
from sandbox.tui.widgets.run_controls import RunControls
from sandbox.tui.widgets.setting_editor import SettingEditor
from sandbox.tui.widgets.settings_panel import SettingsPanel
from sandbox.tui.widgets.timeline_chart import TimelineChart


class PlaygroundScreen(Screen[None]):
    """Free play: switches, runs, metrics, flow and traces; optionally with the learner's own
    code plugged in (from an exercise), serving every run until it is unplugged."""

    CSS_PATH = SCREENS_CSS

    SUB_TITLE = "playground"
    AUTO_FOCUS = "#run-start"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "run", "Run", tooltip="Fire the scenario at the backend with these switches"),
        Binding("escape,c", "cancel", "Cancel run"),
        Binding("escape", "close_switches", "Close switches"),
        Binding("s", "toggle_switches", "Switches"),
        Binding("v", "toggle_serve", "Serve / stop",
                tooltip="Serve this backend on 127.0.0.1 so curl can reach it"),
        Binding("u", "unplug", "Unplug your code",
                tooltip="Put the shipped part back in place of your exercise code"),
        Binding("slash", "find_switch", "Find a switch", show=False),
        Binding("g", "pick_scenario", "Pick the scenario", show=False),
        Binding("ctrl+r", "reset_switches", "Reset switches to defaults", show=False),
        Binding("m", "show_tab('metrics')", "Metrics tab", show=False),
        Binding("f", "show_tab('flow')", "Flow tab", show=False),
        Binding("t", "show_tab('requests')", "Requests tab", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[RunRecord] = []
        self.serve_port = 8000
        self.live = LiveServer(self._trace_from_server_thread, self._error_from_server_thread)
        self._deferred_redis_url: str | None = None  # told once, applied at the next serve
        self._served: deque[tuple[str, Trace]] = deque(maxlen=500)
        self._served_metrics = MetricsRecorder()
        self._served_count = 0
        self.plugged: SandboxMaker | None = None  # the learner's code, serving every run

    @property
    def sandbox_app(self) -> Shell:
        return shell(self)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="playground"):
            yield SettingsPanel(self.sandbox_app.settings, id="switches")
            with Vertical(id="main"):
                yield RunControls(id="run")
                with TabbedContent(id="views", initial="metrics"):
                    with TabPane("Metrics", id="metrics"), Horizontal(id="metrics-row"):
                        with VerticalScroll(id="metrics-scroll", classes="panel-scroll") as scroll:
                            scroll.border_title = "last run"
                            yield MetricsPanel(id="metrics-panel")
                            yield TimelineChart("traffic", id="chart-traffic")
                            yield TimelineChart("latency", id="chart-latency")
                            yield TimelineChart("hit_rate", id="chart-hit-rate")
                            yield TimelineChart("queue", id="chart-queue")
                        with VerticalScroll(id="compare-scroll", classes="panel-scroll") as scroll:
                            scroll.border_title = "before → after"
                            yield ComparePanel(id="compare-panel")
                    with TabPane("Flow", id="flow"), Vertical(id="flow-column"):
                        yield MechanismsPanel(id="mechanisms")
                        yield FlowView(id="flow-view")
                    with TabPane("Requests", id="requests"):
                        yield RequestsView(id="requests-view")
        yield KeyBar()

    def on_mount(self) -> None:
        app = self.sandbox_app
        app.settings_changed.subscribe(self, self._settings_changed, immediate=True)
        self._settings_changed(app.settings)
        for chart in self.query(TimelineChart):
            chart.show(None)  # drawn after the first run

    def _settings_changed(self, settings: Settings) -> None:
        self.query_one(SettingsPanel).show(settings)
        self.query_one(FlowView).settings = settings
        if self.live.apply(settings):
            self._deferred_redis_url = None
        elif settings.redis.url != self._deferred_redis_url:
            self._deferred_redis_url = settings.redis.url
            self.notify("The served backend keeps its Redis until you serve again: press v to "
                        "stop, then v to start. Every other switch applies now.",
                        title="redis.url", severity="warning", timeout=8)

    # -- serving for outside clients ------------------------------------------------------

    def action_toggle_serve(self) -> None:
        """Start `sandbox serve` inside the app, or stop it."""
        if self.live.running:
            self.live.stop()
            self._deferred_redis_url = None
            self.sub_title = "playground"
            self.notify("Stopped serving.", timeout=3)
            return
        try:
            self.live.start(self.sandbox_app.settings, self.serve_port)
        except SandboxError as exc:  # the port is taken, or redis.url cannot be reached
            self.notify(str(exc), title="cannot serve", severity="error", timeout=8)
            return
        self._served.clear()
        self._served_metrics = MetricsRecorder()
        self._served_count = 0
        self.sub_title = f"playground · serving {self.live.url}"
        self.notify(f"curl -i {self.live.url}/products/1 — outside requests appear in the "
                    "Requests and Flow tabs as they arrive. Admin API: header "
                    f"X-Sandbox-Token: {self.live.admin_token}", title=f"serving {self.live.url}",
                    timeout=12)

    def _error_from_server_thread(self, message: str) -> None:
        with contextlib.suppress(RuntimeError):  # the app is shutting down
            self.app.call_from_thread(self.notify, message, title="serving",
                                      severity="error", timeout=8)

    def _trace_from_server_thread(self, trace: Trace) -> None:
        with contextlib.suppress(RuntimeError):  # the app is shutting down
            self.app.call_from_thread(self.show_external, trace)

    def show_external(self, trace: Trace) -> None:
        """One outside request arrived: add it to the requests and the flow."""
        action = "from outside"  # the request column shows method and path
        self._served.append((action, trace))
        self._served_metrics.record(action, trace)
        self._served_count += 1
        record = RunRecord("served", 0, self._served_count, self.sandbox_app.settings,
                           self._served_metrics.summary({"scenario": "served", "seed": 0}),
                           tuple(self._served))
        self.query_one(FlowView).show(record)
        self.query_one(RequestsView).show(record)
        self.query_one(MetricsPanel).metrics = record.metrics

    def _chart(self, record: RunRecord, earlier: RunRecord | None) -> None:
        """Draw the run over time; the run before it in grey when it is the same experiment
        (scenario, size and seed), since only then do their seconds line up."""
        same = earlier is not None and (earlier.scenario, earlier.requests, earlier.seed) == (
            record.scenario, record.requests, record.seed)
        before = earlier.metrics if same and earlier is not None else None
        for chart in self.query(TimelineChart):
            chart.show(record.metrics, before, "last run")

    def on_unmount(self) -> None:
        if self.live.running:
            self.live.stop()

    # -- switches -------------------------------------------------------------------------

    @on(SettingEditor.Changed)
    def _apply_setting(self, event: SettingEditor.Changed) -> None:
        app = self.sandbox_app
        try:
            app.settings = app.settings.replace({event.key: event.value})
        except SettingsError as exc:  # parse_value accepted it, so this should not happen
            self.notify(str(exc), title="not applied", severity="error")

    @on(SettingsPanel.ResetRequested)
    def _reset_requested(self) -> None:
        self.action_reset_switches()

    def action_reset_switches(self) -> None:
        self.sandbox_app.settings = Settings(redis=self.sandbox_app.settings.redis)
        self.notify("Every switch is back at its default.", timeout=3)

    def action_toggle_switches(self) -> None:
        self.toggle_class("-show-switches" if self.has_class("-narrow") else "-hide-switches")
        if self.has_class("-narrow") and self.has_class("-show-switches"):
            self.query_one("#switch-list").focus()
        self.refresh_bindings()

    def action_pick_scenario(self) -> None:
        """Open the scenario picker (a key, not only the mouse)."""
        picker = self.query_one("#run-scenario", Select)
        picker.focus()
        picker.expanded = True

    def choose_scenario(self, name: str) -> None:
        """Put scenario `name` in the run bar with its usual size (the command palette)."""
        from sandbox.scenarios import PATTERNS

        self.query_one(RunControls).choose(name, PATTERNS[name].requests)
        self.notify(f"Scenario {name}: press r to run it.", timeout=4)

    def show_switch(self, key: str) -> None:
        """Bring switch `key` up in the switches panel, ready to change (the palette)."""
        if self.has_class("-narrow"):
            self.add_class("-show-switches")
        self.remove_class("-hide-switches")
        self.query_one(SettingsPanel).edit(key)
        self.query_one("#switch-list").focus()
        self.refresh_bindings()

    def action_find_switch(self) -> None:
        if self.has_class("-narrow"):
            self.add_class("-show-switches")
        self.remove_class("-hide-switches")
        self.query_one("#switch-filter").focus()
        self.refresh_bindings()

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        focus = {"requests": "#requests-table", "flow": "#flow-view", "metrics": "#metrics-scroll"}
        self.query_one(focus[tab]).focus()

    # -- the learner's code -----------------------------------------------------------------

    def plug_in(self, plugged: SandboxMaker, scenario: str, requests: int, look: str) -> None:
        """Serve every run from now on with `plugged`; start one with `scenario` at once."""
        self.plugged = plugged
        self.sub_title = f"playground · {plugged.label} plugged in (u unplugs)"
        controls = self.query_one(RunControls)
        busy = controls.cancel()  # the run going now is the sandbox's own code: stop it
        controls.choose(scenario, requests)
        self.refresh_bindings()
        then = "Press r when the run before it has stopped." if busy else f"Look at {look}."
        self.notify(f"Every run now goes through {plugged.label}. {then}",
                    title=f"{plugged.label} is plugged in", timeout=8)
        if not busy:
            self.call_after_refresh(self.action_run)

    def action_unplug(self) -> None:
        if self.plugged is None:
            return
        label = self.plugged.label
        self.plugged = None
        self.sub_title = "playground"
        self.refresh_bindings()
        self.notify(f"Runs use the sandbox's own code again, not {label}.", timeout=4)

    # -- runs -----------------------------------------------------------------------------

    def action_run(self) -> None:
        if self.query_one(RunControls).start(self.sandbox_app.settings, self.plugged):
            self.remove_class("-show-switches")
            self.refresh_bindings()

    def action_cancel(self) -> None:
        self.query_one(RunControls).cancel()

    def action_close_switches(self) -> None:
        self.remove_class("-show-switches")
        self.query_one("#run-start").focus()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Escape cancels a run while one goes; otherwise it closes the (narrow) switches."""
        if action == "cancel":
            controls = self.query(RunControls)
            return bool(controls) and controls.first().running
        if action == "close_switches":
            return self.has_class("-show-switches")
        if action == "unplug":
            return self.plugged is not None
        return True

    @on(RunControls.RunRequested)
    def _run_requested(self) -> None:
        self.action_run()

    @on(RunControls.Finished)
    def _run_finished(self, event: RunControls.Finished) -> None:
        record = event.record
        self.runs = [*self.runs[-1:], record]
        self.query_one(MetricsPanel).metrics = record.metrics
        self._chart(record, self.runs[0] if len(self.runs) == 2 else None)
        self.query_one("#metrics-scroll").border_title = (
            f"last run · {record.plugged}" if record.plugged else "last run")
        if len(self.runs) == 2:
            self.query_one(ComparePanel).comparison = compare(self.runs[0], self.runs[1])
        self.query_one(FlowView).show(record)
        self.query_one(RequestsView).show(record)
        lat = record.metrics["latency_ms"]
        self.notify(f"p50 {lat['p50']:.2f} · p95 {lat['p95']:.2f} · p99 {lat['p99']:.2f} ms",
                    title=f"{record.scenario}: {record.requests:,} requests", timeout=4)

    @on(RequestsView.Picked)
    def _request_picked(self, event: RequestsView.Picked) -> None:
        self.query_one(FlowView).selected = event.trace

    @on(RequestsView.AnimateRequested)
    def _animate_request(self, event: RequestsView.AnimateRequested) -> None:
        flow = self.query_one(FlowView)
        flow.selected = event.trace
        self.action_show_tab("flow")
        flow.play(event.trace)

    @on(RunControls.Live)
    def _run_live(self, event: RunControls.Live) -> None:
        self.query_one(MechanismsPanel).state = event.state

    @on(RunControls.Cancelled)
    def _run_cancelled(self, event: RunControls.Cancelled) -> None:
        self.notify(f"Run cancelled ({event.message}).", severity="warning", timeout=4)

    @on(RunControls.Failed)
    def _run_failed(self, event: RunControls.Failed) -> None:
        self.notify(event.message, title="the run failed", severity="error", timeout=10)
