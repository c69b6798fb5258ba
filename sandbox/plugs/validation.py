"""The check of a POST /orders body, replaced by the student's `validate_order`."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox.errors import FieldError
from sandbox.plugs import PlugPoint, need

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


class StudentOrderValidator:
    """Adapts `validate_order(body) -> [(field, message), ...]` to the controller's seam,
    which wants FieldErrors for the 422 envelope."""

    def __init__(self, impl: Any) -> None:
        self.impl = impl

    def __call__(self, body: Any) -> list[FieldError]:
        return [FieldError(str(field), str(message)) for field, message in self.impl(body)]


def _build(sb: Sandbox, module: ModuleType) -> Any:
    return StudentOrderValidator(need(module, "validate_order", "validation"))


def _attach(sb: Sandbox, part: Any) -> None:
    sb.ctx.seams.order_problems = part


POINT = PlugPoint("validation", "a function validate_order(body) -> [(field, message), ...]",
                  _build, _attach, lambda sb, make: StudentOrderValidator(make()))
