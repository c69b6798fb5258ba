"""Modules an exercise forbids: the library that would do the student's work for them.

    forbidden_imports = ["prometheus_client"]        # in exercise.toml; or, with reasons:
    [forbidden_imports]
    prometheus_client = "it writes the text format for you, and writing it is the exercise"

(`read_forbidden_imports` in sandbox/course/exercises.py reads it.)

The student's code may not import such a module, nor any of its submodules, however it asks
(`import`, `from ... import`, `importlib.import_module`, `__import__`, or through an allowed
module that imports it). The worker (worker.py) enforces it from the outside in:

- **Hidden.** The test process adds the modules' folders to what the worker hides (confine.py):
  shut in by namespaces, nothing the worker runs can read them, not even a child Python.
- **Refused by name.** A finder first on `sys.meta_path` raises `ForbiddenImport`, which says
  which module and why, before anything of the module runs.
- **Refused by place.** An audit hook, which no code can remove, refuses to run code compiled
  from a file in those folders, whatever name it is loaded under (and an `import` statement
  by name, should the finder be gone). It also refuses what could reach and rewrite it: the
  garbage collector's object walks and trace functions.

It is installed before the worker runs anything of the student's, and never forbids a module
the worker has loaded itself (that module would stay in `sys.modules`, one lookup away).
Code the student copies out of a forbidden module (its source read and run under another file
name) is a copy, not an import: that is for a reader of the code to judge.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Mapping
from typing import Any, NamedTuple

# Events that could reach the audit hook or change its variables while it runs.
GUARDED_EVENTS = frozenset({"gc.get_objects", "gc.get_referrers", "gc.get_referents",
                            "sys.settrace", "sys.setprofile"})
_FIELD, _ENTRY = "\x1f", "\x1e"  # separators on the worker's command line


class ForbiddenImport(ImportError):
    """The student's code imported a module its exercise forbids."""


class Forbidden(NamedTuple):
    """One forbidden module, with why, and where it is installed (its folders, or its file)."""

    module: str
    reason: str
    places: tuple[str, ...] = ()


def matches(name: str, module: str) -> bool:
    """Whether importing `name` imports `module` or one of its submodules."""
    return name == module or name.startswith(module + ".")


# -- the test process's side -------------------------------------------------------------------


def resolve(forbidden: Mapping[str, str]) -> list[Forbidden]:
    """Each module with the places it is installed here (none when it is not installed)."""
    import importlib.util

    found = []
    for module, reason in sorted(forbidden.items()):
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        places: list[str] = []
        if spec is not None:
            if spec.submodule_search_locations:
                places = list(spec.submodule_search_locations)
            elif spec.origin and os.path.isabs(spec.origin):
                places = [spec.origin]
        found.append(Forbidden(module, reason, tuple(sorted({os.path.realpath(p)
                                                             for p in places}))))
    return found


def encode(entries: list[Forbidden]) -> str:
    """The worker's command-line argument for `entries` ("-" for none)."""
    if not entries:
        return "-"
    return _ENTRY.join(_FIELD.join([e.module, e.reason, *e.places]) for e in entries)


# -- the playground's side --------------------------------------------------------------------


def first_use(source: str, module: types.ModuleType | None,
              forbidden: Mapping[str, str]) -> str | None:
    """What the learner's code uses of a forbidden module, as the grader would say it; None
    when nothing.

    For the terminal app's playground, which runs the learner's module in the app's own
    process: the sandbox has imported its own twins there already, so an import cannot be
    refused as the worker refuses it. This catches the honest mistake instead, so that code
    the grader will refuse does not look fine in the playground first: an import that names a
    forbidden module (`import`, `from`, `importlib.import_module("...")`, `__import__("...")`),
    or, once `module` has loaded, a value of one among its globals. Grading is what enforces.
    """
    import ast

    entries = [Forbidden(name, reason) for name, reason in sorted(forbidden.items())]
    if not entries:
        return None
    names: list[str] = []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        tree = ast.Module(body=[], type_ignores=[])  # said by the import itself
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                  "import_module", "__import__")):
            names.append(node.args[0].value)
    for value in vars(module).values() if module is not None else ():
        if isinstance(value, types.ModuleType):
            names.append(value.__name__)
        else:
            owner = value if isinstance(value, type) or callable(value) else type(value)
            names.append(str(getattr(owner, "__module__", "") or ""))
    for name in names:
        for entry in entries:
            if matches(name, entry.module):
                return message(name, entry)
    return None


