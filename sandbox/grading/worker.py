"""The student's worker: the only process in which a student's code ever runs.

The grader's test process starts it (`StudentWorker` in remote.py) with one end of a socket:

    python -I -S -c "...; main(sys.argv)" FD CPU FORBIDDEN /course /tmp/grade-xyz ...

It shuts itself in first (confine.py: a root of its own, holding only the system, this Python
and the sandbox package, read-only, and a fresh /tmp; the folders named are covered should
one lie inside those), refuses the modules its exercise forbids (FORBIDDEN, see forbid.py),
then imports the student's files when asked (they come over the socket: it never reads the
student's folder) and answers calls on them. Objects
of the test process reach it as `TrustedProxy`s: calling one asks the test process, which
decides what the student's code may do with it. What it sends back is reduced to plain
values (see wire.py), so all it can ever change in a verdict is what its functions return
and raise.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import pickle
import socket
import sys
import types
from typing import Any

from sandbox.grading import confine
from sandbox.grading.wire import (
    MAX_TEXT,
    OPS,
    Gone,
    Peer,
    Proxy,
    Ref,
    class_path,
    dumps,
    rebuild_exception,
    send_frame,
)

PLAIN = (type(None), bool, int, float, complex, str, bytes)
MAX_DEPTH = 200
SCRATCH = ""  # the folder the student's files are written to; set in main()
REFUSED = ""  # why no student code can run here (a forbidden module the worker needs itself)


class TrustedProxy(Proxy):
    """An object of the test process, as the student's code sees it."""

    __slots__ = ()


class _Mark:
    """Stands for an object in a message: pickled as a persistent id."""

    __slots__ = ("pid",)

    def __init__(self, pid: tuple[Any, ...]) -> None:
        self.pid = pid


def _on_class(cls: type, name: str) -> Any:
    """`name` as the class defines it, without running any descriptor (inspect's
    getattr_static, without importing inspect at start-up)."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return None


def info(obj: Any) -> dict[str, Any]:
    """What the test process is told about one of our objects along with its reference."""
    kind = ("module" if isinstance(obj, types.ModuleType) else
            "class" if isinstance(obj, type) else
            "function" if isinstance(obj, types.FunctionType | types.BuiltinFunctionType) else
            "object")
    found: dict[str, Any] = {"kind": kind}
    if kind == "module":
        found["methods"] = [n for n, v in vars(obj).items()
                            if not n.startswith("_") and isinstance(v, types.FunctionType)]
        found["__name__"] = obj.__name__
        found["__file__"] = getattr(obj, "__file__", None)
    else:
        cls = obj if kind == "class" else type(obj)
        if kind == "object":
            found["methods"] = [n for n in dir(cls) if not n.startswith("_")
                                and callable(_on_class(cls, n))]
        for name in ("__name__", "__qualname__", "__module__"):
            value = getattr(obj, name, None) if kind != "object" else None
            if isinstance(value, str):
                found[name] = value
    return found


def plain(peer: Peer, obj: Any, depth: int = 0) -> Any:
    """`obj` as exact built-in values, with marks for everything that must stay here."""
    kind = type(obj)
    if kind in PLAIN:
        return obj
    if depth > MAX_DEPTH:
        raise RecursionError("the value is nested too deeply to send")
    if kind is TrustedProxy:
        return _Mark(("t", obj._ref.id))
    for base in (tuple, list, set, frozenset):
        if issubclass(kind, base):
            return base(plain(peer, item, depth + 1) for item in base.__iter__(obj))
    if issubclass(kind, dict):
        return {plain(peer, k, depth + 1): plain(peer, v, depth + 1)
                for k, v in dict.items(obj)}
    for scalar in (int, float, str, bytes):  # subclasses: the plain value, nothing else
        if issubclass(kind, scalar):
            value = scalar(obj)
            if type(value) is scalar:
                return value
    if isinstance(obj, BaseException):
        return _Mark(("e", describe(peer, obj)))
    if isinstance(obj, type) and issubclass(obj, BaseException):
        return _Mark(("c", class_path(obj)))
    return _Mark(("w", peer.table.add(obj), info(obj)))


def _safe(peer: Peer, value: Any) -> Any:
    try:
        return plain(peer, value)
    except Exception:
        try:
            return repr(value)[:200]
        except Exception:
            return "<unprintable>"


def describe(peer: Peer, exc: BaseException) -> dict[str, Any]:
    """An exception, as the test process rebuilds it (see wire.rebuild_exception)."""
    try:
        message = str(exc)[:MAX_TEXT]
    except Exception:
        message = f"<an unprintable {type(exc).__name__}>"
    attrs: dict[str, Any] = {}
    for name, value in list(getattr(exc, "__dict__", {}).items())[:50]:
        if isinstance(name, str) and not name.startswith("_"):
            attrs[name] = _safe(peer, value)
    if isinstance(exc, SyntaxError):
        attrs.update({"msg": str(exc.msg), "lineno": exc.lineno, "text": exc.text,
                      "filename": os.path.basename(exc.filename or "")})
    frames = []
    try:
        import traceback

        for frame in traceback.extract_tb(exc.__traceback__):
            if SCRATCH and frame.filename.startswith(SCRATCH):
                frames.append((os.path.basename(frame.filename), frame.lineno or 0,
                               (frame.line or "")[:200]))
    except Exception:
        frames = []
    return {"mro": class_path(type(exc)), "args": _safe(peer, exc.args), "attrs": attrs,
            "message": message, "frames": frames}


def _lookup(module: str, qualname: str) -> type | None:
    try:
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except Exception:
        return None
    return found if isinstance(found, type) else None


_CLASSES: dict[tuple[str, str], type] = {}


def rebuild(chain: list[tuple[str, str]], args: tuple[Any, ...], attrs: dict[str, Any],
            message: str) -> BaseException:
    """How the test process's exceptions are unpickled here (see remote.Encoder)."""
    return rebuild_exception({"mro": chain, "args": args, "attrs": attrs, "message": message},
                             _lookup, _CLASSES)


