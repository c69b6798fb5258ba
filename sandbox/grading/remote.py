"""The test process's side of the student's worker: start it, load the student's files in
it, and call them through proxies.

    worker = StudentWorker(hide=[course_folder])
    student = worker.load("student_07", {"token_bucket.py": source}, "token_bucket.py")
    bucket = student.TokenBucket(redis, limit=2, window_s=1.0, burst=0)   # runs in the worker
    allowed, left = bucket.take("ada", 0.0)                               # plain values back

What crosses (wire.py has the protocol):

- Plain values and exceptions go to the worker by value; every other object the tests hand
  the student's code (a Redis client, a connection, a `load` function) stays here, and the
  worker gets a reference it can call. `Exposure` decides what such a call may reach: public
  names only, never a module, a class or a function of a module, and no SQLite call that
  could write a file (ATTACH, VACUUM INTO, extensions).
- From the worker come plain values (exact built-in types), exceptions rebuilt here from a
  description, and references to its objects (`RemoteObject`). A RemoteObject forwards calls,
  attribute reads, iteration, `len`, `repr` and `with`; it does not forward `==` or `hash`,
  so an object that claims to equal anything equals only itself here.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import os
import pickle
import sqlite3
import subprocess
import sys
import types
from collections.abc import Collection, Mapping
from typing import Any

from sandbox.grading.forbid import ForbiddenImport, matches
from sandbox.grading.launch import StartedWorker, start_worker
from sandbox.grading.wire import (
    OPS,
    Gone,
    Peer,
    Proxy,
    Ref,
    RemoteFailure,
    class_path,
    exception_class,
    rebuild_exception,
    recv_frame,
)

PLAIN = (type(None), bool, int, float, complex, str, bytes, tuple, list, dict, set, frozenset)
# Exception classes that the worker may name and that are rebuilt as themselves here.
TRUSTED_EXCEPTION_MODULES = ("sandbox.", "_pytest.outcomes")
NOT_REBUILT = {"KeyboardInterrupt"}  # would stop the whole test run: made a plain error
# Methods of SQLite's connection that could load code or write files, or undo the limits.
SQLITE_REFUSED = {"enable_load_extension", "load_extension", "setlimit", "set_authorizer",
                  "backup", "deserialize", "set_trace_callback", "set_progress_handler"}


class StudentCodeError(RuntimeError):
    """The worker broke down: it ended, or what it sent could not be read."""


def _lookup(module: str, qualname: str) -> type | None:
    """An exception class the worker named, if it is one we trust: built-in, the standard
    library's (sqlite3.OperationalError), the sandbox's, or pytest's outcomes (which can only
    fail or skip a test). Found among the modules already imported here, never imported on
    the worker's say-so; rebuilt without calling its __init__."""
    if qualname in NOT_REBUILT:
        return None
    if module == "builtins":
        found = getattr(builtins, qualname, None)
    elif (module.startswith(TRUSTED_EXCEPTION_MODULES)
          or module.split(".")[0] in sys.stdlib_module_names) and module in sys.modules:
        found = sys.modules[module]
        for part in qualname.split("."):
            found = getattr(found, part, None)
    else:
        return None
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


class Exposure:
    """What the student's code may do with an object of ours it holds a reference to."""

    @staticmethod
    def check_name(name: Any) -> str:
        if not isinstance(name, str) or name.startswith("_"):
            raise AttributeError(f"student code may use only public names, not {name!r}")
        return name

    @staticmethod
    def check_object(obj: Any) -> None:
        """Refuse to hand over what would let the worker run anything it likes here."""
        if isinstance(obj, types.ModuleType | type):
            raise PermissionError(f"student code cannot be given {type(obj).__name__} "
                                  f"{getattr(obj, '__name__', '?')}")
        if isinstance(obj, types.BuiltinFunctionType) and isinstance(
                getattr(obj, "__self__", None), types.ModuleType | type(None)):
            raise PermissionError(f"student code cannot be given the function "
                                  f"{getattr(obj, '__name__', '?')}")
        if isinstance(obj, types.FunctionType) and str(obj.__module__).split(".")[0] in \
                sys.stdlib_module_names:  # shutil.rmtree, subprocess.run: ours to call, not theirs
            raise PermissionError(f"student code cannot be given the function "
                                  f"{obj.__module__}.{obj.__qualname__}")
        if isinstance(obj, types.FrameType | types.CodeType | types.TracebackType):
            raise PermissionError("student code cannot be given the grader's frames")
        if isinstance(obj, sqlite3.Connection):
            # ATTACH and VACUUM INTO would write files with the grader's rights.
            obj.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)

    @staticmethod
    def check_method(obj: Any, name: str) -> None:
        if isinstance(obj, sqlite3.Connection) and name in SQLITE_REFUSED:
            raise PermissionError(f"student code may not call {name} on the connection")


