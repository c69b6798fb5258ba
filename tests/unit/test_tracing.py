from __future__ import annotations

import pytest

from sandbox import tracing
from sandbox.clock import SimClock
from sandbox.tracing import Trace


def test_root_span_starts_at_clock_time() -> None:
    clock = SimClock(100.0)
    trace = Trace(clock, "req-1", "GET", "/products/1")
    assert trace.root.name == "GET /products/1"
    assert trace.root.kind == "client"
    assert trace.root.start_ms == 100.0
    assert trace.status == 0
    assert trace.counts == {}


def test_nested_spans_record_start_and_duration(clock: SimClock) -> None:
    trace = Trace(clock, "req-1", "GET", "/orders")
    clock.advance(1.0)
    with trace.span("lb", "lb") as lb:
        clock.advance(2.0)
        with trace.span("cache.get", "cache") as cache:
            clock.advance(3.0)
        clock.advance(4.0)
        with trace.span("db.query", "db") as db:
            clock.advance(5.0)
    clock.advance(6.0)
    with trace.span("network.response", "client") as resp:
        clock.advance(0.5)

    assert (lb.start_ms, lb.duration_ms) == (1.0, 14.0)
    assert (cache.start_ms, cache.duration_ms) == (3.0, 3.0)
    assert (db.start_ms, db.duration_ms) == (10.0, 5.0)
    assert (resp.start_ms, resp.duration_ms) == (21.0, 0.5)
    assert trace.root.children == [lb, resp]
    assert lb.children == [cache, db]
    assert [(d, s.name) for d, s in trace.spans()] == [
        (0, "GET /orders"), (1, "lb"), (2, "cache.get"), (2, "db.query"),
        (1, "network.response"),
    ]


def test_exception_inside_span_sets_error(clock: SimClock) -> None:
    trace = Trace(clock, "req-1", "GET", "/")
    with (
        pytest.raises(KeyError),
        trace.span("outer", "service") as outer,
        trace.span("inner", "db") as inner,
    ):
        clock.advance(2.0)
        raise KeyError("boom")
    assert inner.attrs["error"] == "KeyError"
    assert outer.attrs["error"] == "KeyError"
    assert inner.duration_ms == 2.0
    # The stack unwound: a new span is a child of the root again.
    with trace.span("after", "client") as after:
        pass
    assert "error" not in after.attrs
    assert trace.root.children == [outer, after]


def test_span_without_error_has_no_error_attr(clock: SimClock) -> None:
    trace = Trace(clock, "req-1", "GET", "/")
    with trace.span("ok", "service") as s:
        s.set("cache.hit", True)
    assert s.attrs == {"cache.hit": True}


def test_finish_sets_status_and_duration(clock: SimClock) -> None:
    clock.jump_to(1000.0)
    trace = Trace(clock, "req-7", "POST", "/orders")
    clock.advance(12.5)
    trace.finish(201)
    assert trace.status == 201
    assert trace.duration_ms == 12.5
    assert trace.root.duration_ms == 12.5
    assert trace.root.attrs["http.status"] == 201


def test_find_by_kind_in_start_order(clock: SimClock) -> None:
    trace = Trace(clock, "req-1", "GET", "/")
    with trace.span("a", "db"):
        clock.advance(1)
        with trace.span("b", "cache"), trace.span("c", "db"):
            clock.advance(1)
    with trace.span("d", "db"):
        pass
    assert [s.name for s in trace.find("db")] == ["a", "c", "d"]
    assert [s.name for s in trace.find("cache")] == ["b"]
    assert trace.find("queue") == []


def test_count_accumulates(clock: SimClock) -> None:
    trace = Trace(clock, "req-1", "GET", "/")
    trace.count("db.queries")
    trace.count("db.queries", 2)
    trace.count("cache.hits", 5)
    assert trace.counts == {"db.queries": 3, "cache.hits": 5}


def test_as_dict_shape(clock: SimClock) -> None:
    trace = Trace(clock, "req-9", "GET", "/products")
    trace.client = "10.0.0.1"
    trace.instance = "app-1"
    trace.count("z.last")
    trace.count("a.first", 2)
    with trace.span("db", "db") as s:
        s.set("db.plan", "SCAN")
        clock.advance(1.23456)
    trace.finish(200)
    d = trace.as_dict()
    assert d == {
        "request_id": "req-9",
        "method": "GET",
        "path": "/products",
        "client": "10.0.0.1",
        "instance": "app-1",
        "status": 200,
        "duration_ms": 1.235,
        "counts": {"a.first": 2, "z.last": 1},
        "root": {
            "name": "GET /products",
            "kind": "client",
            "start_ms": 0.0,
            "duration_ms": 1.235,
            "attrs": {"http.status": 200},
            "children": [
                {
                    "name": "db",
                    "kind": "db",
                    "start_ms": 0.0,
                    "duration_ms": 1.235,
                    "attrs": {"db.plan": "SCAN"},
                    "children": [],
                }
            ],
        },
    }
    assert list(d["counts"]) == ["a.first", "z.last"]


def test_module_functions_are_noops_outside_a_trace(clock: SimClock) -> None:
    assert tracing.current_trace.get() is None
    bystander = Trace(clock, "req-1", "GET", "/")
    with tracing.span("repo.get", "repository") as s:
        s.set("db.rows", 3)
        tracing.work(50.0)
        tracing.count("db.queries", 4)
    assert clock.now_ms == 0.0
    assert bystander.counts == {}
    assert bystander.root.children == []
    assert s.duration_ms == 0.0
    # Attributes set outside a trace do not leak into the next span.
    assert tracing.span("again", "repository").attrs == {}


def test_module_functions_record_inside_a_trace(clock: SimClock, active_trace: Trace) -> None:
    clock.advance(1.0)
    with tracing.span("repo.get", "repository") as outer:
        tracing.work(2.0)
        tracing.count("db.queries")
        with tracing.span("sql", "db") as inner:
            tracing.work(3.0)
            tracing.count("db.queries", 2)
            tracing.count("db.rows_scanned", 10)
    assert clock.now_ms == 6.0
    assert active_trace.counts == {"db.queries": 3, "db.rows_scanned": 10}
    assert active_trace.root.children == [outer]
    assert outer.children == [inner]
    assert (outer.start_ms, outer.duration_ms) == (1.0, 5.0)
    assert (inner.start_ms, inner.duration_ms) == (3.0, 3.0)


def test_current_trace_reset_stops_recording(clock: SimClock) -> None:
    trace = Trace(clock, "req-1", "GET", "/")
    token = tracing.current_trace.set(trace)
    try:
        tracing.count("x")
    finally:
        tracing.current_trace.reset(token)
    tracing.count("x")
    tracing.work(10.0)
    assert trace.counts == {"x": 1}
    assert clock.now_ms == 0.0


def test_kinds_order() -> None:
    assert tracing.KINDS[0] == "client"
    assert tracing.KINDS.index("lb") < tracing.KINDS.index("instance") < tracing.KINDS.index("db")
