"""The metrics panel: the headline numbers of the last run, and a table by action.

`metrics` holds the run's metrics dict exactly as `run_scenario` returned it (tests read it);
the panel redraws whenever it is set.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from sandbox.render import TIMELINE_LEGEND, alert_firings, deploy_summary, status_style
from sandbox.tui.runs import status_counts

EMPTY_HINT = (
    "No run yet.\n\n"
    "Press [b]r[/b] to fire the scenario at the shop. Then flip a switch on the left "
    "(try [b]topology.instances[/b] or [b]cache.strategy[/b]) and run again: the panel on "
    "the right compares the two runs."
)


def status_text(metrics: dict[str, Any]) -> Columns:
    """Each status code and its count, coloured: 2xx green, 4xx yellow, 429 magenta, 5xx red.
    In a narrow panel the pairs wrap as pairs, never between a code and its count."""
    return pairs((Text.assemble((str(code), status_style(code)), f" {n:,}"))
                 for code, n in status_counts(metrics).items())


def pairs(items: Iterable[Text]) -> Columns:
    """Short items side by side, wrapping whole items onto the next line when they run out."""
    return Columns(list(items), padding=(0, 2, 0, 0))


def _pair(*values: str) -> str:
    return "/".join(values)


# Figures of the auth scenarios (credential_stuffing, token_revocation), when a run has them.
SECTION_ROWS: tuple[tuple[str, str], ...] = (
    ("credential_stuffing.guesses_let_through", "guesses let in"),
    ("credential_stuffing.accounts_taken_over", "taken over"),
    ("credential_stuffing.legit_logins_refused", "users refused"),
    ("revocation.served_after_revocation", "served after revoke"),
    ("revocation.refused_after_revocation", "refused after"),
)


def headline_table(metrics: dict[str, Any]) -> Table:
    """Label and value rows, narrow enough for half the main area (about 35 columns)."""
    lat, cache, db, queue = metrics["latency_ms"], metrics["cache"], metrics["db"], metrics["queue"]
    table = Table.grid(padding=(0, 1))
    table.add_column(style="dim", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("p50/95/99 ms", Text(_pair(f"{lat['p50']:.2f}", f"{lat['p95']:.2f}",
                                               f"{lat['p99']:.2f}"), style="bold"))
    table.add_row("mean / max ms", _pair(f"{lat['mean']:.2f}", f"{lat['max']:.2f}"))
    table.add_row("throughput", f"{metrics['throughput_rps']:,.1f} req/s")
    table.add_row("status", status_text(metrics))
    rejected = metrics["ratelimit"]["rejected"]
    table.add_row("429 refused", Text(f"{rejected:,}", style="bold magenta" if rejected else ""))
    looked = cache["hits"] + cache["misses"]
    table.add_row("cache hit rate", Text(f"{cache['hit_rate']:.1%} of {looked:,}") if looked
                  else Text("no lookups", style="dim"))
    for key, label in (("stale_reads", "stale cache reads"), ("evictions", "cache evictions")):
        if cache.get(key):
            table.add_row(label, Text(f"{cache[key]:,}", style="yellow"))
    stampede = cache.get("stampede")
    if stampede:  # the stampede scenario: the hot key's loads after each expiry
        table.add_row("hot-key loads", f"{stampede['db_loads_after_expiry_max']:,} at most "
                      f"per expiry ({stampede['protection']})")
        table.add_row("hot p99 after", f"{stampede['hot_p99_after_expiry_ms']:.2f} ms")
    if "lost_writes" in cache:  # the price_edits scenario: write-behind rows never saved
        lost = cache["lost_writes"]
        table.add_row("lost writes", Text(f"{lost:,}", style="bold red" if lost else ""))
    table.add_row("db queries", f"{db['queries']:,}")
    table.add_row("rows examined", f"{db['rows_scanned']:,}")
    for key, label in (("replica_queries", "replica queries"), ("stale_reads", "stale db reads"),
                       ("pool_waits", "pool waits")):
        if db.get(key):
            table.add_row(label, Text(f"{db[key]:,}", style="yellow"))
    if metrics.get("settings", {}).get("db.rating") == "computed":
        rating = metrics["rating"]
        table.add_row("rows / product load", f"{rating['rows_read_per_product_load']:,.1f}")
        table.add_row("writes / review", _pair(f"{rating['statements_per_review']:g}",
                                               f"{rating['rows_written_per_review']:g} rows"))
    shards = metrics.get("shards")
    if shards:  # only with db.shards above 1
        for number, shard in shards["by_shard"].items():
            table.add_row(f"shard {number}", Text(
                f"{shard['queries']:,} q · p95 {shard['p95_ms']:.2f} ms · {shard['query_share']:.0%}",
                style="yellow" if shard["query_share"] > 1.5 / shards["count"] else ""))
        if shards.get("fanout_reads"):
            table.add_row("fan-out reads", Text(f"{shards['fanout_reads']:,}", style="yellow"))
    table.add_row("queue pub/done", _pair(f"{queue.get('published', 0):,}",
                                          f"{queue.get('processed', 0):,}"))
    bad = queue.get("dead_lettered", 0) or queue.get("lost", 0)
    table.add_row("dead / lost", Text(_pair(f"{queue.get('dead_lettered', 0):,}",
                                            f"{queue.get('lost', 0):,}"), style="bold red" if bad else ""))
    events = queue.get("events") or {}
    for key, label in (("lost", "events lost"), ("pending", "events waiting"),
                       ("out_of_order", "events out of order")):
        if events.get(key):  # shown when an event experiment makes them happen
            table.add_row(label, Text(f"{events[key]:,}",
                                      style="bold red" if key == "lost" else "yellow"))
    edge = metrics.get("cdn", {})
    if edge.get("hits", 0) + edge.get("misses", 0):
        table.add_row("edge hit rate", Text(f"{edge['hit_rate']:.1%}, "
                                            f"{edge['origin_requests_saved']:,} saved"))
        if edge.get("stale_hits"):
            table.add_row("stale edge hits", Text(f"{edge['stale_hits']:,}", style="yellow"))
    conns = metrics.get("connections", {})
    if conns.get("new"):
        table.add_row("new connections", f"{conns['new']:,}, {conns['handshake_ms']:,.0f} ms "
                                          "handshaking")
    if conns.get("dns_lookups"):
        table.add_row("dns lookups", f"{conns['dns_lookups']:,}")
    for key, label in SECTION_ROWS:  # only the scenarios that measure them
        section, _, name = key.partition(".")
        if section in metrics:
            table.add_row(label, Text(f"{metrics[section][name]:,}", style="bold"))
    instances = metrics.get("instances", {})
    if instances:
        table.add_row("served by", pairs(Text(f"{k} {v:,}") for k, v in instances.items()))
    for name, alert in metrics.get("alerts", {}).items():
        table.add_row(f"alert {name}", Text(alert_firings(alert),
                                            style="bold red" if alert["fired"] else "green"))
    for name, stats in metrics.get("clients", {}).items():  # scenarios with client classes
        table.add_row(f"{name} p95", Text(f"{stats['p95_ms']:.2f} ms of {stats['requests']:,}",
                                          style="bold"))
        table.add_row(f"{name} 429/5xx", _pair(f"{stats['refused_429']:,}",
                                               f"{stats['failed_5xx']:,}"))
        table.add_row(f"{name} db time", f"{stats['db_time_ms']:,.0f} ms ({stats['db_share']:.0%})")
    sale = metrics.get("flash_sale")
    if sale:
        over = sale["units_oversold"]
        table.add_row("units sold", f"{sale['units_sold']:,} of {sale['stock_at_start']:,}")
        table.add_row("oversold", Text(f"{over:,}", style="bold red" if over else "bold green"))
        table.add_row("stock left", f"{sale['stock_left']:,}")
    return table


def deploy_view(deploy: dict[str, Any]) -> Group:
    """A deploy's figures, then its timeline: one line a second, each instance's state."""
    summary = Table.grid(padding=(0, 1))
    summary.add_column(style="dim", no_wrap=True)
    summary.add_column(overflow="fold")
    for label, value in deploy_summary(deploy):
        summary.add_row(label, value)
    names = sorted({n for row in deploy["timeline"] for n in row["instances"]},
                   key=lambda n: (len(n), n))
    timeline = Table(box=None, pad_edge=False, header_style="dim", padding=(0, 0, 0, 1))
    timeline.add_column("s", justify="right")
    for name in names:
        timeline.add_column(name, no_wrap=True)
    timeline.add_column("5xx", justify="right")
    for row in deploy["timeline"]:
        failed = sum(row["errors"].values())
        timeline.add_row(str(row["second"]), *(row["instances"].get(n, "") for n in names),
                         Text(f"{failed:,}", style="bold red" if failed else "dim"))
    return Group(Text("deploy", style="bold"), summary, Text(TIMELINE_LEGEND, style="dim"),
                 timeline)


def by_action_table(metrics: dict[str, Any]) -> Table:
    table = Table(box=None, pad_edge=False, expand=False, header_style="dim", padding=(0, 0, 0, 1))
    table.add_column("action", no_wrap=True)
    for name in ("n", "p50", "p95"):
        table.add_column(name, justify="right", no_wrap=True)
    for action, stats in metrics.get("endpoints", {}).items():
        table.add_row(action, f"{stats['requests']:,}", f"{stats['p50']:.1f}", f"{stats['p95']:.1f}")
    return table


class MetricsPanel(Static):
    """Headline metrics of the last run, then latency by action."""

    metrics: reactive[dict[str, Any] | None] = reactive(None, always_update=True)

    def on_mount(self) -> None:
        self.update(self._render_metrics())

    def watch_metrics(self) -> None:
        self.update(self._render_metrics())

    def _render_metrics(self) -> RenderableType:
        metrics = self.metrics
        if metrics is None:
            return Text.from_markup(EMPTY_HINT)
        changed = metrics.get("settings", {})
        title = Text.assemble(
            (f"{metrics.get('scenario', '')}", "bold"),
            f" · {metrics['requests']:,} requests · seed {metrics.get('seed', '')}",
            (f"\n{metrics['duration_s']:,.1f} s of simulated time", "dim"),
        )
        switches = Text("defaults" if not changed else
                        "  ".join(f"{k}={v}" for k, v in changed.items()), style="cyan")
        switches.overflow = "fold"
        parts: list[RenderableType] = [
            title, switches, Text(""), headline_table(metrics), Text(""),
            Text("latency by action (ms)", style="bold"), by_action_table(metrics)]
        if metrics.get("deploy"):
            parts += [Text(""), deploy_view(metrics["deploy"])]
        return Group(*parts)
