"""The house's import arrows: no new circles between modules.

Every `import` in the package, including the ones inside functions, is an arrow. A circle
means two rooms cannot be understood (or moved) apart. The circles left are listed here; the
list may only shrink.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "sandbox"

# None left; a new one fails the test below. (The list stays so a circle that must be
# tolerated for a while is written down, with why, instead of silently accepted.)
KNOWN_CIRCLES: set[frozenset[str]] = set()


def arrows() -> dict[str, set[str]]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    out: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            out[name].update(t for t in targets if t in modules and t != name)
    return out


def circles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """Strongly connected groups of two or more modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.add(frozenset(group))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_new_import_circles() -> None:
    found = circles(arrows())
    assert found - KNOWN_CIRCLES == set(), "a new import circle"
    assert found == KNOWN_CIRCLES, "a circle is gone: take it off KNOWN_CIRCLES"


def test_the_finder_sees_a_circle_through_a_function_level_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == {frozenset({"a", "b", "c"})}
    assert "sandbox.serving" in arrows()["sandbox.commands.backend"]  # inside cmd_serve


# The floors of the house, ground first. A module may import its own floor and the floors
# below it; an import of a higher floor is an arrow running up (the lower room would then
# need the upper one to be understood, and could not be moved or tested without it).
FLOORS = [
    {"sandbox", "clock", "errors", "safe_text"},   # the package itself exports lazily
    {"settings", "tracing", "request_context", "turns"},
    {"mechanisms"},
    {"backend", "network"},
    {"runtime"},                                   # the assembly point
    {"plugs", "scenarios", "serving", "observability"},
    {"course", "render"},
    {"grading"},
    {"tui"},                                       # the front ends
    {"commands"},
    {"__main__"},
]


def floor_of(module: str) -> int:
    room = module.split(".")[1] if "." in module else module
    return next(i for i, rooms in enumerate(FLOORS) if room in rooms)


def test_no_arrow_runs_up() -> None:
    up = sorted(f"{a} -> {b}" for a, targets in arrows().items() for b in targets
                if floor_of(b) > floor_of(a))
    assert up == []


def test_every_room_is_on_a_floor() -> None:
    """A new top-level module or folder has to be given its place in FLOORS."""
    rooms = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    assert rooms - {"__init__"} <= set().union(*FLOORS)
    graph = {"sandbox.settings": {"sandbox.runtime"}}  # the check itself sees an arrow up
    assert [b for a, bs in graph.items() for b in bs if floor_of(b) > floor_of(a)]
