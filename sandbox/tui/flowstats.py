"""What the flow view shows on each box, worked out from a run's traces and metrics.

Time is *self time*: a span's duration minus its children's, so the boxes add up to the whole
request and each box shows what that part itself cost. Errors are put on the boxes whose spans
carry an error mark (`error`, `fault`, `instance.down`, ...) in requests that failed with a 5xx;
a 429 is put on the gateway, where the rate limiter refused it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from sandbox.settings import Settings, format_value
from sandbox.tracing import Span, Trace

ERROR_MARKS = ("error", "fault", "instance.down", "lb.result", "error.code")


@dataclass(frozen=True)
class BoxStat:
    """The figures of one box: a kind of span (dns, cache, ...) or one app instance."""

    mean_ms: float = 0.0  # mean self time per request analysed
    share: float = 0.0  # of the mean end-to-end latency
    spans: int = 0  # spans of this kind, over all requests analysed
    visits: int = 0  # requests that had at least one such span
    errors: int = 0  # 5xx requests with an error mark here
    limited: int = 0  # 429s decided here

    @property
    def per_visit_ms(self) -> float:
        """Mean self time per request that passed through (not per request analysed)."""
        return self.mean_ms * self.total_requests / self.visits if self.visits else 0.0

    total_requests: int = 0  # requests analysed (the denominator of mean_ms)


@dataclass(frozen=True)
class FlowStats:
    """Per-box figures for a run; `kinds` is keyed by span kind, `instances` by name."""

    requests: int = 0
    mean_ms: float = 0.0
    kinds: dict[str, BoxStat] = field(default_factory=dict)
    instances: dict[str, BoxStat] = field(default_factory=dict)
    served: dict[str, int] = field(default_factory=dict)  # every request, from metrics
    cache_hits: int = 0
    cache_lookups: int = 0
    db_queries: int = 0
    db_rows: int = 0
    queue: dict[str, Any] = field(default_factory=dict)
    status: dict[int, int] = field(default_factory=dict)
    new_connections: int = 0  # requests that opened a connection (a TCP handshake)
    edge_hits: int = 0
    edge_lookups: int = 0  # requests the edge could answer from a copy: hits and misses

    def kind(self, kind: str) -> BoxStat:
        return self.kinds.get(kind, BoxStat())

    @property
    def hit_rate(self) -> float:
        return self.cache_hits / self.cache_lookups if self.cache_lookups else 0.0


def _self_ms(span: Span) -> float:
    return max(0.0, span.duration_ms - sum(c.duration_ms for c in span.children))


class _Tally:
    def __init__(self) -> None:
        self.ms: defaultdict[str, float] = defaultdict(float)
        self.spans: Counter[str] = Counter()
        self.visits: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.limited: Counter[str] = Counter()

    def stats(self, n: int, mean_total: float) -> dict[str, BoxStat]:
        out: dict[str, BoxStat] = {}
        for name in set(self.spans) | set(self.errors) | set(self.limited):
            mean = self.ms[name] / n if n else 0.0
            out[name] = BoxStat(mean, mean / mean_total if mean_total else 0.0, self.spans[name],
                                self.visits[name], self.errors[name], self.limited[name], n)
        return out


def compute_flow(traces: Iterable[Trace], metrics: dict[str, Any] | None = None) -> FlowStats:
    """Figures for every box, from the traces kept of a run (and its metrics, if given)."""
    kinds, instances = _Tally(), _Tally()
    n = 0
    total_ms = 0.0
    hits = lookups = queries = rows = 0
    connects = edge_hits = edge_lookups = 0
    status: Counter[int] = Counter()
    for trace in traces:
        n += 1
        total_ms += trace.duration_ms
        status[trace.status] += 1
        seen: set[str] = set()
        seen_instances: set[str] = set()
        marked: set[str] = set()
        marked_instances: set[str] = set()
        limited = False
        for _, span in trace.spans():
            kind = span.kind
            own = _self_ms(span)
            kinds.ms[kind] += own
            kinds.spans[kind] += 1
            seen.add(kind)
            attrs = span.attrs
            if kind == "instance":
                instances.ms[span.name] += own
                instances.spans[span.name] += 1
                seen_instances.add(span.name)
            if span.name == "cache.get" and "cache.hit" in attrs:
                lookups += 1
                hits += bool(attrs["cache.hit"])
            elif span.name in ("db.query", "db.write"):
                queries += 1
                rows += int(attrs.get("db.rows_scanned", 0) or 0)
            elif span.name == "tcp.handshake":
                connects += 1
            elif kind == "edge" and attrs.get("edge.result") in ("hit", "miss"):
                edge_lookups += 1
                edge_hits += attrs["edge.result"] == "hit"
            if attrs.get("ratelimit.rejected"):
                limited = True
            if trace.status >= 500 and any(mark in attrs for mark in ERROR_MARKS):
                marked.add(kind)
                if kind == "instance":
                    marked_instances.add(span.name)
        kinds.visits.update(seen)
        instances.visits.update(seen_instances)
        kinds.errors.update(marked)
        instances.errors.update(marked_instances)
        if trace.status == 429 and limited:
            kinds.limited["gateway"] += 1
    mean_total = total_ms / n if n else 0.0
    served = {str(k): int(v) for k, v in (metrics or {}).get("instances", {}).items()}
    queue = dict((metrics or {}).get("queue", {}))
    return FlowStats(
        requests=n, mean_ms=mean_total,
        kinds=kinds.stats(n, mean_total), instances=instances.stats(n, mean_total),
        served=served, cache_hits=hits, cache_lookups=lookups, db_queries=queries,
        db_rows=rows, queue=queue, status=dict(sorted(status.items())),
        new_connections=connects, edge_hits=edge_hits, edge_lookups=edge_lookups,
    )


def instance_names(count: int, stats: FlowStats | None) -> list[str]:
    """The instances to draw: those the settings ask for, plus any a run reported."""
    names = {f"app-{i}" for i in range(1, count + 1)}
    if stats is not None:
        names |= set(stats.served) | set(stats.instances)
    return sorted(names, key=lambda s: (len(s), s))



# -- the boxes the flow view draws ----------------------------------------------------------

BoxState = Literal["ok", "idle", "off", "error", "limited", "down"]

TITLES = {"client": "client", "dns": "DNS", "lb": "balancer", "gateway": "gateway",
          "controller": "controller", "service": "service", "cache": "cache",
          "repository": "repository", "db": "SQLite", "queue": "queue", "worker": "workers",
          "edge": "edge (CDN)"}
IDLE_NOTES = {"client": "sends requests", "dns": "name → address", "lb": "picks an app",
              "gateway": "limits, routes", "controller": "HTTP in/out", "service": "the rules",
              "cache": "Redis", "repository": "builds SQL", "db": "real plans",
              "queue": "Redis Stream", "worker": "consumers", "edge": "near the client"}


@dataclass(frozen=True)
class Box:
    """One box of the diagram: a title, a main figure, a short note, a state for its colour."""

    key: str  # a span kind, or an instance name
    kind: str
    title: str
    figure: str
    note: str = ""
    state: BoxState = "ok"
    share: float = 0.0


@dataclass(frozen=True)
class FlowLayout:
    network: tuple[Box, ...]
    instances: tuple[Box, ...]
    layers: tuple[Box, ...]
    follow_up: tuple[Box, ...]

    def boxes(self) -> list[Box]:
        return [*self.network, *self.instances, *self.layers, *self.follow_up]


def unaccounted(layout: FlowLayout, stats: FlowStats | None) -> str:
    """Where the time the boxes' percentages leave out goes, or "" when they add up.

    Each box shows its own time (its span minus the spans inside it). What is in no hop's own
    span is mostly the wire between hops, which the client's span holds."""
    if stats is None or not stats.requests:
        return ""
    rest = 1.0 - sum(box.share for box in layout.boxes())
    if rest < 0.01:
        return ""
    wire = stats.kinds.get("client")
    if wire is not None and wire.share >= rest / 2:
        return (f"the other {rest:.0%}: on the wire between hops (network time, counted on the "
                "client's span, not in any part's own work)")
    return f"the other {rest:.0%}: in no part drawn here"


