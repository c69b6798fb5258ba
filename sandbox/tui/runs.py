"""Scenario runs as the playground keeps them, and the before/after comparison of two runs.

Nothing here imports Textual: these are plain data and functions the widgets display and the
tests check directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sandbox.settings import Settings, format_value
from sandbox.tracing import Trace

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

Verdict = Literal["better", "worse", "same"]


class SandboxMaker(Protocol):
    """Builds the sandbox a run uses instead of a plain one: the hook that lets a learner's
    own code (an exercise plugged in) serve the playground's traffic."""

    @property
    def label(self) -> str:
        """What is different about these sandboxes, e.g. "your token_bucket.py"."""

    def build(self, settings: Settings, seed: int) -> Sandbox:
        """A fresh sandbox with `settings` (its parts may raise anything: it is their code)."""

    def explain(self, exc: BaseException) -> str:
        """A failure during a run with these sandboxes, in plain words."""


@dataclass(frozen=True)
class RunRecord:
    """One finished scenario run: what was asked, what it measured, the newest traces."""

    scenario: str
    seed: int
    requests: int
    settings: Settings
    metrics: dict[str, Any]
    traces: tuple[tuple[str, Trace], ...]
    wall_s: float = 0.0
    plugged: str = ""  # whose code served it, when not the sandbox's own (SandboxMaker.label)


def status_counts(metrics: dict[str, Any]) -> dict[int, int]:
    """Status code -> how many responses had it, in code order."""
    return {int(code): n for code, n in sorted(metrics.get("status", {}).items())}


def server_errors(metrics: dict[str, Any]) -> int:
    return sum(n for code, n in status_counts(metrics).items() if code >= 500)


@dataclass(frozen=True)
class Headline:
    """A number worth comparing between runs, and which direction is better."""

    label: str
    unit: str
    better: Literal["lower", "higher"]
    read: Callable[[dict[str, Any]], float]
    percent: bool = False  # a 0..1 ratio shown as a percentage, compared in points
    when_used: bool = False  # compared only when either run has it (a part switched on)

    def text(self, value: float) -> str:
        if self.percent:
            return f"{value:.1%}"
        if self.unit == "ms":
            return f"{value:,.2f}" if value < 100 else f"{value:,.1f}" if value < 10_000 else f"{value:,.0f}"
        if self.unit == "req/s":
            return f"{value:,.0f}"
        if value >= 10_000_000:
            return f"{value / 1e6:,.1f}M"
        if value >= 100_000:
            return f"{value / 1e3:,.1f}k"
        return f"{int(value):,}"


HEADLINES: tuple[Headline, ...] = (
    Headline("p50 ms", "ms", "lower", lambda m: m["latency_ms"]["p50"]),
    Headline("p95 ms", "ms", "lower", lambda m: m["latency_ms"]["p95"]),
    Headline("p99 ms", "ms", "lower", lambda m: m["latency_ms"]["p99"]),
    Headline("req/s", "req/s", "higher", lambda m: m["throughput_rps"]),
    Headline("5xx", "", "lower", lambda m: float(server_errors(m))),
    Headline("429s", "", "lower", lambda m: float(m["ratelimit"]["rejected"])),
    Headline("cache hit", "", "higher", lambda m: m["cache"]["hit_rate"], percent=True),
    Headline("db queries", "", "lower", lambda m: float(m["db"]["queries"])),
    Headline("rows read", "", "lower", lambda m: float(m["db"]["rows_scanned"])),
    Headline("dead jobs", "", "lower", lambda m: float(m["queue"]["dead_lettered"])),
    Headline("edge hit", "", "higher", lambda m: m.get("cdn", {}).get("hit_rate", 0.0),
             percent=True, when_used=True),
    Headline("new conns", "", "lower",
             lambda m: float(m.get("connections", {}).get("new", 0)), when_used=True),
)
# Figures only some scenarios report: compared when both runs have them.
SCENARIO_HEADLINES: tuple[Headline, ...] = (
    Headline("hot-key loads", "", "lower",
             lambda m: float(m["cache"]["stampede"]["db_loads_after_expiry_max"])),
    Headline("hot p99 ms", "ms", "lower",
             lambda m: m["cache"]["stampede"]["hot_p99_after_expiry_ms"]),
    Headline("lost writes", "", "lower", lambda m: float(m["cache"]["lost_writes"])),
)


def reports(headline: Headline, metrics: dict[str, Any]) -> bool:
    """Whether a run's metrics have the figure `headline` reads."""
    try:
        headline.read(metrics)
    except (KeyError, TypeError):
        return False
    return True

