"""The queue's "order placed" handler, replaced by the student's idempotent consumer."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox.backend.services import send_confirmation
from sandbox.mechanisms.queue import JobFailed
from sandbox.mechanisms.resilience import DependencyFailed
from sandbox.plugs import PlugPoint, need
from sandbox.plugs.connection import TracedConnection

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


class StudentConsumer:
    """Adapts a student's `confirm_order(conn, job_id, job, now_s, send_email) -> bool` to the
    JobQueue's handler `(job_id, fields) -> bool`.

    The student's `send_email()` calls the sandbox's e-mail provider (which `faults.hop=email`
    can slow down or break) and raises JobFailed when it fails. A poison job is one whose
    e-mail address the provider rejects every time: its `send_email()` always raises, so the
    job ends in the dead-letter stream if the student's code lets the failure through.
    """

    def __init__(self, sb: Sandbox, impl: Any) -> None:
        self.sb = sb
        self.impl = impl

    def __call__(self, job_id: str, job: dict[str, str]) -> bool:
        ctx = self.sb.ctx
        poison = job.get("poison") == "1"

        def send_email() -> None:
            if poison:
                raise JobFailed("the e-mail provider permanently rejects this address")
            try:
                # Keyed by the order, as the shop's own consumer sends it: the provider
                # counts a repeated send as a repeat (queue.email_repeats), not a new e-mail.
                send_confirmation(ctx, int(job["order_id"]))
            except DependencyFailed as exc:
                raise JobFailed(str(exc)) from None

        fields = {k: v for k, v in job.items() if k != "poison"}
        done = self.impl(TracedConnection(self.sb.db), job_id, fields, int(ctx.now_s()),
                         send_email)
        return bool(done)


def _build_consumer(sb: Sandbox, module: ModuleType) -> Any:
    return StudentConsumer(sb, need(module, "confirm_order", "order_consumer"))


def _attach_consumer(sb: Sandbox, part: Any) -> None:
    if sb.ctx.jobs is not None:
        sb.ctx.jobs.handler = part


POINT = PlugPoint("order_consumer", "a function confirm_order(conn, job_id, job, now_s, "
                  "send_email) -> bool", _build_consumer, _attach_consumer)
