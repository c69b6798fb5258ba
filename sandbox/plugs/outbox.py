"""The order's outbox and its relay, replaced by the student's (`add_event`, `relay`).

With `queue.mode=async`, an order's follow-up job (confirmation e-mail, sales count) is
written by the student's `add_event` inside the order's own transaction, into the student's
`event_outbox` table; after the commit, and on the sandbox's background passes while jobs
wait, the student's `relay` publishes the waiting rows to the queue. The shop's worker is
the consumer, and it already drops a repeat (one confirmation per order, one e-mail per key).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox import tracing
from sandbox.mechanisms.redis_store import CacheUnavailable
from sandbox.plugs import PlugError, PlugPoint, need
from sandbox.plugs.connection import TracedConnection

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

Publish = Callable[[str, dict[str, Any]], None]
BATCH = 100  # rows per relay pass; a pass that fills its batch is followed by another
MAX_PASSES = 1000  # a relay that always says "full batch" is stopped, not looped forever


class StudentOutbox:
    """Adapts the student's functions to the order service's outbox seam."""

    def __init__(self, sb: Sandbox, module: ModuleType) -> None:
        self.sb = sb
        self.add_event = need(module, "add_event", "outbox")
        self.relay_pass = need(module, "relay", "outbox")
        need(module, "create_tables", "outbox")(self.conn())
        self.published = 0  # jobs handed to the queue, repeats included

    def conn(self) -> TracedConnection:
        return TracedConnection(self.sb.db)

    def add(self, job: dict[str, str]) -> int:
        event_id = f"order-{job['order_id']}-confirmation"
        with tracing.span("outbox.add_event", "repository") as span:
            span.set("plugged", "student")
            row_id = self.add_event(self.conn(), event_id, dict(job), int(self.sb.ctx.now_s()))
        if not isinstance(row_id, int):
            raise PlugError(f"add_event must return the new row's id; it returned {row_id!r}")
        return row_id

    def publish(self, event_id: str, payload: dict[str, Any]) -> None:
        """What the student's relay calls: hand the job to the queue (Redis)."""
        jobs = self.sb.ctx.jobs
        if jobs is None:
            raise CacheUnavailable("no queue to publish to")
        with tracing.span("queue.publish", "queue") as span:
            span.set("queue.job_id", jobs.publish({k: str(v) for k, v in payload.items()}))
        self.published += 1

    def relay(self) -> None:
        for _ in range(MAX_PASSES):
            with tracing.span("outbox.relay", "service") as span:
                span.set("plugged", "student")
                done = self.relay_pass(self.conn(), self.publish, int(self.sb.ctx.now_s()),
                                       BATCH)
            if not isinstance(done, int):
                raise PlugError(f"relay must return how many events it published; it "
                                f"returned {done!r}")
            if done < BATCH:
                return

    def waiting(self) -> int:
        """Rows not published yet (read untraced: a figure, not traffic)."""
        try:
            row = self.sb.db.conn.execute(
                "SELECT count(*) FROM event_outbox WHERE published_at IS NULL").fetchone()
        except sqlite3.Error:  # the student's table is not what the exercise asks: no figure
            return 0
        return int(row[0])


def _build(sb: Sandbox, module: ModuleType) -> Any:
    return StudentOutbox(sb, module)


def _attach(sb: Sandbox, part: Any) -> None:
    sb.ctx.seams.outbox = part


POINT = PlugPoint("outbox", "functions create_tables(conn), add_event(conn, event_id, payload, "
                  "now_s) and relay(conn, publish, now_s, batch_size)", _build, _attach)
