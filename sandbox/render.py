"""Rich renderings for the command line: a response, a trace waterfall, a metrics table."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from sandbox.course.lessons import Lesson
from sandbox.settings import KeySpec, format_value
from sandbox.tracing import Trace

KIND_STYLE = {
    "client": "white", "dns": "magenta", "lb": "cyan", "gateway": "blue", "instance": "green",
    "controller": "bright_green", "service": "yellow", "cache": "bright_magenta",
    "repository": "bright_yellow", "db": "red", "queue": "bright_cyan", "worker": "bright_blue",
    "edge": "dark_orange",
}
SHOWN_ATTRS = ("db.plan", "db.rows_scanned", "db.vm_steps", "cache.hit", "cache.key",
               "lb.instance", "instance.queue_wait_ms", "dns.host", "ratelimit.remaining",
               "auth.mode", "auth.result", "auth.hash_iterations", "db.strategy", "pagination",
               "error.code", "error", "db.fanout", "db.shard", "db.core_wait_ms",
               "edge.result", "edge.stale", "net.to", "tls.version")


def status_style(status: int) -> str:
    if status == 429:
        return "bold magenta"
    if status >= 500:
        return "bold red"
    if status >= 400:
        return "bold yellow"
    return "bold green"


def response_view(status: int, headers: list[tuple[str, str]], body: bytes) -> RenderableType:
    """Status line, headers, and the body (pretty JSON when it is JSON)."""
    head = Text.assemble(("HTTP/1.1 ", "dim"), (str(status), status_style(status)))
    table = Table.grid(padding=(0, 1))
    for key, value in headers:
        table.add_row(Text(f"{key}:", style="cyan"), Text(value))
    return Group(head, table, Text(""), body_view(body))


def body_view(body: bytes, *, compact: bool = False, max_chars: int | None = None
              ) -> RenderableType:
    """A response body: coloured JSON when it is JSON (indented, or when `compact` on as few
    lines as it wraps to), plain text when not; cut after `max_chars`."""
    try:
        data = json.loads(body)
    except ValueError:
        return Text(_cut(body.decode("utf-8", "replace"), max_chars))
    text = json.dumps(data, indent=None if compact else 2, ensure_ascii=False)
    return Syntax(_cut(text, max_chars), "json", theme="ansi_dark", word_wrap=True)


def _cut(text: str, max_chars: int | None) -> str:
    return text if max_chars is None or len(text) <= max_chars else text[:max_chars] + " …"


def trace_waterfall(trace: Trace, width: int = 24) -> Table:
    """Every span as a row: name indented by depth, start, duration and a bar; details below."""
    total = max(trace.duration_ms, 0.001)
    origin = trace.root.start_ms
    table = Table(title=f"trace {trace.request_id} · {trace.duration_ms:.2f} ms simulated",
                  title_justify="left", box=None, pad_edge=False, show_edge=False)
    table.add_column("span", overflow="fold", ratio=1, min_width=28)
    table.add_column("start ms", justify="right", no_wrap=True, min_width=8)
    table.add_column("ms", justify="right", no_wrap=True, min_width=7)
    table.add_column("timeline", no_wrap=True, width=width)
    for depth, span in trace.spans():
        style = KIND_STYLE.get(span.kind, "white")
        offset = min(int((span.start_ms - origin) / total * width), width - 1)
        length = max(1, int(span.duration_ms / total * width))
        bar = Text(" " * offset) + Text("█" * min(length, width - offset), style=style)
        indent = "  " * depth
        table.add_row(Text(indent + span.name, style=style), f"{span.start_ms - origin:.2f}",
                      f"{span.duration_ms:.2f}", bar)
        details = "  ".join(f"{k}={span.attrs[k]}" for k in SHOWN_ATTRS if k in span.attrs)
        if details:
            table.add_row(Padding(Text(details, style="dim"), (0, 0, 0, len(indent) + 2)),
                          "", "", "")
    return table


def metrics_table(metrics: dict[str, Any]) -> Table:
    """The headline numbers of a scenario run."""
    table = Table(title=f"scenario {metrics.get('scenario', '')} · seed {metrics.get('seed', '')}"
                  " · simulated time", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    lat = metrics["latency_ms"]
    rows = [
        ("requests", f"{metrics['requests']:,}" + (
            f" (after {metrics['warmup_requests']:,} warm-up, not measured)"
            if metrics.get("warmup_requests") else "")),
        ("simulated duration", f"{metrics['duration_s']:.2f} s"),
        ("throughput", f"{metrics['throughput_rps']:,.1f} req/s"),
        ("latency p50 / p95 / p99", f"{lat['p50']:.2f} / {lat['p95']:.2f} / {lat['p99']:.2f} ms"),
        ("latency max", f"{lat['max']:.2f} ms"),
        ("status", "  ".join(f"{code}: {n:,}" for code, n in metrics["status"].items())),
        ("cache hits / misses", f"{metrics['cache']['hits']:,} / {metrics['cache']['misses']:,}"
                                f" (hit rate {metrics['cache']['hit_rate']:.1%})"),
        ("db queries / rows examined",
         f"{metrics['db']['queries']:,} / {metrics['db']['rows_scanned']:,}"),
        ("rate-limited (429)", f"{metrics['ratelimit']['rejected']:,}"),
        ("queue published / processed / e-mails / dead / lost",
         " / ".join(str(metrics["queue"].get(k, 0)) for k in
                    ("published", "processed", "emails_sent", "dead_lettered", "lost"))),
        ("requests per instance", "  ".join(f"{k}:{v:,}" for k, v in
                                            metrics["instances"].items())),
    ]
    events = metrics["queue"].get("events") or {}
    if any(events.get(k) for k in ("lost", "pending", "out_of_order")):
        rows.insert(-1, ("events delivered / lost / waiting / out of order", " / ".join(
            str(events.get(k, 0)) for k in ("delivered", "lost", "pending", "out_of_order"))))
    shards = metrics.get("shards")
    if shards:  # `db.shards` above 1
        rows += [(f"shard {k} queries / p95 / share",
                  f"{s['queries']:,} / {s['p95_ms']:.2f} ms / {s['query_share']:.0%}")
                 for k, s in shards["by_shard"].items()]
        rows.append(("reads asking every shard (fan-out)", f"{shards['fanout_reads']:,}"))
    for section in ("credential_stuffing", "revocation"):  # the auth scenarios' own figures
        for key, value in metrics.get(section, {}).items():
            rows.append((f"{section}.{key}", "-" if value is None else f"{value:,}"))
    for name, stats in metrics.get("clients", {}).items():  # scenarios with client classes
        rows.append((f"{name}: requests / p95 / 429 / 5xx",
                     f"{stats['requests']:,} / {stats['p95_ms']:.2f} ms / "
                     f"{stats['refused_429']:,} / {stats['failed_5xx']:,}"))
        rows.append((f"{name}: database time", f"{stats['db_time_ms']:,.1f} ms "
                                               f"({stats['db_share']:.1%} of it)"))
    sale = metrics.get("flash_sale")
    if sale:
        rows.append(("flash sale: units sold / stock at start",
                     f"{sale['units_sold']:,} / {sale['stock_at_start']:,}"))
        rows.append(("flash sale: units oversold / stock left",
                     f"{sale['units_oversold']:,} / {sale['stock_left']:,}"))
    for name, value in rows:
        table.add_row(Text(name), Text(value))
    return table


def endpoints_table(metrics: dict[str, Any]) -> Table:
    table = Table(title="by action", title_justify="left")
    for column in ("action", "requests", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "action" else "right")
    for action, stats in metrics["endpoints"].items():
        table.add_row(Text(action), f"{stats['requests']:,}", f"{stats['p50']:.2f}",
                      f"{stats['p95']:.2f}", f"{stats['p99']:.2f}")
    return table


def settings_table(specs: list[KeySpec], values: dict[str, Any]) -> Table:
    table = Table(title="settings (use --set key=value)", title_justify="left")
    table.add_column("key", style="cyan", no_wrap=True)  # cells are Text: no markup parsing
    table.add_column("value")
    table.add_column("accepts")
    table.add_column("what it does")
    for spec in specs:
        value = format_value(values[spec.key])
        default = format_value(spec.default)
        shown = Text(value, style="bold" if value != default else "")
        table.add_row(Text(spec.key), shown, Text(spec.describe()), Text(spec.help))
    return table


def lesson_view(lesson: Lesson) -> RenderableType:
    """A lesson for reading in the terminal: intro, steps, what each step does, checkpoints."""
    from rich.markdown import Markdown
    from rich.panel import Panel
    from rich.rule import Rule

    parts: list[RenderableType] = [
        Rule(Text(f"{lesson.title}  ·  topic {lesson.topic}: {lesson.topic_name}", style="bold")),
        Markdown(lesson.intro) if lesson.intro else Text(""),
    ]
    for number, step in enumerate(lesson.steps, start=1):
        parts.append(Text(f"\n{number}. {step.title}", style="bold cyan"))
        if step.text.strip():
            parts.append(Markdown(step.text))
        doing = []
        if step.reset:
            doing.append("reset every switch")
        doing += [f"set {k} = {format_value(v)}" for k, v in step.settings.items()]
        if step.run:
            doing.append(f"run {step.run.scenario}"
                         + (f" ({step.run.requests:,} requests)" if step.run.requests else ""))
        if step.request:
            doing.append(f"send {step.request.method} {step.request.path}")
        if doing:
            parts.append(Text("  in the sandbox: " + "; ".join(doing), style="dim"))
        for point in step.checkpoints:
            body = Text(point.question + "\n", style="bold")
            for letter, index in zip("abcdefgh", point.display_order(), strict=False):
                body.append(f"  {letter}) {point.choices[index].text}\n")
            if point.kind == "challenge":
                target = (f"below {point.below:g}" if point.below is not None
                          else f"above {point.above:g}")
                body.append(f"  goal: {point.metric} {target}\n", style="yellow")
            parts.append(Panel(body, title=f"checkpoint · {point.kind}", title_align="left",
                               border_style="yellow"))
    return Group(*parts)


def bench_table(rows: list[dict[str, Any]]) -> Group:
    """The bench rows as a table, then what each row's baseline is (the notes)."""
    table = Table(title="sandbox bench (ratios against baselines measured in this run)",
                  title_justify="left")
    for column in ("#", "figure", "value", "baseline", "ratio", "target", "met"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    notes = Text()
    for number, row in enumerate(rows, start=1):
        met = row["met"]
        table.add_row(
            str(number),
            Text(row["name"]),
            f"{row['value']:,.2f} {row['unit']}",
            f"{row['baseline']:,.2f}" if row["baseline"] is not None else "-",
            f"{row['ratio']:.2f}x" if row["ratio"] is not None else "-",
            Text(row["target"] or "-"),
            Text("yes", style="green") if met else (Text("no", style="red") if met is False
                                                    else Text("-")),
        )
        if row.get("note"):
            notes.append(f"\n{number:>2}. ", style="dim")
            notes.append(row["note"])
    return Group(table, Text("notes", style="bold") + notes if notes else Text())


def alerts_table(metrics: dict[str, Any]) -> Table:
    """Each alert rule of the run: what it watched, whether and when it fired and resolved."""
    table = Table(title="alerts (evaluated every 0.1 s of simulated time)", title_justify="left")
    for column in ("rule", "fired", "peak"):
        table.add_column(column, justify="right" if column == "peak" else "left")
    for name, alert in metrics.get("alerts", {}).items():
        fired = Text(alert_firings(alert), style="bold red" if alert["fired"] else "green")
        peak = alert["peak"]
        shown = "-" if peak is None else (f"{peak:.1%}" if name == "error_rate"
                                          else f"{peak:,.1f} ms")
        table.add_row(Text(f"{name}: {alert['rule']}"), fired, shown)
    return table


def alert_firings(alert: dict[str, Any]) -> str:
    """`at 4.6 s (resolved 6.1 s)` for each firing, or `no`."""
    if not alert["fired"]:
        return "no"
    return ", ".join(
        f"at {f['fired_at_s']:g} s" + ("" if f["resolved_at_s"] is None
                                       else f" (resolved {f['resolved_at_s']:g} s)")
        for f in alert["firings"])


def deploy_summary(deploy: dict[str, Any]) -> list[tuple[str, str]]:
    """The deploy's headline figures as (label, value) rows."""
    bad = deploy["bad_release"]
    rows = [("deploy", f"{deploy['strategy']}, v2 {'broken: ' + bad if bad != 'off' else 'healthy'}"
                       f", from {deploy['started_at_s']:g} s"),
            ("errors since it began", f"{deploy['errors']:,} ("
             + ", ".join(f"{v}: {n:,}" for v, n in deploy["errors_by_version"].items()) + ")"
             if deploy["errors"] else "0")]
    if deploy["switched_at_s"] is not None:
        rows.append(("traffic moved to v2", f"at {deploy['switched_at_s']:g} s"))
    if deploy["finished_at_s"] is not None:
        rows.append(("all traffic on v2", f"from {deploy['finished_at_s']:g} s"))
    rollback = deploy["rollback"]
    if rollback is not None:
        done = rollback["completed_at_s"]
        if done is None:
            rows.append(("rolled back", f"ordered {rollback['ordered_at_s']:g} s, still under "
                         "way when the run ended"))
        else:
            after_alert = rollback["from_alert_s"]
            rows.append(("rolled back", f"ordered {rollback['ordered_at_s']:g} s, done {done:g} s"
                         f" ({rollback['from_deploy_start_s']:g} s after the deploy began"
                         + ("" if after_alert is None else f", {after_alert:g} s after the alert")
                         + ")"))
    return rows


TIMELINE_LEGEND = "v1/v2 serving · ~ draining · + warming up · -- no process"


def deploy_timeline_table(deploy: dict[str, Any]) -> Table:
    """Second by second: each instance's state (in order, when it changed) and who served."""
    names = sorted({n for row in deploy["timeline"] for n in row["instances"]},
                   key=lambda n: (len(n), n))
    table = Table(title="deploy timeline · " + TIMELINE_LEGEND, title_justify="left")
    table.add_column("s", justify="right")
    for name in names:
        table.add_column(name, no_wrap=True)
    table.add_column("served (5xx)", no_wrap=True)
    for row in deploy["timeline"]:
        served = "  ".join(f"{v} {n}" + (f" ({row['errors'][v]})" if row["errors"].get(v) else "")
                           for v, n in row["served"].items())
        table.add_row(str(row["second"]), *(Text(row["instances"].get(n, "")) for n in names),
                      Text(served))
    return table
