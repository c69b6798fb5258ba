"""The flow view: the shop's topology as boxes in path order, filled in from the last run.

Client, DNS, the edge cache (with `cdn.enabled`), balancer and gateway; one box per app
instance (how many requests it served); the layers inside an instance down to SQLite; the queue
and its workers. Each box shows the mean self time spent there and its share of the request,
or its own figure (cache hit rate, queries per request, 429s); red where 5xx errors happened,
magenta where 429s did, dim where a part is switched off. With room it draws bordered boxes in
rows; in a small terminal it draws one line per box.

`a` animates one request's path (the one picked in the Requests tab, else the run's first):
the boxes it passed light up hop by hop in the colour of what happened there, with each hop's
own simulated latency. Space pauses, `.` steps one hop, `+` / `-` change the speed, escape stops.
The hops come from `sandbox.tui.animation`; this widget only ticks a timer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich import box as rich_box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Static

from sandbox.render import KIND_STYLE
from sandbox.settings import Settings
from sandbox.tracing import Trace
from sandbox.tui.animation import OUTCOME_STYLE, Animation, Hop
from sandbox.tui.flowstats import Box, BoxStat, FlowLayout, FlowStats, build_layout, compute_flow, unaccounted
from sandbox.tui.runs import RunRecord

STATE_STYLE = {"ok": "", "idle": "dim", "off": "dim", "error": "bold red", "limited": "bold magenta",
               "down": "bold red"}
MAX_INSTANCE_BOXES = 10
BOX_HEIGHT = 5
MIN_BOX_WIDTH = 13

POINTED_STYLE = "bold yellow"


@dataclass(frozen=True)
class Glow:
    """What stands out. While a request is animated, `hops`: each box passed so far with its
    latest hop and whether it is the current one; otherwise `pointed`, the boxes (keys or
    kinds) a lesson step points at."""

    hops: dict[str, tuple[Hop, bool]] | None = None
    pointed: frozenset[str] = frozenset()


def _border(box: Box) -> str:
    return STATE_STYLE[box.state] or KIND_STYLE.get(box.kind, "white")


def _glowing(box: Box, glow: Glow | None) -> tuple[Box, str | None, str]:
    """`box` as shown now: (box, its lit style or None, a marker: the current hop or pointed)."""
    if glow is None:
        return box, None, ""
    if glow.hops is None:
        pointed = box.key in glow.pointed or box.kind in glow.pointed
        return (box, POINTED_STYLE, "◆ ") if pointed else (box, None, "")
    if box.key not in glow.hops:
        return Box(box.key, box.kind, box.title, "", "", "idle"), None, ""
    hop, current = glow.hops[box.key]
    shown = Box(box.key, box.kind, box.title, f"{hop.latency_ms:.2f} ms", hop.detail, "ok", hop.share)
    return shown, OUTCOME_STYLE[hop.outcome], "▶ " if current else ""


def _panel(box: Box, width: int, glow: Glow | None = None) -> Panel:
    box, lit, current = _glowing(box, glow)
    if lit is not None:
        title = Text(current + box.title, no_wrap=True, overflow="ellipsis",
                     style=f"reverse {lit}" if current else lit)
        body = Text.assemble(title, "\n", (box.figure, "bold"), "\n", (box.note, lit))
        body.no_wrap, body.overflow = True, "ellipsis"
        return Panel(body, box=rich_box.HEAVY if current else rich_box.ROUNDED, border_style=lit,
                     width=width, height=BOX_HEIGHT, padding=(0, 0))
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


def _row(boxes: tuple[Box, ...] | list[Box], width: int, arrows: bool = True,
         glow: Glow | None = None) -> Table:
    grid = Table.grid(padding=0)
    for i in range(len(boxes)):
        if i:
            grid.add_column(width=1)
        grid.add_column(width=width)
    cells: list[RenderableType] = []
    for i, box in enumerate(boxes):
        if i:
            cells.append(Text("\n\n→" if arrows else "", style="dim"))
        cells.append(_panel(box, width, glow))
    grid.add_row(*cells)
    return grid


def _caption(text: str) -> Text:
    return Text(f"  ↓ {text}", style="dim")


def boxes_height(layout: FlowLayout, per_row: int) -> int:
    shown = min(len(layout.instances), MAX_INSTANCE_BOXES)
    instance_rows = max(1, -(-shown // per_row))
    return 2 + BOX_HEIGHT * (3 + instance_rows) + 3


def draw_boxes(layout: FlowLayout, settings: Settings, width: int,
               glow: Glow | None = None) -> RenderableType:
    box_width = max(MIN_BOX_WIDTH, min(20, (width - 4) // 5))
    per_row = max(1, (width + 1) // (box_width + 1))
    parts: list[RenderableType] = [_row(layout.network, box_width, glow=glow)]
    parts.append(_caption(f"the balancer picks an instance ({settings.lb.algorithm})"))
    shown = list(layout.instances[:MAX_INSTANCE_BOXES])
    hidden = len(layout.instances) - len(shown)
    if hidden:
        shown[-1] = Box("more", "instance", f"+{hidden + 1} more", f"{hidden + 1} apps",
                        "not drawn", "idle")
    for start in range(0, len(shown), per_row):
        parts.append(_row(shown[start:start + per_row], box_width, arrows=False, glow=glow))
    parts.append(_caption("inside the instance, layer by layer"))
    parts.append(_row(layout.layers, box_width, glow=glow))
    parts.append(_caption(f"follow-up work for orders (queue.mode={settings.queue.mode})"))
    parts.append(_row(layout.follow_up, box_width, glow=glow))
    return Group(*parts)


def draw_compact(layout: FlowLayout, glow: Glow | None = None) -> RenderableType:
    """One line per box, in path order: for small terminals."""
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True, min_width=12)  # name
    table.add_column(no_wrap=True, justify="right", min_width=9)  # main figure
    table.add_column(no_wrap=True, width=8)  # share bar
    table.add_column(overflow="ellipsis", no_wrap=True)  # notes

    def add(box: Box, prefix: str = "") -> None:
        box, lit, current = _glowing(box, glow)
        if lit is not None:
            name = Text((current or "  ") + box.title, style=f"reverse {lit}" if current else lit)
            bar = Text("█" * max(1, min(8, round(box.share * 8))) if glow and glow.hops else "",
                       style=lit)
            table.add_row(name, Text(box.figure, style="bold"), bar, Text(box.note, style=lit))
            return
        style = STATE_STYLE[box.state] or KIND_STYLE.get(box.kind, "white")
        bar = Text("█" * max(0, min(8, round(box.share * 8))), style=KIND_STYLE.get(box.kind, "white"))
        figure = Text(box.figure, style="bold red" if box.state in ("error", "down") else "bold")
        table.add_row(Text(prefix + box.title, style=style), figure, bar, Text(box.note, style="dim"))

    for b in layout.network:
        add(b, "↓ " if b.kind != "client" else "")
    animating = glow is not None and glow.hops is not None
    if len(layout.instances) <= 4 or animating:
        for b in layout.instances:
            if glow is not None and glow.hops is not None and b.key not in glow.hops:
                continue  # animating: only the instance the request went to
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
    """The diagram. Set `settings` for the current topology; `show(record)` after a run;
    `play(trace)` plays one request's path over it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "animate", "Animate a request"),
        Binding("space", "pause", "Pause / play"),
        Binding("full_stop,right", "step", "Step one hop", key_display="."),
        Binding("plus,equals_sign", "faster", "Faster", key_display="+"),
        Binding("minus", "slower", "Slower"),
        Binding("escape", "stop", "Stop animating"),
    ]

    settings: reactive[Settings] = reactive(Settings, init=False)
    stats: reactive[FlowStats | None] = reactive(None, init=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.record: RunRecord | None = None
        self.compact = False
        self.selected: Trace | None = None  # the request picked in the Requests tab
        self.animation: Animation | None = None
        self.speed = 1.0  # kept from one animation to the next
        self._timer: Timer | None = None
        self.pointed: frozenset[str] = frozenset()  # boxes a lesson step points at

    def compose(self) -> ComposeResult:
        yield Static("", id="flow-caption")
        yield Static("", id="flow-diagram")

    def on_mount(self) -> None:
        self._redraw()

    def show(self, record: RunRecord) -> None:
        """Fill the boxes from a finished run."""
        self.record = record
        self.stats = compute_flow((t for _, t in record.traces), record.metrics)
        if self.selected is not None and all(t is not self.selected for _, t in record.traces):
            self.selected = None

    # -- the animation ----------------------------------------------------------------------

    def play(self, trace: Trace) -> None:
        """Play `trace`'s path hop by hop, from its first hop."""
        self.animation = Animation.of(trace, self.speed)
        self._schedule()
        self._redraw()
        self.refresh_bindings()

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        anim = self.animation
        if anim is not None and not anim.paused and not anim.done:
            self._timer = self.set_timer(anim.dwell(), self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self.animation is not None:
            self.animation.advance()
            self._schedule()
            self._redraw()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "animate":
            return self.record is not None and bool(self.record.traces)
        if action in ("pause", "step", "faster", "slower", "stop"):
            return self.animation is not None
        return True

    def action_animate(self) -> None:
        trace = self.selected
        if trace is None and self.record is not None and self.record.traces:
            trace = self.record.traces[0][1]
        if trace is not None:
            self.play(trace)

    def action_pause(self) -> None:
        anim = self.animation
        if anim is None:
            return
        if anim.done:  # at the end, space plays it again
            anim.restart()
            anim.paused = False
        else:
            anim.paused = not anim.paused
        self._schedule()
        self._redraw()

    def action_step(self) -> None:
        """One hop on, and stay paused there."""
        anim = self.animation
        if anim is None:
            return
        anim.paused = True
        anim.advance()
        self._schedule()
        self._redraw()

    def action_faster(self) -> None:
        if self.animation is not None:
            self.speed = self.animation.faster()
            self._schedule()
            self._redraw()

    def action_slower(self) -> None:
        if self.animation is not None:
            self.speed = self.animation.slower()
            self._schedule()
            self._redraw()

    def action_stop(self) -> None:
        self.animation = None
        self._schedule()
        self._redraw()
        self.refresh_bindings()

    def point_at(self, hops: list[str] | tuple[str, ...]) -> None:
        """Make these boxes stand out (span kinds, or `instance` for every app instance)."""
        self.pointed = frozenset(hops)
        self._redraw()
        self.call_after_refresh(self._scroll_to_pointed)

    def _scroll_to_pointed(self) -> None:
        """In the one-line-per-box drawing, bring the first pointed box into view."""
        if not self.pointed or not self.compact or not self.is_mounted:
            return
        layout = self.layout_now()
        instances = list(layout.instances) if len(layout.instances) <= 4 else list(layout.instances[:1])
        rows = [*layout.network, *instances, *layout.layers, *layout.follow_up]
        first = next((i for i, b in enumerate(rows) if b.key in self.pointed or b.kind in self.pointed),
                     0)
        row = self.query_one("#flow-caption").outer_size.height + first
        visible = self.scrollable_content_region.height
        self.scroll_to(y=0 if row < visible else row - 1, animate=False)

    def _glow(self) -> Glow | None:
        anim = self.animation
        if anim is None:
            return Glow(pointed=self.pointed) if self.pointed else None
        lit = {box: (hop, False) for box, hop in anim.lit().items()}
        lit[anim.current.box] = (anim.current, True)
        return Glow(lit)

    def _animation_caption(self, anim: Animation) -> Text:
        trace, hop = anim.trace, anim.current
        state = "done" if anim.done else ("paused" if anim.paused else "playing")
        caption = Text.assemble(
            ("animating ", "dim"), (f"{trace.method} {trace.path}", "bold"),
            (f" {trace.status}", OUTCOME_STYLE[anim.steps[-1].outcome]),
            (f" · {trace.duration_ms:.2f} ms · hop {anim.index + 1}/{len(anim.steps)} at "
             f"{hop.at_ms:.2f} ms · {anim.speed:g}x · {state}", "dim"))
        caption.append("\n▶ ")
        caption.append(hop.text(), style=OUTCOME_STYLE[hop.outcome])
        keys = "space replay" if anim.done else ("space play · . step" if anim.paused
                                                 else "space pause · . step")
        caption.append(f"\n{keys} · +/- speed · esc stop", style="dim")
        return caption

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
        if self.pointed:
            self.call_after_refresh(self._scroll_to_pointed)

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
        anim = self.animation
        if anim is not None:
            caption = self._animation_caption(anim)
        elif record is None and self.pointed:
            caption = Text("The path of one request; ◆ marks what this step is about.", style="dim")
        elif record is None:
            caption = Text("The path of one request. Run a scenario to fill in the boxes.", style="dim")
        else:
            caption = Text.assemble(
                ("last run: ", "dim"), (record.scenario, "bold"),
                (f" · mean of the newest {len(record.traces):,} requests, own time per part", "dim"))
            if record.plugged:
                caption.append(f"\nserved with {record.plugged} plugged in", style="bold green")
            if drawn != self.settings:
                caption.append("\nswitches changed since: press r to see what they do", style="yellow")
            rest = unaccounted(layout, self.stats)
            if rest:
                caption.append(f"\n{rest}", style="dim")
        self.query_one("#flow-caption", Static).update(caption)
        glow = self._glow()
        diagram = draw_compact(layout, glow) if self.compact else draw_boxes(layout, drawn, width, glow)
        self.query_one("#flow-diagram", Static).update(diagram)
