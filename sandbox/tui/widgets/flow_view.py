"""The flow view: the shop's topology as boxes in path order, filled in from the last run.

Client, DNS, balancer and gateway; one box per app instance (how many requests it served);
the layers inside an instance down to SQLite; the queue and its workers. Each box shows the
mean self time spent there and its share of the request, or its own figure (cache hit rate,
queries per request, 429s); red where 5xx errors happened, magenta where 429s did, dim where a
part is switched off. With room it draws bordered boxes in rows; in a small terminal it draws
one line per box.
"""

from __future__ import annotations

from rich import box as rich_box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

from sandbox.render import KIND_STYLE
from sandbox.settings import Settings
from sandbox.tui.flowstats import Box, BoxStat, FlowLayout, FlowStats, build_layout, compute_flow
from sandbox.tui.runs import RunRecord

STATE_STYLE = {"ok": "", "idle": "dim", "off": "dim", "error": "bold red", "limited": "bold magenta",
               "down": "bold red"}
MAX_INSTANCE_BOXES = 10
BOX_HEIGHT = 5
MIN_BOX_WIDTH = 13


def _border(box: Box) -> str:
    return STATE_STYLE[box.state] or KIND_STYLE.get(box.kind, "white")


def _panel(box: Box, width: int) -> Panel:
    kind_style = KIND_STYLE.get(box.kind, "white")
    figure_style = "bold red" if box.state in ("error", "down") else (
        "bold magenta" if box.state == "limited" else "bold")
    body = Text(box.title, style=STATE_STYLE[box.state] or f"bold {kind_style}", no_wrap=True,
                overflow="ellipsis")
    body.append("\n")
    body.append(box.figure, style=figure_style if box.state not in ("idle", "off") else "dim")
    body.append("\n")
    body.append(box.note, style="dim")
    return Panel(body, box=rich_box.ROUNDED, border_style=_border(box), width=width,
                 height=BOX_HEIGHT, padding=(0, 0))


def _row(boxes: tuple[Box, ...] | list[Box], width: int, arrows: bool = True) -> Table:
    grid = Table.grid(padding=0)
    for i in range(len(boxes)):
        if i:
            grid.add_column(width=1)
        grid.add_column(width=width)
    cells: list[RenderableType] = []
    for i, box in enumerate(boxes):
        if i:
            cells.append(Text("\n\n→" if arrows else "", style="dim"))
        cells.append(_panel(box, width))
    grid.add_row(*cells)
    return grid


def _caption(text: str) -> Text:
    return Text(f"  ↓ {text}", style="dim")


def boxes_height(layout: FlowLayout, per_row: int) -> int:
    shown = min(len(layout.instances), MAX_INSTANCE_BOXES)
    instance_rows = max(1, -(-shown // per_row))
    return 2 + BOX_HEIGHT * (3 + instance_rows) + 3


def draw_boxes(layout: FlowLayout, settings: Settings, width: int) -> RenderableType:
    box_width = max(MIN_BOX_WIDTH, min(20, (width - 4) // 5))
    per_row = max(1, (width + 1) // (box_width + 1))
    parts: list[RenderableType] = [_row(layout.network, box_width)]
    parts.append(_caption(f"the balancer picks an instance ({settings.lb.algorithm})"))
    shown = list(layout.instances[:MAX_INSTANCE_BOXES])
    hidden = len(layout.instances) - len(shown)
    if hidden:
        shown[-1] = Box("more", "instance", f"+{hidden + 1} more", f"{hidden + 1} apps",
                        "not drawn", "idle")
    for start in range(0, len(shown), per_row):
        parts.append(_row(shown[start:start + per_row], box_width, arrows=False))
    parts.append(_caption("inside the instance, layer by layer"))
    parts.append(_row(layout.layers, box_width))
    parts.append(_caption(f"follow-up work for orders (queue.mode={settings.queue.mode})"))
    parts.append(_row(layout.follow_up, box_width))
    return Group(*parts)


def draw_compact(layout: FlowLayout) -> RenderableType:
    """One line per box, in path order: for small terminals."""
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)  # name
    table.add_column(no_wrap=True, justify="right")  # main figure
    table.add_column(no_wrap=True, width=8)  # share bar
    table.add_column(overflow="ellipsis", no_wrap=True)  # notes

    def add(box: Box, prefix: str = "") -> None:
        style = STATE_STYLE[box.state] or KIND_STYLE.get(box.kind, "white")
        bar = Text("█" * max(0, min(8, round(box.share * 8))), style=KIND_STYLE.get(box.kind, "white"))
        figure = Text(box.figure, style="bold red" if box.state in ("error", "down") else "bold")
        table.add_row(Text(prefix + box.title, style=style), figure, bar, Text(box.note, style="dim"))

    for b in layout.network:
        add(b, "↓ " if b.kind != "client" else "")
    if len(layout.instances) <= 4:
        for b in layout.instances:
            add(b, "├ ")
    else:
        served = "  ".join(f"{b.title} {b.figure or '-'}" for b in layout.instances)
        errors = any(b.state in ("error", "down") for b in layout.instances)
        table.add_row(Text(f"├ {len(layout.instances)} apps", style="bold red" if errors else "green"),
                      "", "", Text(served, style="dim"))
    for b in layout.layers:
        add(b, "↓ ")
    for b in layout.follow_up:
        add(b, "⇢ ")
    return table


class FlowView(VerticalScroll):
    """The diagram. Set `settings` for the current topology; `show(record)` after a run."""

    settings: reactive[Settings] = reactive(Settings, init=False)
    stats: reactive[FlowStats | None] = reactive(None, init=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.record: RunRecord | None = None
        self.compact = False

    def compose(self) -> ComposeResult:
        yield Static("", id="flow-caption")
        yield Static("", id="flow-diagram")

    def on_mount(self) -> None:
        self._redraw()

    def show(self, record: RunRecord) -> None:
        """Fill the boxes from a finished run."""
        self.record = record
        self.stats = compute_flow((t for _, t in record.traces), record.metrics)

    def box_stat(self, kind: str) -> BoxStat:
        return self.stats.kind(kind) if self.stats else BoxStat()

    def layout_now(self) -> FlowLayout:
        """The boxes as drawn now (tests and the screen read them)."""
        drawn = self.record.settings if self.record else self.settings
        return build_layout(drawn, self.stats)

    def watch_settings(self) -> None:
        self._redraw()

    def watch_stats(self) -> None:
        self._redraw()

    def on_resize(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        if not self.is_mounted:
            return
        record = self.record
        drawn = record.settings if record else self.settings
        layout = build_layout(drawn, self.stats)
        size = self.scrollable_content_region.size
        width = size.width or 80
        box_width = max(MIN_BOX_WIDTH, min(20, (width - 4) // 5))
        per_row = max(1, (width + 1) // (box_width + 1))
        self.compact = width < 5 * MIN_BOX_WIDTH + 4 or size.height < boxes_height(layout, per_row)
        if record is None:
            caption = Text("The path of one request. Run a scenario to fill in the boxes.", style="dim")
        else:
            caption = Text.assemble(
                ("last run: ", "dim"), (record.scenario, "bold"),
                (f" · mean of the newest {len(record.traces):,} requests, own time per part", "dim"))
            if drawn != self.settings:
                caption.append("\nswitches changed since: press r to see what they do", style="yellow")
        self.query_one("#flow-caption", Static).update(caption)
        diagram = draw_compact(layout) if self.compact else draw_boxes(layout, drawn, width)
        self.query_one("#flow-diagram", Static).update(diagram)