def _encode(peer: Peer, message: Any) -> bytes:
    def persistent_id(obj: Any) -> Any:
        return obj.pid if type(obj) is _Mark else None

    return dumps(plain(peer, message), persistent_id)


class _Decoder(pickle.Unpickler):
    def __init__(self, data: bytes, peer: Peer) -> None:
        import io

        super().__init__(io.BytesIO(data))
        self.peer = peer

    def persistent_load(self, pid: Any) -> Any:
        if pid[0] == "w":
            return self.peer.table.get(pid[1])
        return self.peer.proxy_for(Ref(pid[1], pid[2]))


def _decode(peer: Peer, data: bytes) -> Any:
    return _Decoder(data, peer).load()


def _serve(peer: Peer, message: tuple[Any, ...]) -> Any:
    op = message[0]
    if op == "load":
        return load(*message[1:])
    target = message[1]
    if op == "call":
        return target(*message[2], **message[3])
    if op == "method":  # bound as `obj.name` was when the test process first looked it up
        name = message[2]
        found = (None if isinstance(target, types.ModuleType)
                 else _on_class(type(target), name))
        method = found.__get__(target) if isinstance(found, types.FunctionType) else \
            getattr(target, name)
        return method(*message[3], **message[4])
    if op == "getattr":
        return getattr(target, message[2])
    if op == "setattr":
        setattr(target, message[2], message[3])
        return None
    if op == "op" and message[2] in OPS:
        return OPS[message[2]](target, *message[3])
    raise ValueError(f"unknown request {op!r}")


_LOADS = 0


def load(name: str, files: dict[str, str], main: str) -> types.ModuleType:
    """Write the student's files to a folder of their own and import `main` as `name`.

    The folder is put first on sys.path while it loads, so a student file may import a
    sibling file of the same exercise by its plain name.
    """
    global _LOADS
    if REFUSED:
        raise RuntimeError(REFUSED)
    _LOADS += 1
    folder = os.path.join(SCRATCH, f"load-{_LOADS}")
    os.makedirs(folder)
    for relative, text in files.items():
        path = os.path.join(folder, os.path.normpath(relative).lstrip("/."))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    path = os.path.join(folder, main)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {main}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return module


def main(argv: list[str]) -> int:
    global SCRATCH, REFUSED
    fd, cpu, forbidden, hide = int(argv[1]), int(argv[2]), argv[3], argv[4:]
    level = confine.jail([str(p) for p in hide])
    if forbidden != "-":  # before anything of the student's can run
        from sandbox.grading import forbid

        try:
            forbid.install(forbid.decode(forbidden))
        except ImportError as exc:
            REFUSED = str(exc)
    SCRATCH = f"/tmp/student-{os.getpid()}-{os.urandom(4).hex()}"
    os.mkdir(SCRATCH, 0o700)
    os.chdir(SCRATCH)
    sock = socket.socket(fileno=fd)
    peer = Peer(sock, encode=_encode, decode=_decode, serve=_serve,
                describe_error=describe,
                rebuild_error=lambda _peer, body: body if isinstance(body, BaseException)
                else RuntimeError(str(body)),
                proxy=TrustedProxy)
    try:
        send_frame(sock, dumps(({"level": level}, []), lambda _obj: None))
        if cpu >= 0:  # started: now beside the test process, which takes turns with it
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, {cpu})
        peer.serve_forever()
    except (Gone, OSError):
        pass
    sys.stdout.flush()
    if level == "process":  # no fresh /tmp of its own to vanish with it: tidy up
        import shutil

        shutil.rmtree(SCRATCH, ignore_errors=True)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
