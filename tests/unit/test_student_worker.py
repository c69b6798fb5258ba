"""The student's worker and its proxies, driven directly: what crosses the wire, what the
student's code may reach of ours through a reference, and what a hostile value becomes."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.errors import FieldError, NotFound
from sandbox.grading.remote import StudentCodeError, StudentWorker, student_functions

from .jail_checks import cannot_run

STUDENT = '''
import os, sqlite3

class KeyReused(Exception):
    """A student's own exception class."""

class Counter:
    def __init__(self, store):
        self.store = store
        self.seen = 0

    def bump(self, key):
        self.seen += 1
        return self.store.add(key)

def call(fn, *args):
    return fn(*args)

def attr(obj, name):
    return getattr(obj, name)

def refuse():
    raise KeyReused("taken", 3)

class Yes(str):
    def __eq__(self, other): return True
    __hash__ = str.__hash__

class Anything:
    def __eq__(self, other): return True

def yes(): return Yes("no")
def anything(): return Anything()
def nested(): return {"a": [1, (2, 3)], "b": {4, 5}, "c": None}

def describe(error):
    return type(error).__name__, error.message, [d.field for d in error.details]

def sql(conn, statement):
    return conn.execute(statement).fetchall()

def in_transaction(conn):
    with conn:
        conn.execute("INSERT INTO t VALUES (1)")
        raise ValueError("undo it")

