"""An exercise's `forbidden_imports`: each way of reaching a forbidden module, kept as a test.

The worker enforces it in layers (sandbox/grading/forbid.py): the modules' folders hidden by
its namespaces, a finder that refuses them by name, and an audit hook that refuses to run
their code under any name. The first tests drive the real worker, as grading does; the
in-process layers are then tested alone in a plain interpreter, the way they hold where a
machine allows no namespaces. Out of scope: code copied out of a module (its source read and
run under another file name) is a copy, not an import.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.course.exercises import (
    DEFAULT_FORBID_REASON,
    ExerciseError,
    load_exercise,
    read_forbidden_imports,
)
from sandbox.grading import plugin
from sandbox.grading.forbid import ForbiddenImport
from sandbox.grading.remote import StudentWorker

REPO = Path(__file__).resolve().parents[2]
WHY = "write the text format yourself"
FORBIDDEN = {"prometheus_client": WHY, "sandbox.observability": "the sandbox's own exporter"}

ATTACKS = '''
import importlib, sys

def plain():
    import prometheus_client
    return prometheus_client.generate_latest

def from_a_submodule():
    from prometheus_client.parser import text_string_to_metric_families
    return text_string_to_metric_families

def by_importlib():
    return importlib.import_module("prometheus_client")

def by_dunder_import():
    return __import__("prometheus_client.exposition")

def through_the_sandbox():
    from sandbox.observability.prometheus import ShopMetrics
    return ShopMetrics

def through_a_module_that_imports_it():
    import sandbox.serving   # an allowed module whose own imports include the exporter
    return sandbox.serving.ShopMetrics

def loaded():
    return sorted(n for n in sys.modules if n.startswith(("prometheus_client", "sandbox.obs")))

def allowed():
    import json, fractions
    return json.dumps({"half": str(fractions.Fraction(1, 2))})

def without_the_finder():
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_Finder"]
    from prometheus_client import generate_latest
    return generate_latest

def without_the_finder_by_importlib():
    return importlib.import_module("prometheus_client").generate_latest

def usable():  # what a forbidden name in sys.modules holds, if anything
    return sorted(n for n, m in list(sys.modules.items())
                  if n.startswith("prometheus_client") and (vars(m).keys() - {
                      "__name__", "__doc__", "__package__", "__loader__", "__spec__",
                      "__path__", "__file__"}))

def gc_walk():
    import gc
    return len(gc.get_objects())

def trace():
    sys.settrace(lambda *args: None)

def child_python():  # with this worker's own path, where every other package imports
    import subprocess
    code = (f"import sys; sys.path[:0] = {sys.path!r}; import redis; print('others import'); "
            "from prometheus_client import generate_latest; print('got it')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return done.stdout + done.stderr
'''


@pytest.fixture(scope="module")
def worker() -> Iterator[StudentWorker]:
    started = StudentWorker(hide=[], forbidden=FORBIDDEN)
    yield started
    started.stop()


@pytest.fixture
def student(worker: StudentWorker) -> Any:
    return worker.load(f"attacks_{worker.loads}", {"attacks.py": ATTACKS}, "attacks.py")


@pytest.mark.parametrize(("attack", "asked"), [
    ("plain", "prometheus_client"), ("by_importlib", "prometheus_client"),
    ("by_dunder_import", "prometheus_client.exposition"),
    ("from_a_submodule", "prometheus_client.parser"),
])
def test_each_way_of_importing_is_refused_with_the_reason(student: Any, attack: str,
                                                          asked: str) -> None:
    part = "" if asked == "prometheus_client" else " (it is part of prometheus_client)"
    with pytest.raises(ForbiddenImport) as refused:
        getattr(student, attack)()
    assert str(refused.value) == f"{asked} is not allowed in this exercise{part}: {WHY}"


@pytest.mark.parametrize("attack", ["through_the_sandbox", "through_a_module_that_imports_it"])
def test_the_sandbox_cannot_hand_it_over(student: Any, attack: str) -> None:
    with pytest.raises(ForbiddenImport, match=r"sandbox\.observability(\.prometheus)? is not "
                       r"allowed in this exercise( \(it is part of sandbox\.observability\))?: "
                       "the sandbox's own exporter"):
        getattr(student, attack)()


def test_nothing_forbidden_is_ever_in_sys_modules(student: Any) -> None:
    for attack in ("plain", "from_a_submodule", "through_a_module_that_imports_it"):
        with pytest.raises(ImportError):
            getattr(student, attack)()
    assert student.loaded() == []  # so no `sys.modules[...]` lookup finds one


def test_every_other_module_still_imports(student: Any) -> None:
    assert student.allowed() == '{"half": "1/2"}'


@pytest.mark.parametrize("attack", ["gc_walk", "trace"])
def test_what_could_reach_the_hook_is_refused(student: Any, attack: str) -> None:
    with pytest.raises(RuntimeError, match="not allowed in an exercise that forbids imports"):
        getattr(student, attack)()


def test_a_sandbox_dataclass_of_a_forbidden_module_is_lent_not_copied() -> None:
    """The sandbox's own dataclasses travel to the worker by value, rebuilt from their class:
    one from a forbidden module (exercise 12 gets deploy.InstanceStatus) would make the worker
    import it, and die. It goes by reference instead, and reads the same."""
    from sandbox.network.deploy import InstanceStatus

    alone = StudentWorker(hide=[], forbidden={"sandbox.network.deploy": "the answer"})
    try:
        student = alone.load("reader", {"reader.py": (
            "import sys\n"
            "def read(instance):\n"
            "    return (instance.name, instance.draining, instance.ping_database(),\n"
            "            'sandbox.network.deploy' in sys.modules)\n")}, "reader.py")
        status = InstanceStatus("app-1", 0.0, 10.0, False, lambda: True)
        assert student.read(status) == ("app-1", False, True, False)
    finally:
        alone.stop()

def test_removing_the_finder_gains_nothing() -> None:
    alone = StudentWorker(hide=[], forbidden=FORBIDDEN)  # this attack changes its worker
    try:
        student = alone.load("strip", {"strip.py": ATTACKS}, "strip.py")
        with pytest.raises(ForbiddenImport, match="prometheus_client is not allowed"):
            student.without_the_finder()  # the hook refuses an import statement by name
        # importlib: the hook refuses the code (or, shut in, the folder is an empty one)
        with pytest.raises(AttributeError if alone.level != "process" else ForbiddenImport):
            student.without_the_finder_by_importlib()
        assert student.usable() == []
    finally:
        alone.stop()


def test_a_child_python_cannot_read_it_either(worker: StudentWorker, student: Any) -> None:
    out = student.child_python()
    assert "others import" in out, out
    if worker.level.startswith("namespaces"):
        assert "got it" not in out and "Error" in out, out  # the folder is hidden
    else:  # no namespaces here: a child process is not shut in (exercises/README.md says so)
        assert "got it" in out


def test_a_module_the_worker_needs_cannot_be_forbidden() -> None:
    broken = StudentWorker(hide=[], forbidden={"pickle": "no"})
    try:
        with pytest.raises(RuntimeError, match="names pickle, which the grader's worker loads "
                           "itself before any student code: it cannot be forbidden"):
            broken.load("any", {"any.py": "X = 1\n"}, "any.py")
    finally:
        broken.stop()


def test_the_plugin_gives_each_set_of_forbidden_modules_its_own_worker() -> None:
    assert plugin._WORKER is None
    try:
        first = plugin.worker({"prometheus_client": WHY})
        assert plugin.worker(None) is first  # an instructor's helper: the same worker
        assert plugin.worker({"prometheus_client": WHY}) is first
        second = plugin.worker({})  # the next exercise forbids nothing
        assert second is not first and second.forbidden == {}
        assert not first.alive
    finally:
        if plugin._WORKER is not None:
            plugin._WORKER.stop()
        plugin._WORKER = None


# -- the in-process layers alone, in an interpreter that is not shut in -----------------------

IN_PROCESS = '''
import importlib, importlib.util, json, os, sys, tempfile
from sandbox.grading import forbid

entries = forbid.resolve({"prometheus_client": "no"})
forbid.install(entries)
folder = entries[0].places[0]
results = {}

def attempt(name, action):
    try:
        results[name] = "got " + repr(action())[:60]
    except forbid.ForbiddenImport as exc:
        results[name] = "forbidden: " + str(exc)[:60]
    except Exception as exc:
        results[name] = type(exc).__name__

def by_path():
    init = os.path.join(folder, "__init__.py")
    spec = importlib.util.spec_from_file_location("pc", init, submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_latest

def by_symlink():
    alias = tempfile.mkdtemp()
    os.symlink(folder, os.path.join(alias, "metrics_lib"))
    sys.path.insert(0, alias)
    return importlib.import_module("metrics_lib").generate_latest

def with_a_lying_stat():
    real = os.stat
    os.stat = lambda *args, **kwargs: real("/")
    try:
        return importlib.import_module("metrics_lib.parser")
    finally:
        os.stat = real

def by_a_single_file():
    path = os.path.join(folder, "utils.py")
    spec = importlib.util.spec_from_file_location("just_utils", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.floatToGoString

attempt("by name", lambda: importlib.import_module("prometheus_client"))
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_Finder"]
attempt("finder removed", lambda: importlib.import_module("prometheus_client"))
attempt("by path, another name", by_path)
attempt("one file by path", by_a_single_file)
attempt("through a symlink", by_symlink)
attempt("with os.stat patched", with_a_lying_stat)
attempt("gc", lambda: __import__("gc").get_referrers(forbid))
attempt("allowed", lambda: importlib.import_module("fractions").Fraction(1, 3))
results["loaded"] = sorted(n for n in sys.modules
                           if n.startswith(("prometheus_client", "pc", "metrics_lib")))
print(json.dumps(results))
'''


def run_alone(script: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_the_audit_hook_refuses_the_code_under_any_name() -> None:
    results = run_alone(IN_PROCESS)
    for attack in ("by name", "finder removed", "by path, another name", "one file by path",
                   "through a symlink", "with os.stat patched"):
        assert results[attack].startswith("forbidden: prometheus_client is not allowed"), (
            attack, results[attack])
    assert results["gc"] == "RuntimeError"
    assert results["allowed"] == "got Fraction(1, 3)"
    assert results["loaded"] == []


def test_a_module_already_loaded_is_not_forbidden_halfway() -> None:
    script = textwrap.dedent('''
        import sys
        import prometheus_client
        from sandbox.grading import forbid
        try:
            forbid.install(forbid.resolve({"prometheus_client": "no"}))
        except forbid.ForbiddenImport as exc:
            print(str(exc)[:60], len(sys.meta_path))
    ''')
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert done.stdout.startswith("this exercise's forbidden_imports names prometheus_client")
    assert done.stdout.split()[-1] == str(_meta_path_length()), "a finder was installed anyway"


def _meta_path_length() -> int:
    done = subprocess.run([sys.executable, "-c", "import sys, prometheus_client; "
                           "print(len(sys.meta_path))"], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    return int(done.stdout)


# -- the manifest ------------------------------------------------------------------------------


def test_the_manifest_takes_a_list_or_a_table_of_reasons() -> None:
    assert read_forbidden_imports(["jwt", "a.b"]) == {"jwt": DEFAULT_FORBID_REASON,
                                             "a.b": DEFAULT_FORBID_REASON}
    assert read_forbidden_imports({"jwt": " it verifies tokens "}) == {"jwt": "it verifies tokens"}
    assert read_forbidden_imports([]) == {}


@pytest.mark.parametrize(("value", "said"), [
    ("jwt", "a list of module names"),
    ([1], "a list of module names"),
    (["no-dash"], "'no-dash' is not a module name"),
    ({"jwt": ""}, "the reason for jwt must be a sentence"),
    (["sandbox.grading.worker"], "sandbox.grading.worker cannot be forbidden"),
    (["sandbox"], "sandbox cannot be forbidden"),
])
def test_a_bad_manifest_entry_is_named(value: Any, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        read_forbidden_imports(value)


def test_an_exercise_with_a_bad_entry_does_not_load(tmp_path: Path) -> None:
    folder = tmp_path / "23-prometheus-exporter"
    source = REPO / "exercises" / folder.name
    folder.mkdir()
    manifest = (source / "exercise.toml").read_text(encoding="utf-8")
    before = manifest.index("[forbidden_imports]")
    (folder / "exercise.toml").write_text(
        manifest[:before] + 'forbidden_imports = ["prometheus-client"]\n', encoding="utf-8")
    with pytest.raises(ExerciseError, match=r"exercise\.toml: 'forbidden_imports': "
                       r"'prometheus-client' is not a module name"):
        load_exercise(folder, read_tests=False)
    assert "prometheus_client" in load_exercise(source).forbidden_imports


def test_every_module_a_shipped_exercise_forbids_is_installed_here() -> None:
    """A misspelt name would forbid nothing; each one must name a module that exists."""
    import importlib.util

    named = {name for folder in sorted((REPO / "exercises").glob("[0-9]*"))
             for name in load_exercise(folder, read_tests=False).forbidden_imports}
    assert {"prometheus_client", "sandbox.observability", "jwt"} <= named
    assert [name for name in sorted(named) if importlib.util.find_spec(name) is None] == []


def test_the_playgrounds_check_passes_every_shipped_solution_and_stub() -> None:
    """The playground's check (`forbid.first_use`) must not refuse what the grader accepts:
    every shipped solution and stub, loaded, uses nothing its exercise forbids; and the same
    check names a forbidden import it is shown."""
    from sandbox.course.exercises import load_exercises
    from sandbox.grading.forbid import first_use

    checked = 0
    for exercise in load_exercises(REPO / "exercises")[0]:
        for file in exercise.files:
            for path in (exercise.solution_path(file), exercise.student_path(file)):
                module = plugin.load_student_module(path, f"first_use_{checked}")
                source = path.read_text(encoding="utf-8")
                assert first_use(source, module, exercise.forbidden_imports) is None, path
                checked += 1
                if exercise.forbidden_imports:
                    banned = sorted(exercise.forbidden_imports)[0]
                    said = first_use(f"import {banned}\n" + source, module,
                                     exercise.forbidden_imports)
                    assert said is not None and said.startswith(f"{banned} is not allowed")
    assert checked >= 50
