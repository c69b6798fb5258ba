"""Mechanisms that move: the rate limiter, the cache and the queue as they are right now.

During a run the panel is redrawn from each `LiveState` the run reports (every 50 requests):
the busiest client's bucket draining and refilling (or its window filling), the cache filling
up to its size with the keys it would evict next and those it keeps longest (and the
simulated seconds each has left), the queue's waiting, claimed and finished jobs. After the
run it keeps the last picture. A part that is switched off says so in one dim line.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from sandbox.scenarios.live_state import CachedKey, LiveState

BAR = 16  # characters in a fill bar

LIMITER_NAMES = {"token_bucket": "token bucket", "fixed_window": "fixed window",
                 "sliding_window": "sliding window"}


def bar(value: float, most: float, style: str) -> Text:
    """`value` of `most` as a bar of BAR characters."""
    filled = round(BAR * value / most) if most > 0 else 0
    filled = max(0, min(BAR, filled))
    return Text.assemble(("█" * filled, style), ("░" * (BAR - filled), "dim"))


def _keys(keys: tuple[CachedKey, ...]) -> Text:
    return Text(" · ".join(f"{k.key} ({k.ttl_left_s:.1f} s)" for k in keys) or "none", style="dim")


def render_state(state: LiveState | None) -> RenderableType:
    """The panel's content for `state` (a hint before any run)."""
    if state is None:
        return Text("Run a scenario: the rate limiter, the cache and the queue are drawn here "
                    "as they change.", style="dim")
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    limit = state.limit
    if limit is None:
        table.add_row("rate limit", Text("off (ratelimit.algorithm)", style="dim"))
    else:
        unit = "tokens" if limit.algorithm == "token_bucket" else "requests left in the window"
        low = limit.left < 1.0
        table.add_row("rate limit", Text.assemble(
            f"{LIMITER_NAMES.get(limit.algorithm, limit.algorithm)} · busiest client ",
            (limit.client.split(":", 1)[-1], "cyan")))
        table.add_row("", Text.assemble(bar(limit.left, limit.capacity,
                                             "magenta" if low else "green"),
                                         f" {limit.left:.1f} of {limit.capacity:g} {unit}",
                                         (" · refusing" if low else "", "bold magenta")))
    cache = state.cache
    if cache is None:
        table.add_row("cache", Text("off (cache.strategy)", style="dim"))
    else:
        looked = cache.hits + cache.misses
        rate = f" · {cache.hits / looked:.0%} hits" if looked else ""
        full = cache.entries >= cache.max_entries
        table.add_row("cache", Text.assemble(
            bar(cache.entries, cache.max_entries, "yellow" if full else "cyan"),
            f" {cache.entries:,} of {cache.max_entries:,} entries{rate}",
            (f" · {cache.evictions:,} evicted ({cache.eviction})" if cache.evictions else "",
             "yellow")))
        table.add_row("", Text.assemble(("next out  ", "dim"), _keys(cache.next_out)))
        table.add_row("", Text.assemble(("kept      ", "dim"), _keys(cache.kept)))
    queue = state.queue
    if queue is None:
        table.add_row("queue", Text("sync: follow-up work runs in the request (queue.mode)",
                                    style="dim"))
    else:
        table.add_row("queue", Text.assemble(
            f"{queue.waiting:,} waiting · {queue.claimed:,} claimed · {queue.processed:,} done · ",
            (f"{queue.dead:,} dead", "bold red" if queue.dead else "")))
    done = "the run's end" if state.done >= state.total else f"{state.done:,} of {state.total:,} requests"
    title = Text.assemble(("mechanisms now", "bold"),
                          (f" · {state.t_s:.1f} s into the run, {done}", "dim"))
    return Group(title, table)


class MechanismsPanel(Static):
    """The mechanisms' state; set `state` to redraw."""

    DEFAULT_CSS = """
    MechanismsPanel { height: auto; padding: 0 1; }
    """

    state: reactive[LiveState | None] = reactive(None, always_update=True)

    def on_mount(self) -> None:
        self.update(render_state(self.state))

    def watch_state(self) -> None:
        state = self.state
        # Nothing to watch when every part is off: the panel gives its rows to the flow
        # (at 80x24 they are the difference between seeing SQLite and not).
        self.display = state is None or any(
            part is not None for part in (state.limit, state.cache, state.queue))
        self.update(render_state(state))
