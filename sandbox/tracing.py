"""Spans and traces: every hop and layer a request crosses, in simulated time.

One request makes one Trace: a tree of Spans, each with a name, a kind (which part of the
picture it belongs to), a start and a duration in simulated milliseconds, and attributes such
as `cache.hit` or `db.plan`. The terminal app, the CLI and the tests all read these.

Code deep in the backend opens spans with the module-level `span()`; it finds the request's
trace through a context variable, so a repository needs no extra parameters. Outside a traced
request, `span()` returns a span that records nothing.

A trace only records: what steers a request (its connection pool, where its reads go, the
bench's SQL log) lives in `sandbox.request_context`, not here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar
from types import TracebackType
from typing import Any

from sandbox.clock import SimClock

# Kinds, in the order a request meets them; the flow view draws one box per kind.
KINDS = (
    "client", "dns", "edge", "lb", "gateway", "instance", "controller", "service",
    "cache", "repository", "db", "queue", "worker",
)


class Span:
    """One timed piece of work. Use it as a context manager; time is read from the clock."""

    __slots__ = ("_trace", "attrs", "children", "duration_ms", "kind", "name", "start_ms")

    def __init__(self, trace: Trace | None, name: str, kind: str, start_ms: float) -> None:
        self._trace = trace
        self.name = name
        self.kind = kind
        self.start_ms = start_ms
        self.duration_ms = 0.0
        self.attrs: dict[str, Any] = {}
        self.children: list[Span] = []

    def __enter__(self) -> Span:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        trace = self._trace
        if trace is None:
            return
        self.duration_ms = trace.clock.now_ms - self.start_ms
        if exc is not None:
            self.attrs["error"] = type(exc).__name__
        trace._stack.pop()
        # A closed span needs its trace no more; letting go of it leaves no reference loop
        # (trace -> span -> trace), so a finished trace is freed at once, without the
        # garbage collector.
        self._trace = None

    def set(self, key: str, value: Any) -> None:
        """Record one attribute."""
        self.attrs[key] = value

    def walk(self, depth: int = 0) -> Iterator[tuple[int, Span]]:
        """This span and every span below it, depth first, with their depth."""
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "start_ms": round(self.start_ms, 3),
            "duration_ms": round(self.duration_ms, 3),
            "attrs": self.attrs,
            "children": [c.as_dict() for c in self.children],
        }


class Trace:
    """Everything one request did, as a tree of spans under `root`.

    Args:
        clock: the simulated clock spans read their times from.
        request_id: a stable id, shown in error bodies so a log line can be found.
    """

    __slots__ = (
        "_stack",
        "client",
        "clock",
        "counts",
        "instance",
        "method",
        "path",
        "request_id",
        "root",
        "status",
    )

    def __init__(self, clock: SimClock, request_id: str, method: str, path: str) -> None:
        self.clock = clock
        self.request_id = request_id
        self.method = method
        self.path = path
        self.client = ""
        self.instance = ""
        self.status = 0
        # The root is closed by `finish`, not by `with`, so it needs no way back to the trace.
        self.root = Span(None, f"{method} {path}", "client", clock.now_ms)
        self._stack: list[Span] = [self.root]
        # Running totals that metrics read without walking the tree.
        self.counts: dict[str, int] = {}

    def span(self, name: str, kind: str) -> Span:
        """Open a child of the innermost open span; close it with `with`."""
        # Span.__init__ written out here, one call less per span: a request opens about ten.
        s = _new_span(Span)
        s._trace = self
        s.name = name
        s.kind = kind
        s.start_ms = self.clock.now_ms
        s.duration_ms = 0.0
        s.attrs = {}
        s.children = []
        stack = self._stack
        stack[-1].children.append(s)
        stack.append(s)
        return s

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def finish(self, status: int) -> None:
        self.status = status
        self.root.duration_ms = self.clock.now_ms - self.root.start_ms
        self.root.attrs["http.status"] = status

    @property
    def duration_ms(self) -> float:
        return self.root.duration_ms

    def spans(self) -> Iterator[tuple[int, Span]]:
        return self.root.walk()

    def find(self, kind: str) -> list[Span]:
        """Every span of one kind, in the order they started."""
        return [s for _, s in self.root.walk() if s.kind == kind]

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "method": self.method,
            "path": self.path,
            "client": self.client,
            "instance": self.instance,
            "status": self.status,
            "duration_ms": round(self.duration_ms, 3),
            "counts": dict(sorted(self.counts.items())),
            "root": self.root.as_dict(),
        }


_new_span = object.__new__
_NULL = Span(None, "", "", 0.0)
current_trace: ContextVar[Trace | None] = ContextVar("current_trace", default=None)


def span(name: str, kind: str) -> Span:
    """A span in the current request's trace, or one that records nothing outside a request."""
    trace = current_trace.get()
    if trace is None:
        _NULL.attrs.clear()
        return _NULL
    return trace.span(name, kind)


def work(ms: float) -> None:
    """Spend `ms` of simulated time in the current request (CPU or I/O the model charges)."""
    trace = current_trace.get()
    if trace is not None:
        trace.clock.now_ms += ms


def count(name: str, n: int = 1) -> None:
    """Add to one of the current trace's running totals (for example `db.queries`)."""
    trace = current_trace.get()
    if trace is not None:
        trace.counts[name] = trace.counts.get(name, 0) + n