def test_one(): pass
def test_two(): pass
def helper(): pass
'''


class Store:
    """A test's object handed to the student's code by reference."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self._secret = "the grader's"

    def add(self, key: str) -> int:
        self.keys.append(key)
        return len(self.keys)


@pytest.fixture(scope="module")
def worker() -> Iterator[StudentWorker]:
    started = StudentWorker(hide=[])
    yield started
    started.stop()


@pytest.fixture
def student(worker: StudentWorker) -> Any:
    return worker.load(f"student_{worker.loads}", {"mod.py": STUDENT}, "mod.py")


def test_calls_run_in_the_worker_and_call_back_into_our_objects(student: Any) -> None:
    store = Store()
    counter = student.Counter(store)
    assert counter.bump("a") == 1 and counter.bump("b") == 2
    assert store.keys == ["a", "b"]  # the store stayed here; the worker called it
    assert counter.seen == 2
    assert student.call(lambda x: x * 2, 21) == 42


def test_values_come_back_plain_and_clever_equality_is_gone(student: Any) -> None:
    got = student.yes()
    assert type(got) is str and got == "no" and got != "anything"
    anything = student.anything()
    assert anything != 1 and anything != anything.__class__ and anything == anything
    assert student.nested() == {"a": [1, (2, 3)], "b": {4, 5}, "c": None}


def test_exceptions_keep_their_class_both_ways(student: Any) -> None:
    with pytest.raises(student.KeyReused) as caught:
        student.refuse()
    assert caught.value.args == ("taken", 3)
    assert student.KeyReused is student.KeyReused  # one class, so pytest.raises matches
    error = NotFound("no product 9", details=[FieldError("id", "unknown")])
    assert student.describe(error) == ("NotFound", "no product 9", ["id"])

    def failing() -> None:
        raise NotFound("gone")

    with pytest.raises(NotFound):  # our exception, through their code, back to us
        student.call(failing)


def test_private_names_modules_and_classes_are_out_of_reach(student: Any) -> None:
    store = Store()
    for name in ("_secret", "__dict__"):
        with pytest.raises(AttributeError, match="public names"):
            student.attr(store, name)
    # What the worker finds on its own side of a reference is its own, not ours.
    assert not isinstance(student.attr(store, "__class__"), type)
    with pytest.raises(PermissionError):
        student.call(lambda: os)  # a module
    with pytest.raises(PermissionError):
        student.call(lambda: Store)  # a class: it would make anything here
    with pytest.raises(PermissionError):
        student.call(lambda: open)  # a builtin function of a module
    import shutil

    with pytest.raises(PermissionError):
        student.call(lambda: shutil.rmtree)  # the standard library's, written in Python


def test_a_connection_cannot_write_files_or_load_code(student: Any, tmp_path: Any) -> None:
    conn = sqlite3.connect(":memory:")  # `with conn:` is a transaction
    conn.execute("CREATE TABLE t (x)")
    target = tmp_path / "written.db"
    for statement in (f"ATTACH DATABASE '{target}' AS x", f"VACUUM INTO '{target}'"):
        with pytest.raises(sqlite3.OperationalError):
            student.sql(conn, statement)
    assert not target.exists()
    for method in ("setlimit", "enable_load_extension", "backup"):
        with pytest.raises(PermissionError):
            student.attr(conn, method)
    with pytest.raises(ValueError):
        student.in_transaction(conn)  # `with conn:` over the wire rolls back
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_an_attribute_set_from_here_hides_the_method(student: Any) -> None:
    counter = student.Counter(Store())
    bump = counter.bump  # bound before: keeps calling the class's method
    counter.bump = lambda key: "recorded"
    assert counter.bump("x") == "recorded"
    assert bump("y") == 1


def test_the_functions_a_module_defines(student: Any) -> None:
    names = [name for name, _ in student_functions(student, prefix="test")]
    assert names == ["test_one", "test_two"]


def test_a_worker_that_exits_says_so(worker: StudentWorker) -> None:
    dying = StudentWorker(hide=[])
    try:
        module = dying.load("dies", {"d.py": "import os\ndef go():\n    os._exit(7)\n"}, "d.py")
        with pytest.raises(StudentCodeError, match="exit code 7"):
            module.go()
        assert not dying.alive
    finally:
        dying.stop()


def test_a_value_the_worker_cannot_rebuild_is_the_tests_fault_and_the_worker_lives() -> None:
    """The tests hand the student's code a sandbox dataclass whose module imports what the
    exercise forbids: the worker cannot rebuild it. The call fails, saying the tests are at
    fault; the worker goes on. (It used to die, and the student read "does your code call
    os._exit?")"""
    from sandbox.backend.database import StoreStats
    from sandbox.grading.wire import RemoteFailure

    strict = StudentWorker(hide=[], forbidden={"sqlite_utils": "use sqlite3"})
    try:
        module = strict.load("echo", {"e.py": "def echo(x):\n    return x\n"}, "e.py")
        with pytest.raises(RemoteFailure, match="a fault in the exercise's tests, not in the "
                                                "student's code") as raised:
            module.echo(StoreStats())
        assert "sqlite_utils is not allowed" in str(raised.value)
        assert module.echo([1, "two"]) == [1, "two"] and strict.alive
    finally:
        strict.stop()


def test_the_worker_sees_no_hidden_folder_and_writes_only_its_own_tmp(tmp_path: Any) -> None:
    course = tmp_path / "course"
    course.mkdir()
    (course / "secret.py").write_text("answer = 42\n")
    shut_in = StudentWorker(hide=[str(course)])
    try:
        if shut_in.level == "process":
            cannot_run("this machine allows no namespaces (the grader says so in `grade`)")
        probe = shut_in.load("probe", {"p.py": (
            "import os\n"
            "def look(path):\n"
            "    try:\n        return sorted(os.listdir(path))\n"
            "    except OSError:\n        return 'missing'\n"
            "def write(path):\n"
            "    try:\n        open(path, 'w').write('x')\n        return 'written'\n"
            "    except OSError as exc:\n        return type(exc).__name__\n")}, "p.py")
        assert probe.look(str(course)) in ([], "missing")  # /tmp itself is a fresh one there
        assert "secret.py" not in str(probe.look(str(tmp_path / "course")))
        assert probe.write(str(tmp_path / "outside.txt")) != "written"
        assert not (tmp_path / "outside.txt").exists()
        assert probe.write("/tmp/mine.txt") == "written"
        assert not os.path.exists("/tmp/mine.txt"), "the worker's /tmp is its own"
    finally:
        shut_in.stop()


@pytest.mark.parametrize("python", ["this one", "/usr/bin/python3.11"])
def test_a_worker_started_by_root_is_nobody_outside(python: str) -> None:
    """Run by root with a Python whose own files anyone may read (even one under /root, which
    nobody may enter: the worker opens its folders while still root), the student's code is
    `nobody` to the rest of the machine: among the folders it sees, it cannot read a file
    only root may."""
    import site

    from sandbox.grading.launch import start_worker

    if os.geteuid() != 0:
        cannot_run("needs root (CI has it)")
    if python != "this one" and not os.path.exists(python):
        cannot_run("needs Debian's python3.11 (CI has it)")
    # A file only root may read, in a folder the worker sees (the installed packages).
    secret = os.path.join(site.getsitepackages()[0], "root-only-secret")
    with open(secret, "w") as handle:
        handle.write("root only")
    os.chmod(secret, 0o600)
    shut_in = StudentWorker(started=start_worker([], python="" if python == "this one" else python))
    try:
        if shut_in.level == "process":
            cannot_run("this machine allows no namespaces")
        probe = shut_in.load("who", {"w.py": (
            "import os\n"
            "def read(path):\n"
            "    try:\n        return open(path).read()\n"
            "    except OSError as exc:\n        return type(exc).__name__\n"
            "def seen(path):\n"
            "    return os.path.basename(path) in os.listdir(os.path.dirname(path))\n")}, "w.py")
        assert shut_in.level == "namespaces"
        assert probe.seen(secret)  # there, and yet
        assert probe.read(secret) == "PermissionError"
    finally:
        shut_in.stop()
        os.unlink(secret)
