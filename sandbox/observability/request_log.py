"""One JSON object per request, one per line: a log an ELK or Loki stack can ingest as it is.

    {"timestamp": "2026-12-05T12:00:00.123Z", "level": "info", "event": "request",
     "request_id": "req-000042", "trace_id": "req-000042", "method": "GET",
     "route": "/products/{product_id}", "path": "/products/7", "status": 200,
     "latency_ms": 7.804, "user_id": null, "client": "127.0.0.1", "instance": "app-1"}

What a line holds is chosen field by field from the trace, never copied from the request: no
header (so no Authorization or API key), no body (so no password), no query string (where a
careless client puts `?token=`). The user id is the one authentication established.

The trace id is the trace's own id, the request id: `/_sandbox/traces`, the terminal app and
every error body name a trace by it.

Written with orjson (already used for every JSON body) rather than a logging library: each
line is one dict of known fields, so a formatter and handler chain would add cost and nothing
else. JSON already escapes control characters; `printable_json` escapes the few characters it
lets through raw that a terminal would still obey (DEL, bidi overrides), so a line shown on a
terminal is as safe as one sent to a file, and parses to the same values.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from sandbox.observability.routes import RouteTemplates
from sandbox.safe_text import printable_json
from sandbox.tracing import Trace

USER_ID = "enduser.id"  # the root span's attribute authentication sets (OpenTelemetry's name)
MAX_PATH = 512  # characters of the path a line keeps; the route says the rest
MAX_METHOD = 32
# A scenario's lines are stamped with simulated time, counted from this instant, so the same
# seed writes the same file and `00:00:12.345` reads as "12.345 s into the run".
SIMULATED_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_time(moment: datetime) -> str:
    """`2026-12-05T12:00:00.123Z`: UTC to the millisecond, as log stacks parse it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def simulated_time(ms: float) -> str:
    """A simulated moment (ms since the sandbox started) as a timestamp."""
    return iso_time(SIMULATED_EPOCH + timedelta(milliseconds=ms))


def level(status: int) -> str:
    return "error" if status >= 500 else "warning" if status >= 400 else "info"


class RequestLog:
    """Makes each finished request's log line.

    Args:
        emit: called with each line (no newline at its end).
        clock: the timestamp of the moment a line is made (`sandbox serve`: the wall clock);
            by default the simulated moment its request started.
    """

    def __init__(self, emit: Callable[[str], None],
                 clock: Callable[[], str] | None = None) -> None:
        self._emit = emit
        self._routes = RouteTemplates()
        self._clock = clock

    def record(self, trace: Trace) -> dict[str, Any]:
        """The fields of one request's line."""
        root = trace.root
        path = trace.path if len(trace.path) <= MAX_PATH else trace.path[:MAX_PATH] + "..."
        when = self._clock() if self._clock is not None else simulated_time(root.start_ms)
        return {
            "timestamp": when,
            "level": level(trace.status),
            "event": "request",
            "request_id": trace.request_id,
            "trace_id": trace.request_id,
            "method": trace.method[:MAX_METHOD],  # HTTP lets a client invent a long one
            "route": self._routes.template(trace.path),
            "path": path,
            "status": trace.status,
            "latency_ms": round(root.duration_ms, 3),
            "user_id": root.attrs.get(USER_ID),
            "client": trace.client,
            "instance": trace.instance or None,
        }

    def observe(self, trace: Trace) -> None:
        """Write one request's line."""
        self._emit(json_line(self.record(trace)))


def json_line(fields: dict[str, Any]) -> str:
    """`fields` as one line of JSON that is safe to show on a terminal."""
    return printable_json(orjson.dumps(fields).decode())
