"""The lesson player: one lesson's steps, their experiments, requests and checkpoints.

Entering a step applies its actions to the app's settings, runs its experiment in a thread
worker or sends its request, and shows its checkpoints. Progress goes to ProgressStore.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Label, Markdown, OptionList, ProgressBar, Static
from textual.worker import get_current_worker

from sandbox.course.lessons import Lesson, Run, Step
from sandbox.course.progress import LessonProgress, ProgressError, ProgressStore
from sandbox.errors import SandboxError
from sandbox.render import body_view, status_style
from sandbox.settings import Settings
from sandbox.tui.composing import ComposedRequest, Outcome
from sandbox.tui.learning import (
    MetricRow,
    compared_step,
    composed,
    judge,
    measured,
    metric_rows,
    response_waits,
    resume_at,
    settings_at,
    step_actions,
    step_complete,
    step_metrics,
    waiting_question,
)
from sandbox.tui.lesson_sandbox import LessonSandbox
from sandbox.tui.screens import SCREENS_CSS
from sandbox.tui.shell import Shell, shell
from sandbox.tui.widgets.checkpoint_view import CheckpointView, Choices
from sandbox.tui.widgets.flow_view import FlowView
from sandbox.tui.widgets.key_bar import KeyBar
from sandbox.tui.widgets.run_controls import describe_error
from sandbox.tui.widgets.timeline_chart import TimelineChart
from sandbox.tui.widgets.waterfall import WaterfallView

BODY_CHARS = 600  # of a response body shown in a lesson
WAIT_FOR_PREDICTION = "Predict first: the response shows when you pick an answer."
RUN_TITLES = {"step": "the step's run", "predict": "your prediction, measured",
              "challenge": "your switches, measured"}


class LessonScreen(Screen[None]):
    """One lesson, one step at a time."""

    CSS_PATH = SCREENS_CSS

    SUB_TITLE = "lesson"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right,right_square_bracket", "next_step", "Next", priority=True),
        Binding("left,left_square_bracket", "previous_step", "Back", priority=True),
        Binding("c", "check", "Check the challenge"),
        Binding("o", "open_in_playground", "Try in playground"),
        Binding("escape", "cancel", "Cancel run"),
        Binding("escape", "close", "Lessons"),
    ]

    @dataclass
    class RunProgress(Message):
        job: int
        done: int
        total: int

    @dataclass
    class RunDone(Message):
        job: int
        metrics: dict[str, Any]
        before: dict[str, Any] | None = None  # the compared step's run, if there is one

    @dataclass
    class RunStopped(Message):
        job: int
        message: str
        failed: bool

    @dataclass
    class RequestDone(Message):
        job: int
        outcome: Outcome

    @dataclass
    class RequestFailed(Message):
        job: int
        message: str

    def __init__(self, lesson: Lesson, store: ProgressStore | None) -> None:
        super().__init__()
        self.lesson = lesson
        self.store = store
        self.index = 0
        self.running = False
        self.last_metrics: dict[str, Any] | None = None
        self._job = 0
        self._purpose: tuple[str, int, Settings] = ("step", -1, Settings())
        self._cache: dict[tuple[str, int | None, int, Settings], dict[str, Any]] = {}
        self._before_title = ""  # which step the shown run is compared with
        # Questions answered on this screen, as (step, checkpoint): also saved, unless
        # progress cannot be written, and the step's explanation must follow either way.
        self._answered_now: set[tuple[int, int]] = set()
        # The step's response, while a prediction of it is still to be made.
        self._held: Outcome | None = None
        # The switches this step runs with (the defaults plus the step's own `set`). The
        # playground's are the learner's: a lesson reads them only for a challenge, and
        # changes them only when asked to (`o`, open this step in the playground).
        self.step_settings = Settings()
        self.requests = LessonSandbox()

    @property
    def sandbox_app(self) -> Shell:
        return shell(self)

    def on_unmount(self) -> None:
        self.workers.cancel_group(self, "lesson-request")
        self.requests.close()

    @property
    def step(self) -> Step:
        return self.lesson.steps[self.index]

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="lesson"):
            with VerticalScroll(id="lesson-text", classes="panel-scroll") as text:
                text.border_title = self.lesson.title
                yield Static("", id="step-title")
                yield Markdown("", id="step-markdown")
                yield Static("", id="step-actions")
                yield Vertical(id="checkpoints")
            with Vertical(id="lesson-side"):
                with Horizontal(id="lesson-run", classes="-idle"):
                    yield ProgressBar(total=1, show_eta=False, id="lesson-progress")
                    yield Label("", id="lesson-run-status")
                with VerticalScroll(id="lesson-results", classes="panel-scroll") as results:
                    results.border_title = "in the sandbox"
                    yield Static("", id="lesson-metrics")
                    yield TimelineChart("auto", id="lesson-chart")
                    yield Static("", id="lesson-response")
                yield FlowView(id="lesson-flow")
                yield WaterfallView("", id="lesson-waterfall")
        yield KeyBar()

    def on_mount(self) -> None:
        progress = self.store.lesson(self.lesson.id) if self.store else LessonProgress()
        self.enter(resume_at(self.lesson, progress))

    # -- moving -------------------------------------------------------------------------------

    def action_next_step(self) -> None:
        self._record("step_done", self.lesson.id, self.index)
        if self.index + 1 < len(self.lesson.steps):
            self.enter(self.index + 1)
        else:
            self.notify(f"You finished “{self.lesson.title}”. Escape goes back to the lessons.",
                        title="lesson done", timeout=6)

    def action_previous_step(self) -> None:
        if self.index > 0:
            self.enter(self.index - 1)

    def action_open_in_playground(self) -> None:
        """Copy this step's switches into the playground and go there: the one way a lesson
        changes the learner's switches, and only when asked."""
        self.sandbox_app.settings = self.step_settings
        self.app.switch_mode("playground")
        self.app.notify("The playground now has this step's switches.", timeout=4)

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "lesson-run")
        self._run_status("cancelling…")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.running
        if action == "close":
            return not self.running
        if action == "check":
            return any(p.kind == "challenge" for p in self.step.checkpoints)
        return True

    def _record(self, method: str, *args: Any) -> None:
        if self.store is None:
            return
        try:
            getattr(self.store, method)(*args)
            if method in ("answered", "challenge_met") and step_complete(
                    self.step, self.index, self.store.lesson(self.lesson.id)):
                self.store.step_done(self.lesson.id, self.index)  # ticked in the lists at once
        except ProgressError as exc:
            self.notify(str(exc), title="progress not saved", severity="error", timeout=8)

    def enter(self, index: int) -> None:
        """Show step `index` and apply its actions."""
        self.index = index
        step = self.step
        self._record("moved_to", self.lesson.id, index)
        self._job += 1  # whatever the last step started no longer shows
        self._held = None
        self.workers.cancel_group(self, "lesson-run")
        self.workers.cancel_group(self, "lesson-request")
        self._set_running(False)
        total = len(self.lesson.steps)
        self.sub_title = f"{self.lesson.title} · step {index + 1} of {total}"
        self.query_one("#step-title", Static).update(Text.assemble(
            (f"step {index + 1} of {total}", "dim"), "  ", (step.title, "bold")))
        self._show_text()
        self.query_one("#step-actions", Static).update(Text.assemble(
            ("in the sandbox: ", "bold"), step_actions(step)))
        self.query_one("#lesson-text", VerticalScroll).scroll_home(animate=False)
        self.query_one("#lesson-metrics", Static).update("")
        self.query_one(TimelineChart).show(None)
        measuring = step.run is not None or any(p.run for p in step.checkpoints)
        self.query_one("#lesson-side").set_class(measuring, "-measuring")
        self.query_one("#lesson-response", Static).update("")
        self.query_one(WaterfallView).display = step.request is not None
        self.query_one(WaterfallView).trace = None
        self._run_status("")
        self.query_one("#lesson-run").add_class("-idle")
        self._show_checkpoints()
        self._apply(step)
        flow = self.query_one(FlowView)
        flow.set_class(bool(step.highlight), "-pointing")  # shown only when the step points
        flow.set_class(step.request is not None, "-beside-request")  # (no room at 80x24 then)
        flow.settings = self.step_settings
        flow.point_at(step.highlight)
        self.refresh_bindings()

    def _answered(self) -> set[int]:
        """The checkpoints of this step the learner has answered, now or on an earlier visit."""
        progress = self.store.lesson(self.lesson.id) if self.store else LessonProgress()
        return ({i for (s, i) in progress.answers if s == self.index}
                | {i for (s, i) in self._answered_now if s == self.index})

    def _show_text(self) -> None:
        """The step's prose; while a question is unanswered, only the part above it (the rest
        explains the answer: asked first, told after)."""
        step, index = self.step, self.index
        text = step.text
        waiting = waiting_question(step, self._answered())
        if waiting is not None:
            verb = "Predict" if waiting.kind == "predict" else "Answer"
            text = text[:waiting.at].rstrip() + (
                f"\n\n*{verb} below first: the explanation follows your answer.*")
        text = text.strip()
        if index == 0 and self.lesson.intro:
            text = self.lesson.intro + "\n\n" + text
        self.query_one("#step-markdown", Markdown).update(text)

    def _show_checkpoints(self) -> None:
        box = self.query_one("#checkpoints", Vertical)
        box.remove_children()
        progress = self.store.lesson(self.lesson.id) if self.store else LessonProgress()
        views = []
        for i, point in enumerate(self.step.checkpoints):
            earlier: RenderableType = ""
            answer = progress.answers.get((self.index, i))
            if answer is not None:
                earlier = Text(f"you answered before: {answer[0]}", style="dim")
            if (self.index, i) in progress.challenges_met:
                earlier = Text("met before ✓ (press c to check again)", style="green")
            views.append(CheckpointView(point, i, earlier))
        mounted = box.mount_all(views)

        async def focus_once_mounted() -> None:
            await mounted
            self._focus_choices()

        self.call_next(focus_once_mounted)

    def _focus_choices(self) -> None:
        # Without scrolling: the step opens at its top, and its question is read in turn.
        choices = self.query(".checkpoint-choices")
        if choices:
            choices.first().focus(scroll_visible=False)
        else:
            self.query_one("#lesson-text").focus(scroll_visible=False)

    def _apply(self, step: Step) -> None:
        try:
            self.step_settings = settings_at(self.lesson, self.lesson.steps.index(step),
                                             self.sandbox_app.settings)
        except SandboxError as exc:
            self.notify(str(exc), title="switches not applied", severity="error", timeout=8)
            return
        settings = self.step_settings
        if step.run is not None and any(p.kind == "predict" for p in step.checkpoints):
            self.query_one("#lesson-metrics", Static).update(Text(
                "Predict first: the experiment runs when you pick an answer.", style="dim"))
        elif step.run is not None:
            self.start_run(step.run, ("step", -1, settings))
        if step.request is not None:
            # Sent at once, so the lesson's sandbox changes as the text says, even if the
            # learner moves on without predicting; shown once the prediction is made.
            self._job += 1
            self.query_one("#lesson-response", Static).update(
                Text(WAIT_FOR_PREDICTION if response_waits(step, self._answered()) else "sending…",
                     style="dim"))
            self._send(self._job, composed(step), settings)

    # -- runs ---------------------------------------------------------------------------------

    def start_run(self, run: Run, purpose: tuple[str, int, Settings]) -> None:
        self._job += 1
        self._purpose = purpose
        settings = purpose[2]
        # A step's own run (or its prediction's) is shown beside the earlier step it follows
        # on from; that run is made too if the learner came straight here.
        earlier = compared_step(self.lesson, self.index) if purpose[0] != "challenge" else None
        self._before_title = ""
        runs = [settings]
        if earlier is not None and self.lesson.steps[earlier].run == run:
            self._before_title = f"step {earlier + 1}"
            runs.insert(0, settings_at(self.lesson, earlier, self.sandbox_app.settings))
        found = [m for s in runs if (m := self._cache.get((run.scenario, run.requests,
                                                           run.seed, s))) is not None]
        if len(found) == len(runs):
            self.post_message(self.RunDone(self._job, found[-1],
                                           found[0] if len(found) > 1 else None))
            return
        self._set_running(True)
        self.query_one("#lesson-run").remove_class("-idle")
        self.query_one("#lesson-progress", ProgressBar).update(total=run.requests or 1, progress=0)
        self._run_status(f"running {run.scenario}…")
        self._run(self._job, run, runs)

    @work(thread=True, exclusive=True, group="lesson-run", exit_on_error=False)
    def _run(self, job: int, run: Run, runs: list[Settings]) -> None:
        """Run `run` with each of `runs` (the earlier step's switches first, if compared),
        from the cache where it can; the last one is the step's."""
        worker = get_current_worker()
        from sandbox.scenarios.runner import ScenarioCancelled, run_scenario

        measured: list[dict[str, Any]] = []
        for number, settings in enumerate(runs):
            key = (run.scenario, run.requests, run.seed, settings)
            if key in self._cache:
                measured.append(self._cache[key])
                continue

            def progress(done: int, total: int, number: int = number) -> None:
                self.post_message(self.RunProgress(job, number * total + done, len(runs) * total))

            try:
                result = run_scenario(run.scenario, settings, seed=run.seed,
                                      requests=run.requests, keep_traces=0, progress=progress,
                                      cancelled=lambda: worker.is_cancelled)
            except ScenarioCancelled as exc:
                self.post_message(self.RunStopped(job, str(exc), failed=False))
                return
            except Exception as exc:  # shown as a notification, never a traceback
                self.post_message(self.RunStopped(job, describe_error(exc), failed=True))
                return
            self._cache[key] = result.metrics
            measured.append(result.metrics)
        self.post_message(self.RunDone(job, measured[-1],
                                       measured[0] if len(measured) > 1 else None))

    @on(RunProgress)
    def _progress(self, event: RunProgress) -> None:
        if event.job == self._job:
            self.query_one("#lesson-progress", ProgressBar).update(total=event.total,
                                                                   progress=event.done)
            self._run_status(f"{event.done:,} / {event.total:,} (escape cancels)")

    @on(RunStopped)
    def _stopped(self, event: RunStopped) -> None:
        if event.job != self._job:
            return
        self._set_running(False)
        if event.failed:
            self._run_status("the run failed")
            self.notify(event.message, title="the run failed", severity="error", timeout=10)
        else:
            self._run_status("cancelled")
            self.notify(f"Run cancelled ({event.message}).", severity="warning", timeout=4)

    @on(RunDone)
    def _done(self, event: RunDone) -> None:
        if event.job != self._job:
            return
        self._set_running(False)
        metrics = event.metrics
        self.last_metrics = metrics
        kind, index, settings = self._purpose
        self.query_one("#lesson-progress", ProgressBar).update(total=1, progress=1)
        count = metrics.get("requests")
        self._run_status(f"done: {count:,} requests" if isinstance(count, int) else "done")
        title = RUN_TITLES[kind]
        rows = metric_rows(metrics, step_metrics(self.step), event.before)
        before = self._before_title if event.before is not None else ""
        self.query_one("#lesson-metrics", Static).update(metrics_table(title, rows, before))
        self.query_one(TimelineChart).show(metrics, event.before, before)
        if kind == "predict":
            self._predicted(index, metrics)
        elif kind == "challenge":
            self._judged(index, settings, metrics)

    def _set_running(self, running: bool) -> None:
        self.running = running
        self.query_one("#lesson-run").set_class(running, "-running")
        self.refresh_bindings()

    def _run_status(self, text: str) -> None:
        self.query_one("#lesson-run-status", Label).update(text)

    # -- checkpoints --------------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        """A choice's letter answers this step's question wherever the focus is (Tab moves it
        to the other pane), unless what has the focus binds that key itself (`a` animates a
        request in the flow; `c` checks a challenge). The question asked first and not yet
        answered takes it; once all are answered, the first one does, as if focused."""
        letter = event.character or ""
        if len(letter) != 1 or not "a" <= letter <= "h" or isinstance(self.focused, Choices):
            return  # not a letter, or the choices already answer for themselves
        if (bound := self.active_bindings.get(event.key)) is not None and bound.enabled:
            return
        views = [v for v in self.query(CheckpointView) if v.point.choices]
        target = next((v for v in views if v.picked is None), views[0] if views else None)
        if target is None or ord(letter) - ord("a") >= len(target.point.choices):
            return
        event.stop()
        event.prevent_default()
        choices = target.query_one(Choices)
        choices.focus()
        choices.highlighted = ord(letter) - ord("a")
        choices.action_select()

    def view(self, index: int) -> CheckpointView:
        found = [v for v in self.query(CheckpointView) if v.index == index]
        if not found:
            raise LookupError(f"no checkpoint {index} on this step")
        return found[0]

    @on(OptionList.OptionSelected, ".checkpoint-choices")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        view = event.option_list.parent
        assert isinstance(view, CheckpointView)
        self.pick(view.index, int(event.option.id or 0))

    def pick(self, index: int, choice: int) -> None:
        """The learner picks `choice` in checkpoint `index` of this step."""
        view = self.view(index)
        point = view.point
        picked = point.choices[choice]
        view.picked = choice
        self._record("answered", self.lesson.id, self.index, index, picked.text, picked.correct)
        self._answered_now.add((self.index, index))
        self._show_text()  # the explanation, now that the learner has committed
        if point.kind == "choice" or point.run is None:
            mark = ("✓ right: ", "bold green") if picked.correct else ("✗ not quite: ", "bold yellow")
            again = ("" if picked.correct or point.kind != "choice"
                     else ("\npick another: each choice explains itself", "dim"))
            view.result(Text.assemble(mark, picked.explain, again))
            if self._held is not None and not response_waits(self.step, self._answered()):
                self._show_response(self._held)
            return
        view.result(Text.assemble(("you predicted: ", "bold"), picked.text, "\n",
                                  ("measuring…", "dim")))
        self.start_run(point.run, ("predict", index, self.step_settings))

    def _predicted(self, index: int, metrics: dict[str, Any]) -> None:
        view = self.view(index)
        point = view.point
        right = next(c for c in point.choices if c.correct)
        picked = point.choices[view.picked] if view.picked is not None else None
        mark = ("✓", "bold green") if picked is right else ("✗", "bold yellow")
        view.result(Text.assemble(
            mark, ("  you predicted: ", "bold"), picked.text if picked else "-", "   ",
            ("measured: ", "bold"), f"{point.metric} = {measured(metrics, point.metric)}", "\n",
            ("answer: ", "dim"), right.text, (" — ", "dim"), right.explain))

    def action_check(self) -> None:
        """Run each challenge of this step with the app's current settings."""
        challenges = [i for i, p in enumerate(self.step.checkpoints) if p.kind == "challenge"]
        if not challenges:
            self.notify("This step has no challenge to check.", severity="warning")
            return
        index = challenges[0]
        point = self.step.checkpoints[index]
        assert point.run is not None
        self.view(index).result(Text("checking with your current switches…", style="dim"))
        self.start_run(point.run, ("challenge", index, self.sandbox_app.settings))

    def _judged(self, index: int, settings: Settings, metrics: dict[str, Any]) -> None:
        point = self.step.checkpoints[index]
        verdict = judge(point, settings, metrics)
        style = "bold green" if verdict.met else "bold yellow"
        self.view(index).result(Text(("✓ " if verdict.met else "✗ ") + verdict.text(point.metric),
                                     style=style))
        if verdict.met and verdict.value is not None:
            self._record("challenge_met", self.lesson.id, self.index, index, verdict.value)
            self.notify("Challenge met.", title="✓", timeout=4)

    # -- the step's request -------------------------------------------------------------------

    @work(exclusive=True, group="lesson-request", exit_on_error=False)
    async def _send(self, job: int, request: ComposedRequest, settings: Settings) -> None:
        try:
            outcome = await asyncio.to_thread(self.requests.send, request, settings)
        except Exception as exc:  # shown as a notification, never a traceback
            self.post_message(self.RequestFailed(job, describe_error(exc)))
            return
        self.post_message(self.RequestDone(job, outcome))

    @on(RequestDone)
    def _response(self, event: RequestDone) -> None:
        if event.job != self._job:
            return
        if response_waits(self.step, self._answered()):
            self._held = event.outcome
            self.query_one("#lesson-response", Static).update(Text(WAIT_FOR_PREDICTION,
                                                                   style="dim"))
            return
        self._show_response(event.outcome)

    def _show_response(self, outcome: Outcome) -> None:
        self._held = None
        self.query_one("#lesson-response", Static).update(response_text(outcome))
        self.query_one(WaterfallView).trace = outcome.trace

    @on(RequestFailed)
    def _request_failed(self, event: RequestFailed) -> None:
        if event.job != self._job:
            return
        self.query_one("#lesson-response", Static).update(
            Text.assemble(("no response: ", "bold red"), event.message))
        self.notify(event.message, title="the request failed", severity="error", timeout=8)


