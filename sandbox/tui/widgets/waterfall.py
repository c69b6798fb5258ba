"""A trace waterfall: every span of one request, indented by depth, with its bar and details.

It shows what `sandbox.render.trace_waterfall` (the CLI's) shows, with the same colours and
attributes, laid out for a panel: the name column fits the names, the bar takes the space that
is left, and each span's details (db.plan, cache.hit, ratelimit.remaining, ...) get a full line.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

from sandbox.render import KIND_STYLE, SHOWN_ATTRS, status_style
from sandbox.tracing import Trace

NUMBER_WIDTH = 8  # each of the "start" and "ms" columns
MIN_BAR = 8  # the fewest cells a timeline bar gets
MIN_NAME = 12  # the fewest cells a span's name gets


def trace_header(trace: Trace) -> Text:
    text = Text.assemble((f"{trace.method} {trace.path}", "bold"), "  ",
                         (str(trace.status), status_style(trace.status)))
    if trace.instance:
        text.append(f"  served by {trace.instance}", style="green")
    text.append(f"  {trace.duration_ms:.2f} ms simulated  {trace.request_id}", style="dim")
    return text


def waterfall_lines(trace: Trace, width: int) -> list[Text]:
    """The waterfall as lines of at most `width` cells."""
    spans = list(trace.spans())
    numbers = 2 * NUMBER_WIDTH + 2 + 2  # the start and ms columns, a gap, room for a ✗
    # Names get half the width, or less where the bar would get under MIN_BAR cells.
    name_room = max(MIN_NAME, min(max(16, width // 2), width - numbers - MIN_BAR))
    name_width = min(max(len("  " * d + s.name) for d, s in spans), name_room)
    bar_width = max(MIN_BAR, width - name_width - numbers)
    total = max(trace.duration_ms, 0.001)
    origin = trace.root.start_ms
    head = Text(f"{'span':<{name_width}}{'start':>{NUMBER_WIDTH}}{'ms':>{NUMBER_WIDTH}}  timeline",
                style="dim")
    lines = [head]
    for depth, span in spans:
        style = KIND_STYLE.get(span.kind, "white")
        indent = "  " * depth
        label = (indent + span.name)[:name_width]
        offset = min(int((span.start_ms - origin) / total * bar_width), bar_width - 1)
        length = max(1, int(span.duration_ms / total * bar_width))
        line = Text(f"{label:<{name_width}}", style=style)
        line.append(f"{span.start_ms - origin:>{NUMBER_WIDTH}.2f}{span.duration_ms:>{NUMBER_WIDTH}.2f}  ")
        line.append(" " * offset)
        line.append("█" * min(length, bar_width - offset), style=style)
        if "error" in span.attrs or "fault" in span.attrs:
            line.append(" ✗", style="bold red")
        lines.append(line)
        pad = " " * (len(indent) + 2)
        room = max(10, width - len(pad))
        details = Text(pad, style="dim")
        for key in (k for k in SHOWN_ATTRS if k in span.attrs):
            item = f"{key}={span.attrs[key]}"
            if len(details) > len(pad) and len(details) + 2 + len(item) > width:
                lines.append(details)
                details = Text(pad, style="dim")
            while len(item) > room:  # a long value (a query plan) folds under its own indent
                cut = item.rfind(" ", 0, room)
                cut = cut if cut > 0 else room
                lines.append(Text(pad + item[:cut], style="dim"))
                item = item[cut:].lstrip()
            details.append(("  " if len(details) > len(pad) else "") + item)
        if len(details) > len(pad):
            lines.append(details)
    return lines


class WaterfallView(VerticalScroll):
    """Shows `trace` as a waterfall; a hint while it is None."""

    trace: reactive[Trace | None] = reactive(None, init=False)

    def __init__(self, hint: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="waterfall")
        self._hint = hint

    def compose(self) -> ComposeResult:
        yield Static(self._hint, classes="waterfall-body")

    def watch_trace(self) -> None:
        self.scroll_home(animate=False)
        self._redraw()

    def on_resize(self) -> None:
        self._redraw()

    def span_names(self) -> list[str]:
        """The names of the shown trace's spans, in waterfall order."""
        return [span.name for _, span in self.trace.spans()] if self.trace else []

    def plain_text(self) -> str:
        """The waterfall as plain text (what a reader sees, without colours)."""
        if self.trace is None:
            return ""
        width = max(40, (self.scrollable_content_region.width or 80) - 1)
        lines = [trace_header(self.trace), *waterfall_lines(self.trace, width)]
        return "\n".join(line.plain for line in lines)

    def _redraw(self) -> None:
        self.query_one(".waterfall-body", Static).update(self._render_trace())

    def _render_trace(self) -> RenderableType:
        trace = self.trace
        if trace is None:
            return Text(self._hint, style="dim")
        width = max(40, (self.scrollable_content_region.width or 80) - 1)
        return Group(trace_header(trace), *waterfall_lines(trace, width))
