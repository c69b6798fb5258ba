"""Run controls: pick a scenario, a request count and a seed; run it in a thread; cancel it.

The run happens in a thread worker (`run_scenario` is blocking), which reports back only by
messages: `Progress` while it runs, then exactly one of `Finished`, `Cancelled` or `Failed`.
Each run has an id so a message from a superseded run is ignored.
"""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.validation import Integer
from textual.widgets import Button, Input, Label, ProgressBar, Select
from textual.worker import get_current_worker

from sandbox.errors import SandboxError
from sandbox.scenarios import PATTERNS
from sandbox.scenarios.live_state import LiveState
from sandbox.settings import Settings
from sandbox.tui.exercising import StudentCodeCancelled, run_guarded
from sandbox.tui.runs import RunRecord, SandboxMaker

if TYPE_CHECKING:
    from sandbox.scenarios.runner import ScenarioResult

DEFAULT_REQUESTS = 3000
PLUGGED_SILENCE_S = 20.0  # a learner's code silent this long is taken for an endless loop
KEEP_TRACES = 500
MAX_REQUESTS = 1_000_000


def describe_error(exc: BaseException) -> str:
    """A one-line message for the learner; never a traceback."""
    if isinstance(exc, SandboxError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def wall_clock() -> float:
    """The machine's clock, for a run's wall time as the run bar shows it (snapshot tests
    stop it; the run's short waits for a key press keep using `time`)."""
    return time.perf_counter()


class RunControls(Vertical):
    """The run bar. `start(settings)` begins a run; `cancel()` stops it."""

    @dataclass
    class RunRequested(Message):
        """The Run button was pressed (the screen supplies the settings)."""

        controls: RunControls

    @dataclass
    class Progress(Message):
        run_id: int
        done: int
        total: int

    @dataclass
    class Finished(Message):
        run_id: int
        record: RunRecord

    @dataclass
    class Live(Message):
        """What the mechanisms hold now, during a run (every 50 requests at most)."""

        run_id: int
        state: LiveState

    @dataclass
    class Cancelled(Message):
        run_id: int
        message: str

    @dataclass
    class Failed(Message):
        run_id: int
        message: str

    running: reactive[bool] = reactive(False, init=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._run_id = 0

    def compose(self) -> ComposeResult:
        with Horizontal(id="run-line"):
            yield Label("scenario", classes="run-label")
            yield Select([(name, name) for name in PATTERNS], value="steady", allow_blank=False,
                         compact=True, id="run-scenario")
            yield Label("requests", classes="run-label")
            yield Input(str(DEFAULT_REQUESTS), id="run-requests", compact=True, type="integer",
                        validators=[Integer(1, MAX_REQUESTS)])
            yield Label("seed", classes="run-label")
            yield Input("7", id="run-seed", compact=True, type="integer",
                        validators=[Integer(0, 2**31)])
        with Horizontal(id="progress-line"):
            yield Button("▶ run", id="run-start", compact=True, variant="success")
            yield Button("■ cancel", id="run-cancel", compact=True, variant="error", disabled=True)
            yield ProgressBar(total=DEFAULT_REQUESTS, show_eta=False, id="run-progress")
            yield Label("ready: press r to run", id="run-status")

    # -- what the screen calls --------------------------------------------------------------

    def read_inputs(self) -> tuple[str, int, int]:
        """(scenario, requests, seed) as typed; ValueError with a readable message if not."""
        scenario = str(self.query_one("#run-scenario", Select).value)
        requests_text = self.query_one("#run-requests", Input).value.strip()
        seed_text = self.query_one("#run-seed", Input).value.strip()
        try:
            requests = int(requests_text)
        except ValueError:
            raise ValueError(f"requests must be a whole number, not '{requests_text}'") from None
        if not 1 <= requests <= MAX_REQUESTS:
            raise ValueError(f"requests must be from 1 to {MAX_REQUESTS:,}")
        try:
            seed = int(seed_text)
        except ValueError:
            raise ValueError(f"seed must be a whole number, not '{seed_text}'") from None
        return scenario, requests, seed

    def start(self, settings: Settings, maker: SandboxMaker | None = None) -> bool:
        """Begin a run with `settings`; False (and a notification) if it cannot start.

        `maker` builds the run's sandbox instead of a plain one (the learner's code plugged in).
        """
        if self.running:
            self.notify("A run is already going: press escape to cancel it.", severity="warning")
            return False
        try:
            scenario, requests, seed = self.read_inputs()
        except ValueError as exc:
            self.notify(str(exc), title="cannot run", severity="error")
            return False
        self._run_id += 1
        self.running = True
        self.query_one(ProgressBar).update(total=requests, progress=0)
        self._status(f"running {scenario}: 0 / {requests:,}" + _seed_note())
        self._run(self._run_id, scenario, requests, seed, settings, maker)
        return True

    def choose(self, scenario: str, requests: int) -> None:
        """Put a scenario and a request count in the bar, as if the learner had typed them."""
        self.query_one("#run-scenario", Select).value = scenario
        self.query_one("#run-requests", Input).value = str(requests)

    def cancel(self) -> bool:
        """Stop the run in progress; False if there is none."""
        if not self.running:
            return False
        self.workers.cancel_group(self, "scenario")
        self._status("cancelling…")
        return True

    # -- the worker ---------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="scenario", exit_on_error=False)
    def _run(self, run_id: int, scenario: str, requests: int, seed: int, settings: Settings,
             maker: SandboxMaker | None) -> None:
        worker = get_current_worker()
        started = wall_clock()
        ui_busy = getattr(self.app, "ui_busy", None)

        def stopped() -> bool:
            """Asked before every request: cancelled? And if a key is being answered, wait a
            moment (at most 0.1 s) so the interface gets the interpreter to itself."""
            if ui_busy is not None and ui_busy.is_set():
                deadline = time.perf_counter() + 0.1
                while ui_busy.is_set() and time.perf_counter() < deadline:
                    time.sleep(0.002)
                # The app clears the flag after the current screen's next refresh, which may
                # never come when the key switched screens (the callback stays with the one
                # left behind). One key press is worth 0.1 s of the run at most, never 0.1 s
                # for every request that follows.
                ui_busy.clear()
            return worker.is_cancelled

        def progress(done: int, total: int) -> None:
            self.post_message(self.Progress(run_id, done, total))  # thread-safe

        def watch(state: LiveState) -> None:
            self.post_message(self.Live(run_id, state))  # thread-safe

        from sandbox.scenarios.runner import ScenarioCancelled, run_scenario  # not at start-up

        def plugged_run(alive: Callable[[], None]) -> ScenarioResult:
            assert maker is not None
            sandbox = maker.build(settings, seed)
            alive()

            def progress_alive(done: int, total: int) -> None:
                alive()
                progress(done, total)

            try:
                return run_scenario(scenario, settings, seed=seed, requests=requests,
                                    sandbox=sandbox, keep_traces=KEEP_TRACES,
                                    progress=progress_alive, cancelled=stopped, watch=watch)
            finally:
                sandbox.close()

        # Everything alive now (the app, its widgets, the modules) lives on: leave it out of
        # the collector's full sweeps during the run, which otherwise stall the interface for
        # a tenth of a second each time. `unfreeze` puts it back when the run ends.
        gc.freeze()
        try:
            if maker is None:
                result = run_scenario(scenario, settings, seed=seed, requests=requests,
                                      keep_traces=KEEP_TRACES, progress=progress,
                                      cancelled=stopped, watch=watch)
            else:  # their code may loop forever: a thread the app can walk away from
                result = run_guarded(plugged_run, silence_s=PLUGGED_SILENCE_S,
                                     cancelled=lambda: worker.is_cancelled,
                                     what=maker.label)
        except (ScenarioCancelled, StudentCodeCancelled) as exc:
            self.post_message(self.Cancelled(run_id, str(exc)))
            return
        except BaseException as exc:  # every failure is shown in the app, never as a traceback
            message = maker.explain(exc) if maker is not None else describe_error(exc)
            self.post_message(self.Failed(run_id, message))
            return
        finally:
            gc.unfreeze()
        record = RunRecord(scenario, seed, requests, settings, result.metrics,
                           tuple(result.traces), wall_clock() - started,
                           plugged=maker.label if maker is not None else "")
        self.post_message(self.Finished(run_id, record))

    # -- messages back from the worker ----------------------------------------------------

    @on(Progress)
    def _progress(self, event: Progress) -> None:
        event.stop()
        if event.run_id == self._run_id and self.running:
            self.query_one(ProgressBar).update(total=event.total, progress=event.done)
            self._status(f"running: {event.done:,} / {event.total:,}")

    @on(Finished)
    def _finished(self, event: Finished) -> None:
        if event.run_id != self._run_id:
            event.stop()
            return
        self.running = False
        record = event.record
        self.query_one(ProgressBar).update(total=record.requests, progress=record.requests)
        self._status(f"done: {record.requests:,} requests in {record.wall_s:.1f} s")

    @on(Cancelled)
    def _cancelled(self, event: Cancelled) -> None:
        if event.run_id != self._run_id:
            event.stop()
            return
        self.running = False
        counts = [int(n) for n in re.findall(r"\d+", event.message)]
        self._status("cancelled after {:,} of {:,}".format(*counts) if len(counts) == 2 else "cancelled")

    @on(Failed)
    def _failed(self, event: Failed) -> None:
        if event.run_id != self._run_id:
            event.stop()
            return
        self.running = False
        self._status("failed (see the message)")

    # -- the bar itself -------------------------------------------------------------------

    def watch_running(self, running: bool) -> None:
        self.query_one("#run-start", Button).disabled = running
        self.query_one("#run-cancel", Button).disabled = not running
        self.set_class(running, "-running")
        self.screen.refresh_bindings()  # escape means "cancel" only while a run goes

    def _status(self, text: str) -> None:
        self.query_one("#run-status", Label).update(text)

    @on(Button.Pressed, "#run-start")
    def _run_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.RunRequested(self))

    @on(Button.Pressed, "#run-cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.cancel()

    @on(Input.Submitted, "#run-requests, #run-seed")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.RunRequested(self))


def _seed_note() -> str:
    from sandbox.backend.seed import seed_path
    from sandbox.runtime import DATA_SEED

    if seed_path(DATA_SEED).exists():
        return ""
    return " (building the shop database first: once, about five seconds)"
