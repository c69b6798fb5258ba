"""Time, drawn: one run's requests or latency over its simulated seconds (textual-plotext).

A total hides when things happened: a fixed window lets a burst through at each window's
start, a cache expiring makes latency jump for a moment. These charts draw the run's `series`
(answered, refused and failed requests per second, p95 latency and the cache hit rate, per
tenth of a second or coarser for a long run), with the axes labelled in their units.
"""

from __future__ import annotations

from typing import Any, Literal

from textual_plotext import PlotextPlot

What = Literal["traffic", "refusals", "latency", "hit_rate", "queue", "auto"]


def _any(series: dict[str, Any], *keys: str) -> bool:
    return any(v for key in keys for v in series.get(key, []) if v)


def _looked(series: dict[str, Any]) -> bool:
    """Whether a run looked anything up in the cache (a hit rate exists somewhere)."""
    return any(v is not None for v in series.get("hit_rate_pct", []))


def _queued(series: dict[str, Any]) -> bool:
    """Whether anything waited in the run's queue or event streams at some point."""
    return _any(series, "queue_lag", "events_lag")


class TimelineChart(PlotextPlot):
    """One chart over simulated time: requests per second by outcome ("traffic"), refused
    and failed requests per second ("refusals"), p95 latency ("latency") or the cache hit rate
    ("hit_rate"; hidden when nothing was looked up) or the backlog of jobs and events over time
    ("queue"; hidden when nothing ever waited); "auto" picks refusals when either run had
    any, else the hit rate when either looked anything up, else latency (what a lesson step
    is about). With
    `before`, the earlier run is drawn in grey on the same axes, so two algorithms or two
    switches are read side by side in time."""

    DEFAULT_CSS = """
    TimelineChart { height: 12; width: 1fr; }
    """

    def __init__(self, what: What = "traffic", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.what: What = what
        self.drawn: What | None = None  # what is shown now (tests read it)

    def show(self, metrics: dict[str, Any] | None, before: dict[str, Any] | None = None,
             before_label: str = "before") -> None:
        plt = self.plt
        plt.clear_figure()
        series = (metrics or {}).get("series") or {}
        earlier = (before or {}).get("series") or {}
        self.display = bool(series.get("t_s"))
        if not self.display:
            self.drawn = None
            return
        what = self.what
        looked = _looked(series) or _looked(earlier)
        if what == "auto":
            bad = ("refused_per_s", "failed_per_s")
            what = ("refusals" if _any(series, *bad) or _any(earlier, *bad)
                    else "hit_rate" if looked else "latency")
        if (what == "hit_rate" and not looked) or (what == "queue" and not _queued(series)):
            self.display, self.drawn = False, None
            return
        self.drawn = what
        lines: list[tuple[str, dict[str, Any], str, str]]
        if what == "traffic":
            plt.title("requests per second")
            plt.ylabel("req/s")
            lines = [("answered", series, "answered_per_s", "green"),
                     ("429 refused", series, "refused_per_s", "magenta"),
                     ("5xx failed", series, "failed_per_s", "red")]
        elif what == "refusals":
            plt.title("refused and failed requests per second")
            plt.ylabel("req/s")
            lines = [("429 now", series, "refused_per_s", "magenta"),
                     ("5xx now", series, "failed_per_s", "red"),
                     (f"429 {before_label}", earlier, "refused_per_s", "gray"),
                     (f"5xx {before_label}", earlier, "failed_per_s", "gray")]
        elif what == "queue":
            plt.title("consumer lag: published, not yet done")
            plt.ylabel("jobs")
            lines = [("jobs now", series, "queue_lag", "blue"),
                     ("events now", series, "events_lag", "cyan"),
                     (f"jobs {before_label}", earlier, "queue_lag", "gray")]
        elif what == "hit_rate":
            plt.title("cache hit rate")
            plt.ylabel("% hits")
            plt.ylim(0, 100)
            lines = [("hits now", series, "hit_rate_pct", "cyan"),
                     (f"hits {before_label}", earlier, "hit_rate_pct", "gray")]
        else:
            plt.title("p95 latency")
            plt.ylabel("ms")
            lines = [("p95 now", series, "p95_ms", "yellow"),
                     (f"p95 {before_label}", earlier, "p95_ms", "gray")]
        for label, source, key, color in lines:
            points = [(t, v) for t, v in zip(source.get("t_s", []), source.get(key, []),
                                             strict=True) if v is not None]
            if any(v for _, v in points) or (what == "hit_rate" and points):
                plt.plot([t for t, _ in points], [v for _, v in points], label=label,
                         color=color, marker="braille")
        plt.xlabel(f"simulated s into the run (a point per {series['bucket_s']:g} s)")
        self.refresh()
