"""The composer's response: status line, headers and body (pretty JSON), or what went wrong."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

from sandbox.render import response_view
from sandbox.tui.composing import Outcome

HINT = ("Compose a request on the left and press [b]ctrl+s[/b] (or enter in the path).\n"
        "It travels DNS → balancer → gateway → an app instance → SQLite, with the current "
        "switches, and its trace appears under [b]Trace[/b].")


class ResponseView(VerticalScroll):
    """Shows `outcome` (a response) or `problem` (why there is none)."""

    outcome: reactive[Outcome | None] = reactive(None, init=False)
    problem: reactive[str] = reactive("", init=False)

    def compose(self) -> ComposeResult:
        yield Static(HINT, id="response-body")

    @property
    def status(self) -> int | None:
        return self.outcome.status if self.outcome else None

    def watch_outcome(self) -> None:
        self._redraw()

    def watch_problem(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        self.scroll_home(animate=False)
        self.query_one("#response-body", Static).update(self._render_response())

    def _render_response(self) -> RenderableType:
        if self.problem:
            return Text.assemble(("could not send: ", "bold red"), self.problem)
        outcome = self.outcome
        if outcome is None:
            return Text.from_markup(HINT)
        notes = [Text(f"· {note}", style="dim") for note in outcome.notes]
        return Group(*notes, response_view(outcome.status, list(outcome.headers), outcome.body))