# -- the worker's side ------------------------------------------------------------------------


def decode(text: str) -> list[Forbidden]:
    if text == "-":
        return []
    entries = []
    for entry in text.split(_ENTRY):
        module, reason, *places = entry.split(_FIELD)
        entries.append(Forbidden(module, reason, tuple(places)))
    return entries


def message(name: str, entry: Forbidden) -> str:
    part = "" if name == entry.module else f" (it is part of {entry.module})"
    return f"{name} is not allowed in this exercise{part}: {entry.reason}"


class _Finder:
    """First on sys.meta_path: refuses a forbidden module by name, before any of it runs."""

    def __init__(self, entries: list[Forbidden]) -> None:
        self.entries = tuple(entries)

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        for entry in self.entries:
            if matches(name, entry.module):
                raise ForbiddenImport(message(name, entry), name=name)
        return None


def install(entries: list[Forbidden]) -> None:
    """Refuse `entries` in this process from now on. ForbiddenImport, and nothing installed,
    if one of them is loaded already."""
    loaded = sorted(n for n in sys.modules for e in entries if matches(n, e.module))
    if loaded:
        raise ForbiddenImport(
            f"this exercise's forbidden_imports names {', '.join(loaded)}, which the grader's "
            "worker loads itself before any student code: it cannot be forbidden (the "
            "instructor must fix exercise.toml)")
    sys.meta_path.insert(0, _Finder(entries))
    sys.addaudithook(_make_hook(tuple(entries)))


def _make_hook(entries: tuple[Forbidden, ...]) -> Any:
    """The audit hook: a closure over immutable values and functions taken now (patching
    `os.stat` later changes nothing here), referenced from nowhere but the interpreter's list
    of hooks, which Python code cannot read."""
    stat, code_type, guarded = os.stat, types.CodeType, GUARDED_EVENTS
    places = []
    for entry in entries:
        for place in entry.places:
            try:
                found = stat(place)
            except OSError:
                continue  # not there to be run
            places.append(((found.st_dev, found.st_ino), entry))
    where = tuple(places)

    def refused(filename: str) -> Forbidden | None:
        """The entry whose file, or folder, holds `filename`: the file itself, then each
        folder up from it as the kernel resolves them (so no symlink or `..` hides one)."""
        try:
            found = stat(filename)
        except (OSError, ValueError):
            return None
        folder = filename.rpartition("/")[0] or ("/" if filename.startswith("/") else ".")
        while True:
            ident = (found.st_dev, found.st_ino)
            for place, entry in where:
                if place == ident:
                    return entry
            try:
                found = stat(folder)
            except (OSError, ValueError):
                return None
            if (found.st_dev, found.st_ino) == ident:
                return None  # the root: nothing above it
            folder += "/.."

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "import":  # `import` and __import__ (not importlib's own functions)
            name = args[0] if args else None
            for entry in entries:
                if type(name) is str and matches(name, entry.module):
                    raise ForbiddenImport(message(name, entry), name=name)
        elif event == "exec":
            code = args[0] if args else None
            if type(code) is not code_type or not where:
                return
            filename = code.co_filename
            if type(filename) is not str or filename.startswith("<"):
                return
            owner = refused(filename)
            if owner is not None:
                raise ForbiddenImport(message(owner.module, owner), name=owner.module)
        elif event in guarded:
            raise RuntimeError(f"{event} is not allowed in an exercise that forbids imports "
                               "(it could undo the refusal)")

    return hook
