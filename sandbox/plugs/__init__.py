"""Plug points: the places where a student's code can replace a part of the sandbox.

An exercise names its plug point in its manifest (`plug = "balancer"`). The grader's tests and
the terminal app's "run my solution" both go through here: `build` turns the student's module
into the part the sandbox expects (adapting a small, teachable interface to the sandbox's own),
and `attach` puts it in place. The sandbox keeps each part's `attach` and calls it again after
every settings change, so a plugged part survives switches being flipped.

    sb = Sandbox(settings)
    install(sb, "balancer", student_module)

Each plug point is a module in this package defining `POINT = PlugPoint(...)`; adding a module
adds a plug point. What the sandbox calls on each part is written down in `interfaces.py`.

An exercise may bring its own adapter (`adapter = "plug_adapter.py"` in its manifest): a file
of the instructor's in the exercise's folder whose `adapt(sandbox, student_module)` returns an
object satisfying the plug point's interface. Then the point's `wrap` makes the part from it
(guarding every answer), so a new kind of limiter needs no edit of this package:

    install(sb, "ratelimit", student_module, adapter=folder / "plug_adapter.py")
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sandbox.errors import SandboxError
from sandbox.plugs.interfaces import INTERFACES, missing_members

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
    # The part made from an adapter's object; `make()` adapts afresh (after a settings
    # change, say). None: this plug point takes no adapter yet.
    wrap: Callable[[Sandbox, Callable[[], Any]], Any] | None = None


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


def install(sb: Sandbox, plug: str, module: ModuleType, adapter: Path | None = None) -> Any:
    """Put the student's part into the sandbox at `plug` (through the exercise's `adapter`
    file when it has one); returns the part."""
    points = plug_points()
    try:
        point = points[plug]
    except KeyError:
        raise PlugError(f"unknown plug point '{plug}'; the plug points are "
                        f"{', '.join(sorted(points))}") from None
    if adapter is None:
        part = point.build(sb, module)
    elif point.wrap is None:
        raise PlugError(f"the '{plug}' plug point takes no adapter yet (the ones that do: "
                        f"{', '.join(sorted(n for n, p in points.items() if p.wrap))})")
    else:
        part = point.wrap(sb, adapted(sb, plug, module, adapter))
    sb.plug(plug, part, point.attach)
    return part


ADAPT = "adapt"


def load_adapter(path: Path) -> Callable[[Sandbox, Any], Any]:
    """The `adapt` function of an exercise's adapter file (the instructor's code, imported
    here in the trusted process; a student's copy of the file is never read)."""
    if not path.is_file():
        raise PlugError(f"{path}: the adapter file named in exercise.toml is missing")
    spec = importlib.util.spec_from_file_location(f"plug_adapter_{abs(hash(path))}", path)
    if spec is None or spec.loader is None:
        raise PlugError(f"{path}: cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise PlugError(f"{path}: the adapter failed to load: {type(exc).__name__}: "
                        f"{exc}") from exc
    adapt = getattr(module, ADAPT, None)
    if not callable(adapt):
        raise PlugError(f"{path}: an adapter defines `def {ADAPT}(sandbox, student_module)`, "
                        "returning the object to plug in; it is missing")
    return adapt  # type: ignore[no-any-return]


def adapted(sb: Sandbox, plug: str, module: ModuleType, adapter: Path) -> Callable[[], Any]:
    """A maker of the adapter's object, checked against the plug point's interface each time:
    a missing method is named at once, not found deep inside a request."""
    adapt = load_adapter(adapter)
    interface = INTERFACES.get(plug)

    def make() -> Any:
        made = adapt(sb, module)
        missing = missing_members(made, interface) if interface is not None else []
        if missing:
            name = interface.__name__ if interface is not None else plug
            raise PlugError(f"{adapter.name}: adapt() returned {_kind(made)}, which lacks "
                            f"{', '.join(missing)} of the '{plug}' interface ({name}); see "
                            "sandbox/plugs/interfaces.py")
        return made

    return make


def _kind(value: Any) -> str:
    return "None" if value is None else f"a {type(value).__name__}"