def _methods(obj: Any) -> list[str]:
    cls = type(obj)
    names = []
    for name in dir(cls):
        if name.startswith("_") or (isinstance(obj, sqlite3.Connection) and name in SQLITE_REFUSED):
            continue  # refused ones are looked up each time, and refused then
        attr = getattr(cls, name, None)
        if isinstance(attr, types.FunctionType | types.MethodDescriptorType
                      | types.WrapperDescriptorType):
            names.append(name)
    return names


class _Encoder(pickle.Pickler):
    """Pickles our messages for the worker: plain values and exceptions by value, every
    other object as a reference (`Exposure.check_object` first)."""

    def __init__(self, file: io.BytesIO, peer: Peer, forbidden: Collection[str] = ()) -> None:
        super().__init__(file, protocol=5)
        self.peer = peer
        self.forbidden = tuple(forbidden)  # modules the worker refuses: their objects stay here

    def persistent_id(self, obj: Any) -> Any:
        kind = type(obj)
        if kind in PLAIN or isinstance(obj, BaseException):
            return None
        if kind is RemoteObject:
            return ("w", obj._ref.id)
        if any(obj is r for r in _REBUILDERS):
            return None
        # A class the worker imports for itself (or a sandbox dataclass, rebuilt from its class)
        # travels by value, unless the worker may not import that module: then by reference.
        own_class = isinstance(obj, type) and str(obj.__module__).startswith(
            ("builtins", "sandbox."))
        if (own_class or _by_value(obj)) and not self._refused(obj):
            return None
        Exposure.check_object(obj)
        return ("t", self.peer.table.add(obj), {"methods": _methods(obj)})

    def _refused(self, obj: Any) -> bool:
        module = str(getattr(obj if isinstance(obj, type) else type(obj), "__module__", ""))
        return any(matches(module, name) for name in self.forbidden)

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, BaseException):  # rebuilt by the worker without calling __init__
            attrs = {k: v for k, v in vars(obj).items() if not k.startswith("_")}
            return _REBUILDERS[0], (class_path(type(obj)), obj.args, attrs, _text(obj))
        return NotImplemented


def _rebuilders() -> tuple[Any, ...]:
    import copyreg

    from sandbox.grading.worker import rebuild

    return (rebuild, copyreg.__newobj__, copyreg.__newobj_ex__,  # type: ignore[attr-defined]
            copyreg._reconstructor)  # type: ignore[attr-defined]


_REBUILDERS = _rebuilders()


def _by_value(obj: Any) -> bool:
    """A dataclass of the sandbox's own (FieldError): the worker can import its class."""
    import dataclasses

    module = str(getattr(type(obj), "__module__", ""))
    return (dataclasses.is_dataclass(obj) and not isinstance(obj, type)
            and module.startswith("sandbox."))


def _text(exc: BaseException) -> str:
    try:
        return str(exc)[:4000]
    except Exception:
        return type(exc).__name__


class _Decoder(pickle.Unpickler):
    """Reads the worker's messages: plain values and references only; no class is ever
    looked up, so nothing the worker sends can run code here."""

    def __init__(self, data: bytes, peer: Peer, classes: dict[tuple[str, str], type]) -> None:
        super().__init__(io.BytesIO(data))
        self.peer, self.classes = peer, classes

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"the worker sent a {module}.{name}: refused")

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid:
            raise pickle.UnpicklingError("a bad reference")
        kind = pid[0]
        if kind == "t" and len(pid) == 2 and isinstance(pid[1], int):
            return self.peer.table.get(pid[1])
        if kind == "w" and len(pid) == 3 and isinstance(pid[1], int):
            return self.peer.proxy_for(Ref(pid[1], pid[2] if isinstance(pid[2], dict)
                                           else {}))
        if kind == "e" and len(pid) == 2:
            return rebuild_exception(pid[1], _lookup, self.classes)
        if kind == "c" and len(pid) == 2 and isinstance(pid[1], list):
            chain = [(str(m), str(q)) for m, q in pid[1] if isinstance(m, str)][:64]
            return exception_class(chain, _lookup, self.classes)
        raise pickle.UnpicklingError("a bad reference")


def _serve(peer: Peer, message: tuple[Any, ...]) -> Any:
    """A request from the student's code, on one of our objects."""
    op, target = message[0], message[1] if len(message) > 1 else None
    if isinstance(target, RemoteObject) or op == "load":
        raise PermissionError(f"the worker may not ask for {op!r} here")
    if op == "call" and len(message) == 4:
        if not callable(target):
            raise TypeError(f"{type(target).__name__} object is not callable")
        return target(*message[2], **message[3])
    if op == "method" and len(message) == 5:
        name = Exposure.check_name(message[2])
        Exposure.check_method(target, name)
        return getattr(target, name)(*message[3], **message[4])
    if op == "getattr" and len(message) == 3:
        name = Exposure.check_name(message[2])
        Exposure.check_method(target, name)
        return getattr(target, name)
    if op == "setattr" and len(message) == 4:
        setattr(target, Exposure.check_name(message[2]), message[3])
        return None
    if op == "op" and len(message) == 4 and message[2] in OPS:
        return OPS[message[2]](target, *message[3])
    raise ValueError(f"unknown request {op!r}")


