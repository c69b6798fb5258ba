"""One request's path, hop by hop, for the flow view to animate. No Textual here.

`hops(trace)` turns a trace into the boxes it passed, in the order its spans started: the
client sending, the balancer, the gateway, the app instance, the layers inside it (every cache
lookup, every query), and the response back to the client. Each hop carries its own simulated
latency (the span's time minus the hops below it, so the hops add up to the whole request), a
short detail (cache key, query plan, 429) and an outcome that picks its colour: a cache hit or
miss, the final status (2xx / 4xx / 429 / 5xx), a dead instance.

`Animation` is the player's state (which hop, paused, speed); the widget only ticks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sandbox.tracing import Span, Trace
from sandbox.tui.flowstats import ERROR_MARKS, TITLES

Outcome = Literal["ok", "hit", "miss", "2xx", "3xx", "4xx", "429", "5xx", "down"]

OUTCOME_STYLE: dict[str, str] = {
    "ok": "bold cyan", "hit": "bold green", "miss": "bold yellow", "2xx": "bold green",
    "3xx": "bold cyan", "4xx": "bold yellow", "429": "bold magenta", "5xx": "bold red",
    "down": "bold red",
}

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0)
REAL_S_PER_SIM_MS = 0.25  # at 1x, one simulated millisecond lasts a quarter of a real second
MIN_DWELL_S = 0.4  # ... but every hop stays lit at least this long, and at most MAX_DWELL_S
MAX_DWELL_S = 2.0


@dataclass(frozen=True)
class Hop:
    """One box the request passed: which box, how long it took there, what happened."""

    box: str  # the flow view's box key: a span kind, or the instance's name
    kind: str
    label: str  # "gateway", "SQLite", "app-1"
    latency_ms: float  # own simulated time here
    at_ms: float  # when the hop started, from the start of the request
    detail: str = ""
    outcome: Outcome = "ok"
    share: float = 0.0  # of the whole request's time

    def text(self) -> str:
        """`gateway 1.24 ms`, `SQLite 0.60 ms SEARCH products USING ...`."""
        head = f"{self.label} {self.latency_ms:.2f} ms"
        return f"{head} {self.detail}" if self.detail else head


def status_outcome(status: int) -> Outcome:
    if status == 429:
        return "429"
    if status >= 500 or status == 0:
        return "5xx"
    if status >= 400:
        return "4xx"
    return "3xx" if status >= 300 else "2xx"


def _short(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name


def _detail(span: Span, trace: Trace, first: bool) -> tuple[str, Outcome]:
    attrs, kind, name = span.attrs, span.kind, span.name
    outcome: Outcome = "ok"
    detail = ""
    if kind == "client" and name.endswith(".handshake"):
        return f"{name.split('.')[0].upper()} handshake (new connection)", "ok"
    if kind == "client":
        if first:
            return f"sends {trace.method} {trace.path}", "ok"
        return f"← {trace.status}", status_outcome(trace.status)
    if kind == "dns":
        detail = "lookup"
    elif kind == "edge":
        result = str(attrs.get("edge.result", ""))
        if result in ("hit", "miss"):
            stale = " (stale)" if attrs.get("edge.stale") else ""
            return f"{result}{stale} {attrs.get('edge.key', '')}".strip(), (
                "hit" if result == "hit" else "miss")
        detail = "not cacheable: to the shop"
    elif kind == "lb":
        detail = f"→ {attrs['lb.instance']}" if "lb.instance" in attrs else str(attrs.get("lb.result", ""))
    elif kind == "gateway":
        if attrs.get("ratelimit.rejected"):
            return "429 rate limited", "429"
        if "ratelimit.remaining" in attrs:
            detail = f"{attrs['ratelimit.remaining']} left"
    elif kind == "instance":
        if attrs.get("instance.down"):
            return "DOWN", "down"
    elif kind == "cache" and "cache.hit" in attrs:
        hit = bool(attrs["cache.hit"])
        detail = f"{'hit' if hit else 'miss'} {attrs.get('cache.key', '')}".strip()
        outcome = "hit" if hit else "miss"
    elif kind == "cache":
        detail = f"{_short(name, 'cache.')} {attrs.get('cache.key', '')}".strip()
    elif kind == "db":
        plan = str(attrs.get("db.plan") or "")
        sql = str(attrs.get("db.sql") or "")
        detail = plan or (sql.split(" ", 1)[0] if sql else _short(name, "db."))
    else:
        detail = _short(name, f"{kind}.")
    marks = [mark for mark in ERROR_MARKS if mark in attrs]
    if marks:
        outcome = status_outcome(trace.status) if trace.status >= 400 else "5xx"
        detail = f"{detail} ✗ {attrs[marks[0]]}".strip()
    return detail, outcome


def _is_hop(span: Span, parent: Span | None) -> bool:
    if parent is not None and parent.kind == span.kind and span.kind != "client":
        return False  # a piece of the same box (redis.GET under cache.get): folded in
    return not (span.duration_ms <= 0 and not span.attrs and not span.children)


def hops(trace: Trace) -> list[Hop]:
    """The boxes `trace` passed, in the order its spans started, with their own latency."""
    out: list[Hop] = []
    origin = trace.root.start_ms

    def below(span: Span) -> list[Span]:
        """The nearest spans under `span` that are hops of their own."""
        found: list[Span] = []
        for child in span.children:
            if _is_hop(child, span):
                found.append(child)
            elif child.kind == span.kind:
                found.extend(below(child))
        return found

    def visit(span: Span, first: bool = False) -> None:
        children = below(span)
        own = max(0.0, span.duration_ms - sum(c.duration_ms for c in children))
        box = span.name if span.kind == "instance" else span.kind
        label = span.name if span.kind == "instance" else TITLES.get(span.kind, span.kind)
        detail, outcome = _detail(span, trace, first)
        share = own / trace.root.duration_ms if trace.root.duration_ms > 0 else 0.0
        out.append(Hop(box, span.kind, label, own, span.start_ms - origin, detail, outcome, share))
        for child in children:
            visit(child)

    visit(trace.root, first=True)
    return out


def dwell_s(hop: Hop, speed: float) -> float:
    """Real seconds `hop` stays lit at `speed`: its latency, scaled, within watchable bounds."""
    base = min(MAX_DWELL_S, max(MIN_DWELL_S, hop.latency_ms * REAL_S_PER_SIM_MS))
    return base / speed


@dataclass
class Animation:
    """Where the player is in one request's hops; the widget calls `advance` on a timer."""

    trace: Trace
    steps: list[Hop] = field(default_factory=list)
    index: int = 0
    paused: bool = False
    speed: float = 1.0

    @classmethod
    def of(cls, trace: Trace, speed: float = 1.0) -> Animation:
        return cls(trace, hops(trace), speed=speed)

    @property
    def current(self) -> Hop:
        return self.steps[self.index]

    @property
    def done(self) -> bool:
        return self.index >= len(self.steps) - 1

    def advance(self) -> bool:
        """Go to the next hop; False when already at the last one."""
        if self.done:
            return False
        self.index += 1
        return True

    def restart(self) -> None:
        self.index = 0

    def faster(self) -> float:
        self.speed = next((s for s in SPEEDS if s > self.speed), SPEEDS[-1])
        return self.speed

    def slower(self) -> float:
        self.speed = next((s for s in reversed(SPEEDS) if s < self.speed), SPEEDS[0])
        return self.speed

    def dwell(self) -> float:
        return dwell_s(self.current, self.speed)

    def lit(self) -> dict[str, Hop]:
        """The boxes passed so far, each with its latest hop (so its latest colour)."""
        seen: dict[str, Hop] = {}
        for hop in self.steps[:self.index + 1]:
            seen[hop.box] = hop
        return seen