def _timed(kind: str, stats: FlowStats | None, note: str = "") -> Box:
    """A box whose figure is the mean self time and its share of the request."""
    title = TITLES[kind]
    if stats is None:
        return Box(kind, kind, title, "", note or IDLE_NOTES[kind], "idle")
    box = stats.kind(kind)
    if not box.visits:
        return Box(kind, kind, title, "not used", note, "idle")
    state: BoxState = "error" if box.errors else ("limited" if box.limited else "ok")
    if box.errors:
        note = f"{box.errors:,} got 5xx"
    return Box(kind, kind, title, f"{box.mean_ms:.2f} ms {box.share:.0%}", note, state, box.share)


def _network(settings: Settings, stats: FlowStats | None) -> tuple[Box, ...]:
    connects = stats.new_connections if stats else 0
    client = (Box("client", "client", "client", f"{stats.mean_ms:.2f} ms",
                  f"{connects:,} new conns" if connects else "end to end")
              if stats else Box("client", "client", "client", "", "sends requests", "idle"))
    ttl = f"ttl {format_value(settings.dns.ttl_s)} s" if settings.dns.cache else "no caching"
    dns = _timed("dns", stats, ttl)
    if stats is not None and not stats.kind("dns").visits:
        dns = Box("dns", "dns", "DNS", "0 lookups",
                  "all cached" if settings.dns.cache else "conns reused", "idle")
    elif stats is not None:
        dns = Box("dns", "dns", "DNS", dns.figure, f"{stats.kind('dns').visits:,} lookups", dns.state,
                  dns.share)
    lb = _timed("lb", stats, settings.lb.algorithm)
    limiter = settings.ratelimit.algorithm
    gateway = _timed("gateway", stats, "no limiter" if limiter == "off" else limiter)
    limited = stats.kind("gateway").limited if stats else 0
    if limited:
        gateway = Box("gateway", "gateway", "gateway", gateway.figure, f"{limited:,} 429s",
                      "limited" if gateway.state != "error" else "error", gateway.share)
    if not settings.cdn.enabled:
        return client, dns, lb, gateway
    edge = _timed("edge", stats, f"ttl {format_value(settings.cdn.ttl_s)} s")
    if stats is not None and stats.edge_lookups:
        edge = Box("edge", "edge", edge.title, edge.figure,
                   f"hit {stats.edge_hits / stats.edge_lookups:.0%}", edge.state, edge.share)
    return client, dns, edge, lb, gateway


