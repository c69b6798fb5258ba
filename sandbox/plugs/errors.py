"""How a handler's exception becomes a response, replaced by the student's `render_error`."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox.errors import ApiError
from sandbox.plugs import PlugPoint, need

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


class StudentErrorRenderer:
    """Adapts `render_error(error, request_id, log) -> (status, body)` to the endpoints' seam.
    `log` is the sandbox's server-side log (`ctx.log_event(level, message, **fields)`); the
    headers an error carries (Retry-After, Allow) are kept as they are."""

    def __init__(self, sb: Sandbox, impl: Any) -> None:
        self.sb = sb
        self.impl = impl

    def __call__(self, error: Exception, request_id: str) -> tuple[int, Any, dict[str, str]]:
        status, body = self.impl(error, request_id, self.sb.ctx.log_event)
        headers = dict(error.headers) if isinstance(error, ApiError) else {}
        return int(status), body, headers


def _build(sb: Sandbox, module: ModuleType) -> Any:
    return StudentErrorRenderer(sb, need(module, "render_error", "errors"))


def _attach(sb: Sandbox, part: Any) -> None:
    sb.ctx.seams.render_error = part


POINT = PlugPoint("errors", "a function render_error(error, request_id, log) -> (status, body)",
                  _build, _attach, lambda sb, make: StudentErrorRenderer(sb, make()))
