"""The help screen: what the sandbox is, in two paragraphs, and every key binding."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

ABOUT = (
    "[b]The backend sandbox[/b] runs a small online shop on your machine: a client resolves a "
    "name, passes a load balancer and a gateway, reaches one of several real ASGI app "
    "instances, and goes down through controller, service, cache and repository into SQLite, "
    "sometimes handing work to a queue. The network and the clock are simulated, so the same "
    "seed and switches always give the same numbers; the app, the SQL and the Redis commands "
    "are real.",
    "[b]How to use it:[/b] flip a switch in the switches panel (press [b]s[/b] if it is "
    "hidden): add instances, drop an index, turn the cache on, break the database. Press "
    "[b]r[/b] to fire a traffic scenario and read the metrics; the panel beside them compares "
    "your last two runs, so you see what the switch did. The Flow tab shows where the time "
    "went; the Requests tab shows each request's trace. "
    "Press [b]n[/b] to write a single request yourself in the composer.",
    "[b]The course:[/b] [b]h[/b] is home: resume where you left off, the lessons (a lesson "
    "sets the switches and runs the experiments for you, step by step) and the exercises, "
    "where you write a piece of the backend yourself. In an exercise, [b]c[/b] checks your "
    "file, [b]h[/b] gives a hint, and [b]p[/b] plugs your code into the playground so you see "
    "it serve the traffic.",
)


def _bindings_table(groups: list[tuple[str, list[BindingType]]],
                    key_display: Callable[[str], str]) -> Table:
    """One row per binding: its keys as the key bar shows them (`.` not `full_stop`), what it
    does, and where. A key a screen gives another meaning says so on the "everywhere" row."""
    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    table.add_column(style="dim", no_wrap=True)
    rebound: dict[str, list[str]] = {}
    for where, bindings in groups:
        if where != "everywhere":
            for binding in bindings:
                if isinstance(binding, Binding):
                    for key in binding.key.split(","):
                        rebound.setdefault(key, []).append(where)
    for where, bindings in groups:
        for binding in bindings:
            if not isinstance(binding, Binding):
                continue
            keys = binding.key.split(",")
            what = Text(binding.description)
            if where == "everywhere":
                elsewhere = sorted({w for k in keys for w in rebound.get(k, [])})
                if elsewhere:
                    what.append(f" (not in: {', '.join(elsewhere)})", style="dim")
            table.add_row(" / ".join(key_display(k) for k in keys), what, where)
    return table


class HelpScreen(ModalScreen[None]):
    """Bindings and a short explanation; any of escape, q, ? or F1 closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark,f1", "close", "Close help")]

    def __init__(self, groups: list[tuple[str, list[BindingType]]]) -> None:
        super().__init__()
        self._groups = groups

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            with VerticalScroll(id="help-scroll"):
                for paragraph in ABOUT:
                    yield Static(paragraph, classes="help-paragraph")
                yield Static("[b]keys[/b]", classes="help-heading")
                yield Static(_bindings_table(self._groups, self._key_display), id="help-keys")
            yield Static("[dim]esc, q, ? or F1 closes this[/dim]", id="help-close")

    def _key_display(self, key: str) -> str:
        return self.app.get_key_display(Binding(key, ""))

    def action_close(self) -> None:
        self.dismiss(None)