# The sections some scenarios add (see sandbox/scenarios/stuffing.py and revocation.py):
# compared only when both runs have them.
AUTH_HEADLINES: tuple[tuple[str, Headline], ...] = (
    ("revocation", Headline("served after revoke", "", "lower",
                            lambda m: float(m["revocation"]["served_after_revocation"]))),
    ("credential_stuffing", Headline("guesses let in", "", "lower",
                                     lambda m: float(m["credential_stuffing"]["guesses_let_through"]))),
    ("credential_stuffing", Headline("taken over", "", "lower",
                                     lambda m: float(m["credential_stuffing"]["accounts_taken_over"]))),
    ("credential_stuffing", Headline("users refused", "", "lower",
                                     lambda m: float(m["credential_stuffing"]["legit_logins_refused"]))),
)


# Headlines of a scenario's own section (`clients` in scraper, `flash_sale`), compared only
# when both runs have it, so other scenarios' before -> after shows no empty rows.
SECTION_HEADLINES: dict[str, tuple[Headline, ...]] = {
    "clients": (
        Headline("others p95", "ms", "lower", lambda m: m["clients"]["others"]["p95_ms"]),
        Headline("others 429s", "", "lower",
                 lambda m: float(m["clients"]["others"]["refused_429"])),
        Headline("abuser db", "", "lower", lambda m: m["clients"]["abuser"]["db_share"],
                 percent=True),
    ),
    "flash_sale": (
        Headline("oversold", "", "lower",
                 lambda m: float(m["flash_sale"]["units_oversold"])),
    ),
}


@dataclass(frozen=True)
class CompareRow:
    """One headline metric before and after, with its change and whether that is good."""

    label: str
    unit: str
    before: str
    after: str
    change: str
    verdict: Verdict


@dataclass(frozen=True)
class SettingChange:
    """One thing that differed between two runs: a settings key, or the scenario, seed, size."""

    key: str
    before: str
    after: str

    def describe(self) -> str:
        return f"{self.key}: {self.before} -> {self.after}"


@dataclass(frozen=True)
class Comparison:
    """The last two runs side by side."""

    before: RunRecord
    after: RunRecord
    rows: tuple[CompareRow, ...]
    changes: tuple[SettingChange, ...]

    def changed_keys(self) -> list[str]:
        return [c.key for c in self.changes]

    @property
    def other_experiment(self) -> list[SettingChange]:
        """What makes the two runs different experiments (scenario, size, seed): then their
        numbers differ for that reason too, and are not what a switch did."""
        return [c for c in self.changes if c.key in ("scenario", "requests", "seed")]

    def describe_changes(self) -> list[str]:
        return [c.describe() for c in self.changes]


def compare_row(headline: Headline, before_m: dict[str, Any], after_m: dict[str, Any]) -> CompareRow:
    before, after = headline.read(before_m), headline.read(after_m)
    delta = after - before
    if headline.percent:
        points = delta * 100
        change = f"{points:+.1f}pp" if abs(points) < 10 else f"{points:+.0f}pp"
        same = abs(delta) < 0.005
    elif before:
        rel = delta / abs(before)
        change = f"{rel:+.0%}" if abs(rel) >= 0.1 else f"{rel:+.1%}"
        same = abs(rel) < 0.01
    else:
        change = "new" if after else "="
        same = not after
    if same:
        verdict: Verdict = "same"
        change = "=" if delta == 0 else "≈"
    elif (delta < 0) == (headline.better == "lower"):
        verdict = "better"
    else:
        verdict = "worse"
    return CompareRow(headline.label, headline.unit, headline.text(before), headline.text(after),
                      change, verdict)


def compare(before: RunRecord, after: RunRecord) -> Comparison:
    """Every headline metric as before -> after, and every setting that differed."""
    headlines = [h for h in HEADLINES
                 if not h.when_used or h.read(before.metrics) or h.read(after.metrics)]
    headlines += [h for h in SCENARIO_HEADLINES
                  if reports(h, before.metrics) and reports(h, after.metrics)]
    headlines += [h for section, h in AUTH_HEADLINES
                  if section in before.metrics and section in after.metrics]
    for section, extra in SECTION_HEADLINES.items():
        if section in before.metrics and section in after.metrics:
            headlines.extend(extra)
    rows = tuple(compare_row(h, before.metrics, after.metrics) for h in headlines)
    changes: list[SettingChange] = []
    for label, a, b in (("scenario", before.scenario, after.scenario),
                        ("requests", f"{before.requests:,}", f"{after.requests:,}"),
                        ("seed", str(before.seed), str(after.seed)),
                        ("code", before.plugged or "built-in", after.plugged or "built-in")):
        if a != b:
            changes.append(SettingChange(label, a, b))
    for key, (a, b) in before.settings.diff(after.settings).items():
        changes.append(SettingChange(key, format_value(a), format_value(b)))
    return Comparison(before, after, rows, tuple(changes))


def changed_from_defaults(settings: Settings) -> dict[str, str]:
    """key -> value (as text) for every key that is not at its default."""
    return {k: format_value(b) for k, (_, b) in Settings().diff(settings).items()}
