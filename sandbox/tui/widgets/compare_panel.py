"""Before and after: the last two runs side by side, and what differed between them.

This is where a learner sees what a switch did. Each headline number reads "before → after"
with its change coloured by whether it got better (green) or worse (red); below, latency by
action (a dropped index may only hurt one endpoint), then every setting that differed.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from sandbox.tui.runs import Comparison, Verdict

VERDICT_STYLE: dict[Verdict, str] = {"better": "bold green", "worse": "bold red", "same": "dim"}
HINT = (
    "Nothing to compare yet.\n\n"
    "After two runs this shows each number as [b]before → after[/b], green where it got "
    "better and red where it got worse, and lists the switches you flipped in between."
)


def _arrow(before: str, after: str) -> Text:
    return Text.assemble((before, "dim"), " → ", (after, "bold"))


def headline_rows(comparison: Comparison) -> Table:
    """Each headline number before → after. Between two different experiments the change
    is not coloured: better or worse would credit a switch with what the scenario did."""
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True, style="dim")
    table.add_column(overflow="fold")
    table.add_column(justify="right", no_wrap=True)
    judged = not comparison.other_experiment
    for row in comparison.rows:
        table.add_row(row.label, _arrow(row.before, row.after),
                      Text(row.change, style=VERDICT_STYLE[row.verdict] if judged else "dim"))
    return table


def experiment_warning(comparison: Comparison) -> Text | None:
    """A warning when the two runs are not the same experiment, or None."""
    differing = comparison.other_experiment
    if not differing:
        return None
    what = ", ".join(f"{c.key} {c.before} → {c.after}" for c in differing)
    return Text.assemble(("⚠ not the same experiment ", "bold yellow"), f"({what}): the numbers "
                         "differ for that reason too. Run both with the same scenario, size and "
                         "seed to see what a switch does.")


def action_rows(comparison: Comparison) -> Table:
    """p95 by action, before → after, for actions both runs had."""
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True, style="dim")
    table.add_column(overflow="fold")
    table.add_column(justify="right", no_wrap=True)
    before = comparison.before.metrics.get("endpoints", {})
    after = comparison.after.metrics.get("endpoints", {})
    for action in sorted(set(before) & set(after)):
        a, b = before[action]["p95"], after[action]["p95"]
        rel = (b - a) / a if a else 0.0
        verdict: Verdict = "same" if abs(rel) < 0.01 else ("better" if rel < 0 else "worse")
        change = "=" if verdict == "same" else (f"{rel:+.0%}" if abs(rel) >= 0.1 else f"{rel:+.1%}")
        table.add_row(action, _arrow(f"{a:.1f}", f"{b:.1f}"), Text(change, style=VERDICT_STYLE[verdict]))
    return table


def changes_text(comparison: Comparison) -> Text:
    if not comparison.changes:
        return Text("nothing: same switches, scenario and seed, so the same numbers",
                    style="dim")
    text = Text()
    for change in comparison.changes:
        if text:
            text.append("\n")
        text.append(change.key, style="bold cyan")
        text.append(": ")
        text.append(change.before, style="dim")
        text.append(" → ")
        text.append(change.after, style="bold")
    return text


class ComparePanel(Static):
    """The before/after of the last two runs; `comparison` is None until there are two."""

    comparison: reactive[Comparison | None] = reactive(None, always_update=True)

    def on_mount(self) -> None:
        self.update(self._render_comparison())

    def watch_comparison(self) -> None:
        self.update(self._render_comparison())

    def _render_comparison(self) -> RenderableType:
        comparison = self.comparison
        if comparison is None:
            return Text.from_markup(HINT)
        warning = experiment_warning(comparison)
        return Group(
            *([warning, Text("")] if warning else []),
            Text("what changed", style="bold"),
            changes_text(comparison),
            Text(""),
            headline_rows(comparison),
            Text(""),
            Text("p95 by action (ms)", style="bold"),
            action_rows(comparison),
        )