VERDICT_STYLE = {"better": "green", "worse": "red", "same": "dim", "": ""}


def metrics_table(title: str, rows: list[MetricRow], before: str = "") -> RenderableType:
    """The run's numbers; with `before` (the earlier step's name), that step's beside each
    and the change, coloured by whether it is better. Each number has its own column, so
    none wraps mid-value, and the whole fits the side panel at 80x24."""
    def width(*texts: str) -> int:  # numbers are never cut: the label gives way
        return max(len(t) for t in texts)

    table = Table.grid(padding=(0, 1))
    table.add_column(overflow="fold")  # the one column that may wrap
    if before:
        table.add_column(justify="right", no_wrap=True, style="dim",
                         min_width=width(before, *(r.before for r in rows)))
    table.add_column(justify="right", no_wrap=True, min_width=width("now", *(r.value for r in rows)))
    if before:
        table.add_column(justify="right", no_wrap=True, min_width=width(*(r.change for r in rows)))
        table.add_row("", Text(before, style="dim"), Text("now", style="dim"), "")
    for row in rows:
        value = Text(row.value, style="bold" if row.focus else "")
        label = Text(row.label, style="bold" if row.focus else "dim", overflow="ellipsis")
        if before:
            table.add_row(label, row.before, value,
                          Text(row.change, style=VERDICT_STYLE.get(row.verdict, "")))
        else:
            table.add_row(label, value)
    return Group(Text(title, style="bold"), table)


def response_text(outcome: Outcome) -> RenderableType:
    trace = outcome.trace
    lines: list[RenderableType] = [Text(f"· {note}", style="dim") for note in outcome.notes]
    lines.append(Text.assemble((str(outcome.status), status_style(outcome.status)), " ",
                               (f"{trace.method} {trace.path}", "bold"),
                               f" · {trace.duration_ms:.2f} ms simulated"))
    lines.append(body_view(outcome.body, compact=True, max_chars=BODY_CHARS) if outcome.body
                 else Text("(empty body)", style="dim"))
    return Group(*lines)