def _instances(settings: Settings, stats: FlowStats | None) -> tuple[Box, ...]:
    out: list[Box] = []
    for name in instance_names(settings.topology.instances, stats):
        suffix = name.rsplit("-", 1)[-1]
        number = int(suffix) if suffix.isdigit() else 0
        served = stats.served.get(name, 0) if stats else 0
        own = stats.instances.get(name, BoxStat()) if stats else BoxStat()
        if settings.faults.instance_down == number:
            out.append(Box(name, "instance", name, "DOWN", f"{served:,} req", "down"))
        elif stats is None:
            out.append(Box(name, "instance", name, "", f"{settings.topology.concurrency} at once",
                           "idle"))
        else:
            state: BoxState = "error" if own.errors else ("ok" if served else "idle")
            note = f"{own.errors:,} failed" if own.errors else f"{own.per_visit_ms:.2f} ms each"
            out.append(Box(name, "instance", name, f"{served:,} req", note, state, own.share))
    return tuple(out)


def _layers(settings: Settings, stats: FlowStats | None) -> tuple[Box, ...]:
    faults = settings.faults
    n = stats.requests if stats else 0
    if settings.cache.strategy == "off":
        cache = Box("cache", "cache", "cache", "off", "not in use", "off")
    else:
        hit = f"hit {stats.hit_rate:.0%}" if stats and stats.cache_lookups else settings.cache.strategy
        cache = _timed("cache", stats, hit)
        if faults.cache_down:
            cache = Box("cache", "cache", "cache", "DOWN", "cache_down", "down")
    db_note = f"{stats.db_queries / n:.1f} q/req" if stats and n else (
        "+ replica" if settings.db.read_replica else f"pool {settings.db.pool_size}")
    db = _timed("db", stats, db_note)
    if faults.db_down:
        db = Box("db", "db", "SQLite", "DOWN", "db_down", "down")
    return (_timed("controller", stats), _timed("service", stats), cache,
            _timed("repository", stats), db)


def _follow_up(settings: Settings, stats: FlowStats | None) -> tuple[Box, ...]:
    if settings.queue.mode == "sync":
        return (Box("queue", "queue", "queue", "sync", "in request", "off"),
                Box("worker", "worker", "workers", "not used", "queue.mode", "off"))
    q = stats.queue if stats else {}
    dead, lost = q.get("dead_lettered", 0), q.get("lost", 0)
    idle: BoxState = "ok" if stats else "idle"
    queue = Box("queue", "queue", "queue", f"{q.get('published', 0):,} jobs" if stats else "async",
                f"{q.get('pending', 0):,} pending" if stats else "Redis Stream", idle)
    workers = Box("worker", "worker", "workers",
                  f"{q.get('processed', 0):,} done" if stats else f"{settings.queue.workers} running",
                  f"{dead:,} dead {lost:,} lost" if stats else "consumers",
                  "error" if dead or lost else idle)
    return queue, workers


def build_layout(settings: Settings, stats: FlowStats | None) -> FlowLayout:
    """The boxes for `settings` (the topology), filled in with `stats` when there was a run."""
    return FlowLayout(_network(settings, stats), _instances(settings, stats),
                      _layers(settings, stats), _follow_up(settings, stats))