class RemoteObject(Proxy):
    """An object of the student's, living in the worker."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name in ("__name__", "__file__", "__qualname__", "__module__") and name in self._info:
            return self._info[name]
        if name.startswith("__") and name.endswith("__") and name != "__dict__":
            raise AttributeError(name)  # copy, pickle and friends probe these: not forwarded
        return super().__getattr__(name)


def is_function(obj: Any) -> bool:
    """Whether `obj` is a function of the student's (what inspect.isfunction says there)."""
    return isinstance(obj, RemoteObject) and obj._info.get("kind") == "function"


def student_functions(module: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """The functions a student's module defines itself, by name (not ones it imports)."""
    names = module.__dict__
    own = str(getattr(module, "__name__", ""))
    return [(name, fn) for name, fn in names.items()
            if name.startswith(prefix) and is_function(fn) and fn._info.get("__module__") == own]


def share_one_processor(cpu: int) -> set[int] | None:
    """Put this process (and so the worker it starts next) on processor `cpu`; returns the
    processors it had, or None where that cannot be done. The two processes take turns and
    never run at once, and a call that crosses between processors waits for the other one to
    wake up: on one processor a round trip costs about a third (see `sandbox bench`)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {cpu})
    except OSError:
        return None
    return before


class StudentWorker:
    """One worker process and the connection to it."""

    def __init__(self, hide: list[str] | None = None, cpu: int = -1,
                 started: StartedWorker | None = None,
                 forbidden: Mapping[str, str] | None = None) -> None:
        """Start the worker (or take one `launch.start_worker` started); `hide` are folders it
        must not see, `cpu` the processor it moves to once started (-1: any), `forbidden`
        the modules it refuses to import, {module: why} (forbid.py; the same as `started` was
        started with)."""
        self.classes: dict[tuple[str, str], type] = {}
        self.forbidden = dict(forbidden or {})
        self.proc, ours = started or start_worker(hide or [], cpu, forbidden=self.forbidden)
        self.sock = ours
        self.peer = Peer(
            ours, encode=self._encode, decode=self._decode, serve=_serve,
            describe_error=lambda _peer, exc: exc,
            rebuild_error=lambda _peer, desc: rebuild_exception(desc, _lookup, self.classes),
            proxy=RemoteObject)
        self.peer.on_gone = self._gone
        self._level = ""
        self.loads = 0

    @property
    def level(self) -> str:
        """How the worker shut itself in ("namespaces" or "process"): its first message,
        waited for only when first needed, so that it starts while the tests load."""
        if not self._level:
            try:
                hello = self._decode(self.peer, recv_frame(self.sock))[0]
            except (Gone, OSError, pickle.UnpicklingError) as exc:
                self.stop()
                raise StudentCodeError(f"the student's worker did not start: {exc} "
                                       f"(exit code {self.proc.returncode})") from None
            self._level = str(hello.get("level", "?")) if isinstance(hello, dict) else "?"
        return self._level

    def _encode(self, peer: Peer, message: Any) -> bytes:
        buffer = io.BytesIO()
        _Encoder(buffer, peer, self.forbidden).dump(message)
        return buffer.getvalue()

    def _decode(self, peer: Peer, data: bytes) -> Any:
        return _Decoder(data, peer, self.classes).load()

    def _gone(self, cause: BaseException) -> BaseException:
        """The error a test sees when the worker broke down in the middle of a call."""
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return StudentCodeError(f"the student's code broke the connection to the grader "
                                    f"({cause})")
        how = (f"was killed by signal {-code}" if code < 0 else f"ended with exit code {code}")
        return StudentCodeError(f"the process running your code {how} in the middle of a "
                                "call (does it call os._exit or exit the interpreter?)")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None and not self.peer.closed

    def load(self, name: str, files: dict[str, str], main: str) -> Any:
        """Import the student's files in the worker; returns the module's proxy."""
        self.loads += 1
        assert self.level  # the worker has said it is ready
        return self.peer.request("load", name, files, main)

    def stop(self) -> None:
        """Hang up; a worker that does not end at once (busy in the student's code) is
        killed. Whatever it started goes with it (confine.py)."""
        self.peer.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()
        try:
            self.proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)


__all__ = ["Exposure", "ForbiddenImport", "RemoteFailure", "RemoteObject", "StudentCodeError",
           "StudentWorker", "is_function", "student_functions"]
