"""The requests of the last run (the newest ones kept) and the waterfall of the highlighted one.

Moving the cursor through the table shows each request's trace at once; `o` toggles between
arrival order and slowest first; `a` plays the request's path in the Flow tab.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable, Static

from sandbox.render import status_style
from sandbox.tracing import Trace
from sandbox.tui.runs import RunRecord
from sandbox.tui.widgets.waterfall import WaterfallView

# (label, key, width)
COLUMNS = (("id", "id", 10), ("action", "action", 15), ("request", "request", 18),
           ("st", "status", 3), ("ms", "ms", 7), ("app", "instance", 6))


class RequestsView(Vertical):
    """A table of kept traces over a waterfall of the one under the cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "toggle_order", "Slowest first / arrival order"),
        Binding("a", "animate", "Animate in the flow"),
    ]

    @dataclass
    class Picked(Message):
        """The cursor is on another request."""

        trace: Trace

    @dataclass
    class AnimateRequested(Message):
        """The learner asked to see this request's path animated in the flow view."""

        trace: Trace

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._traces: dict[str, tuple[str, Trace]] = {}
        self._total = 0
        self.slowest_first = False

    def compose(self) -> ComposeResult:
        yield Static("No requests yet: run a scenario first.", id="requests-caption")
        table: DataTable[str | Text] = DataTable(id="requests-table", cursor_type="row",
                                                 zebra_stripes=True)
        yield table
        yield WaterfallView("Highlight a request above to see its trace.", id="waterfall")

    def on_mount(self) -> None:
        table = self.table
        for label, key, width in COLUMNS:
            table.add_column(label, key=key, width=width)

    @property
    def table(self) -> DataTable[str | Text]:
        return self.query_one("#requests-table", DataTable)

    @property
    def waterfall(self) -> WaterfallView:
        return self.query_one(WaterfallView)

    def show(self, record: RunRecord) -> None:
        """Fill the table with `record`'s kept traces and show the first one's waterfall."""
        table = self.table
        table.clear()
        self._traces = {}
        for action, trace in record.traces:
            self._traces[trace.request_id] = (action, trace)
            table.add_row(
                trace.request_id, action,
                Text(f"{trace.method} {trace.path}", overflow="ellipsis", no_wrap=True),
                Text(str(trace.status), style=status_style(trace.status)),
                Text(f"{trace.duration_ms:.2f}", justify="right"),
                (trace.instance or "-").replace("app-", "#"),
                key=trace.request_id,
            )
        if self.slowest_first:
            self._sort()
        self._total = record.requests
        self._caption()
        if record.traces:
            table.move_cursor(row=0)
            self.waterfall.trace = self.trace_at(0)[1]
        else:
            self.waterfall.trace = None

    def _caption(self) -> None:
        order = "slowest first" if self.slowest_first else "in arrival order"
        other = "arrival order" if self.slowest_first else "slowest first"
        self.query_one("#requests-caption", Static).update(
            f"[b]{len(self._traces):,}[/b] newest of {self._total:,} requests, {order} · "
            f"↑↓ pick one · [b]o[/b] {other}")

    def trace_at(self, row: int) -> tuple[str, Trace]:
        """(action, trace) of the table's row number `row`, in the current order."""
        key = self.table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value
        return self._traces[str(key)]

    def row_of(self, action: str) -> int | None:
        """The first row (in the current order) whose request was `action`."""
        for row in range(self.table.row_count):
            if self.trace_at(row)[0] == action:
                return row
        return None

    def _sort(self) -> None:
        if self.slowest_first:  # by the exact duration, not the rounded text in the cell
            self.table.sort("id", key=lambda rid: self._traces[str(rid)][1].duration_ms, reverse=True)
        else:
            self.table.sort("id", key=str)

    def action_toggle_order(self) -> None:
        self.slowest_first = not self.slowest_first
        if self._traces:
            self._sort()
            self.table.move_cursor(row=0)
            self._caption()

    @on(DataTable.RowHighlighted, "#requests-table")
    @on(DataTable.RowSelected, "#requests-table")
    def _pick(self, event: DataTable.RowHighlighted | DataTable.RowSelected) -> None:
        event.stop()
        # The row under the cursor now, not the event's: a highlight queued while the table
        # was filled (before it was sorted) would otherwise show a request the sorted list
        # does not have where the cursor is.
        if not self._traces or self.table.row_count == 0:
            return
        picked = self.trace_at(self.table.cursor_row)
        if picked is not None:
            self.waterfall.trace = picked[1]
            self.post_message(self.Picked(picked[1]))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "animate":
            return self.waterfall.trace is not None
        return True

    def action_animate(self) -> None:
        trace = self.waterfall.trace
        if trace is not None:
            self.post_message(self.AnimateRequested(trace))
