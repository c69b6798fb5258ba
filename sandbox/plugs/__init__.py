"""Plug points: the places where a student's code can replace a part of the sandbox.

An exercise names its plug point in its manifest (`plug = "balancer"`). The grader's tests and
the terminal app's "run my solution" both go through here: `build` turns the student's module
into the part the sandbox expects (adapting a small, teachable interface to the sandbox's own),
and `attach` puts it in place. The sandbox keeps each part's `attach` and calls it again after
every settings change, so a plugged part survives switches being flipped.

    sb = Sandbox(settings)
    install(sb, "balancer", student_module)

Each plug point is a module in this package defining `POINT = PlugPoint(...)`; adding a module
adds a plug point.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox.errors import SandboxError

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


class PlugError(SandboxError):
    """The student's module does not offer what the plug point needs."""


@dataclass(frozen=True)
class PlugPoint:
    name: str
    summary: str  # what the student's code must provide, in one sentence
    build: Callable[[Sandbox, ModuleType], Any]
    attach: Callable[[Sandbox, Any], None]


def need(module: ModuleType, name: str, plug: str) -> Any:
    try:
        return getattr(module, name)
    except AttributeError:
        raise PlugError(f"the '{plug}' plug needs `{name}` in {module.__name__}; it is missing "
                        "(was it renamed?)") from None


def plug_points() -> dict[str, PlugPoint]:
    """Every plug point, by name (each module of this package defines one)."""
    global _POINTS
    if _POINTS is None:
        found: dict[str, PlugPoint] = {}
        for info in pkgutil.iter_modules(__path__):
            module = importlib.import_module(f"{__name__}.{info.name}")
            point = getattr(module, "POINT", None)
            if isinstance(point, PlugPoint):
                found[point.name] = point
        _POINTS = found
    return _POINTS


_POINTS: dict[str, PlugPoint] | None = None


def install(sb: Sandbox, plug: str, module: ModuleType) -> Any:
    """Put the student's part into the sandbox at `plug`; returns the part."""
    points = plug_points()
    try:
        point = points[plug]
    except KeyError:
        raise PlugError(f"unknown plug point '{plug}'; the plug points are "
                        f"{', '.join(sorted(points))}") from None
    part = point.build(sb, module)
    sb.plug(plug, part, point.attach)
    return part
