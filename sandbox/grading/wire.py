"""The wire between the grader's test process (trusted) and the student's worker (untrusted).

Student code runs in a worker process of its own. The tests call it through proxies, and
it calls back into the objects the tests hand it (a Redis client, a database connection, a
`load()` function) through proxies of its own. Both directions use one small protocol on one
socket, spoken by a `Peer` on each side:

    request  ("call", ref, args, kwargs)   ("method", ref, name, args, kwargs)
             ("getattr", ref, name)        ("setattr", ref, name, value)
             ("op", ref, dunder, args)     ("load", name, files, main)
    answer   ("ok", value)                 ("raised", exception description)

Every frame is a 4-byte length and a pickle, and the two directions are not alike:

- trusted -> worker: an ordinary pickle. Plain values (numbers, strings, lists, dicts, ...)
  and exceptions travel by value; any other object stays in the trusted process and travels
  as a *reference* that the worker can only call (see `Exposure` in remote.py for what it may
  reach).
- worker -> trusted: values are first reduced to exact built-in types (a `str` subclass with
  a clever `__eq__` arrives as a plain `str`), everything else becomes a reference, and the
  trusted side reads the pickle with an unpickler that refuses every class. So no code of the
  student's ever runs in the trusted process, and a result is only ever a value.

Only the standard library is imported here: the worker starts with this module alone.
"""

from __future__ import annotations

import contextlib
import io
import pickle
import socket
import struct
import threading
import weakref
from collections.abc import Callable
from typing import Any

MAX_FRAME = 64 * 1024 * 1024  # one message; a bigger one is refused, never allocated
_HEADER = struct.Struct("!I")


class WireError(Exception):
    """The other side broke the protocol or went away."""


class Gone(WireError):
    """The other process ended (or closed the socket)."""


class Unreadable(WireError):
    """A message arrived whole but could not be rebuilt on this side."""


class RemoteFailure(Exception):
    """A request the other side could not even begin (an unknown reference, a bad message)."""


def send_frame(sock: socket.socket, payload: bytes) -> None:
    if len(payload) > MAX_FRAME:
        raise WireError(f"a message of {len(payload)} bytes is over the limit of {MAX_FRAME}")
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(min(size - len(chunks), 1 << 20))
        if not chunk:
            raise Gone("the other process closed the connection")
        chunks += chunk
    return bytes(chunks)


def recv_frame(sock: socket.socket) -> bytes:
    (size,) = _HEADER.unpack(_recv_exact(sock, _HEADER.size))
    if size > MAX_FRAME:
        raise WireError(f"a message of {size} bytes is over the limit of {MAX_FRAME}")
    return _recv_exact(sock, size)


class Ref:
    """The handle of an object that lives in the other process: its number there, and what
    that side told about it (its kind and method names)."""

    __slots__ = ("id", "info")

    def __init__(self, id: int, info: Any = None) -> None:
        self.id, self.info = id, info


class Table:
    """This side's objects that the other side holds references to, by number."""

    def __init__(self) -> None:
        self.objects: dict[int, Any] = {}
        self.ids: dict[int, int] = {}  # id(object) -> number, so one object has one number
        self.next = 1

    def add(self, obj: Any) -> int:
        number = self.ids.get(id(obj))
        if number is None:
            number, self.next = self.next, self.next + 1
            self.objects[number] = obj
            self.ids[id(obj)] = number
        return number

    def get(self, number: int) -> Any:
        try:
            return self.objects[number]
        except KeyError:
            raise RemoteFailure(f"no object number {number} (released?)") from None

    def release(self, number: int) -> None:
        obj = self.objects.pop(number, None)
        if obj is not None:
            self.ids.pop(id(obj), None)


class Peer:
    """One side of the wire: sends requests, answers the other side's requests meanwhile.

    A call blocks until its answer comes; while it waits, it serves whatever the other side
    asks (a student's `get` calling the test's `load()`, which reads the database, ...), so
    calls nest to any depth on one thread. A lock keeps other threads out meanwhile.
    """

    def __init__(self, sock: socket.socket, *, encode: Callable[[Peer, Any], bytes],
                 decode: Callable[[Peer, bytes], Any],
                 serve: Callable[[Peer, tuple[Any, ...]], Any],
                 describe_error: Callable[[Peer, BaseException], Any],
                 rebuild_error: Callable[[Peer, Any], BaseException],
                 proxy: Callable[[Peer, Ref], Any]) -> None:
        self.sock = sock
        self.table = Table()
        self._encode, self._decode, self._serve = encode, decode, serve
        self._describe_error, self._rebuild_error, self._make_proxy = (
            describe_error, rebuild_error, proxy)
        self.proxies: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
        self.released: list[int] = []  # the other side's numbers we no longer hold
        self.lock = threading.RLock()
        self.closed = False
        # What to raise when the other side breaks down (default: Gone or WireError).
        self.on_gone: Callable[[BaseException], BaseException] | None = None

    # -- references -------------------------------------------------------------------------

    def proxy_for(self, ref: Ref) -> Any:
        """One proxy per remote object, so `is` means the same on both sides."""
        found = self.proxies.get(ref.id)
        if found is None:
            found = self._make_proxy(self, ref)
            self.proxies[ref.id] = found
            weakref.finalize(found, self.released.append, ref.id)
        return found

    # -- talking ----------------------------------------------------------------------------

    def _pack(self, message: tuple[Any, ...]) -> bytes:
        """A message and the numbers released since the last one, encoded."""
        released = list(self.released)
        payload = self._encode(self, (message, released))
        del self.released[:len(released)]
        return payload

    def _send(self, message: tuple[Any, ...]) -> None:
        send_frame(self.sock, self._pack(message))

    def request(self, *message: Any) -> Any:
        """Send a request and wait for its answer, serving the other side's meanwhile."""
        with self.lock:
            if self.closed:
                raise Gone("the student's worker has ended")
            try:
                self._send(message)
                kind, body = self._receive()
                while kind == "request":
                    self._answer(body)
                    kind, body = self._receive()
            except (OSError, WireError) as exc:
                self.closed = True
                if self.on_gone is not None:
                    raise self.on_gone(exc) from None
                if isinstance(exc, WireError):
                    raise
                raise Gone(f"the connection to the other process broke: {exc}") from None
        if kind == "ok":
            return body
        # Raised outside the try above: an OSError of the other side's is not a broken wire.
        raise self._rebuild_error(self, body)

    def serve_forever(self) -> None:
        """The worker's main loop: answer requests until the other side hangs up."""
        with self.lock:
            while True:
                try:
                    kind, body = self._receive()
                except Unreadable as exc:
                    # Here only requests come, each waiting for one answer: refusing this one
                    # keeps both sides in step, and the test that sent it learns why, instead
                    # of seeing the worker die as if the student's code had ended it.
                    refusal = RemoteFailure(
                        f"the tests handed the student's code something it cannot rebuild "
                        f"({exc}): a fault in the exercise's tests, not in the student's code")
                    send_frame(self.sock, self._pack(("raised",
                                                      self._describe_error(self, refusal))))
                    continue
                if kind != "request":
                    raise WireError(f"expected a request, got {kind!r}")
                self._answer(body)

    def _receive(self) -> tuple[str, Any]:
        frame = recv_frame(self.sock)
        try:
            message, released = self._decode(self, frame)
            kind = message[0]
        except Exception as exc:  # a class that is missing or refused here, a bad pickle, ...
            raise Unreadable(f"{type(exc).__name__}: {exc}") from None
        if isinstance(released, list):
            for number in released:
                if isinstance(number, int):
                    self.table.release(number)
        if kind in ("call", "method", "getattr", "setattr", "op", "load"):
            return "request", message
        if kind in ("ok", "raised") and len(message) == 2:
            return kind, message[1]
        raise WireError(f"unknown message {kind!r}")

    def _answer(self, message: tuple[Any, ...]) -> None:
        try:
            reply: tuple[Any, ...] = ("ok", self._serve(self, message))
        except BaseException as exc:  # SystemExit and friends too: reported, never obeyed here
            reply = ("raised", self._describe_error(self, exc))
        try:
            payload = self._pack(reply)
        except Exception as exc:  # the answer cannot travel as it is (a refused object): why
            payload = self._pack(("raised", self._describe_error(self, exc)))
        send_frame(self.sock, payload)


def dumps(obj: Any, persistent_id: Callable[[Any], Any]) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=5)
    pickler.persistent_id = persistent_id  # type: ignore[method-assign]
    pickler.dump(obj)
    return buffer.getvalue()


# -- exceptions, in both directions ---------------------------------------------------------

MAX_TEXT = 4000


def class_path(cls: type) -> list[tuple[str, str]]:
    """An exception class and its bases, as (module, qualified name) pairs."""
    return [(str(getattr(c, "__module__", "")), str(getattr(c, "__qualname__", c.__name__)))
            for c in cls.__mro__ if issubclass(c, BaseException)]


class Rebuilt:
    """Mixed into exception classes made on this side for classes that exist only on the
    other: it keeps the other side's message."""

    _remote_message = ""

    def __str__(self) -> str:
        return self._remote_message


def rebuild_exception(desc: Any, lookup: Callable[[str, str], type | None],
                      classes: dict[tuple[str, str], type]) -> BaseException:
    """An exception made from `desc` (see `describe_exception`) with the first class of its
    chain that `lookup` finds here; a class found only on the other side is made here as a
    subclass of that one (the same class each time, from `classes`)."""
    if not isinstance(desc, dict):
        return RemoteFailure(f"an unreadable error: {desc!r}"[:MAX_TEXT])
    chain = [(str(m), str(q)) for m, q in desc.get("mro", [])][:64]
    exc_cls = exception_class(chain, lookup, classes)
    args = desc.get("args", ())
    exc = exc_cls.__new__(exc_cls)
    exc.args = tuple(args) if isinstance(args, (tuple, list)) else (str(args),)
    attrs = desc.get("attrs")
    if isinstance(attrs, dict):
        for name, value in attrs.items():
            if isinstance(name, str) and not name.startswith("__"):
                with contextlib.suppress(AttributeError, TypeError):
                    setattr(exc, name, value)
    if isinstance(exc, Rebuilt):
        exc._remote_message = str(desc.get("message", ""))[:MAX_TEXT]
    frames = desc.get("frames")
    if frames:
        with contextlib.suppress(AttributeError, TypeError):
            exc.__student_frames__ = frames  # type: ignore[attr-defined]
    return exc


def exception_class(chain: list[tuple[str, str]], lookup: Callable[[str, str], type | None],
                    classes: dict[tuple[str, str], type]) -> type[BaseException]:
    if not chain:
        return RemoteFailure
    key = chain[0]
    made = classes.get(key)
    if made is not None:
        return made
    for position, (module, qualname) in enumerate(chain):
        found = lookup(module, qualname)
        if found is not None and isinstance(found, type) and issubclass(found, BaseException):
            if position == 0:
                return found
            name = key[1].rsplit(".", 1)[-1] or "StudentError"
            try:
                made = type(name, (Rebuilt, found), {"__module__": key[0],
                                                     "__qualname__": key[1]})
            except TypeError:  # a base that cannot be subclassed
                made = type(name, (Rebuilt, Exception), {"__module__": key[0],
                                                         "__qualname__": key[1]})
            classes[key] = made
            return made
    return RemoteFailure


# -- proxies, on both sides -----------------------------------------------------------------

# The operations a proxy forwards besides calls and attributes, as the answering side runs them.
OPS: dict[str, Callable[..., Any]] = {
    "__iter__": iter, "__next__": next, "__len__": len, "__bool__": bool, "__repr__": repr,
    "__str__": str, "__getitem__": lambda o, k: o[k],
    "__setitem__": lambda o, k, v: o.__setitem__(k, v),
    "__delitem__": lambda o, k: o.__delitem__(k), "__contains__": lambda o, k: k in o,
    "__enter__": lambda o: o.__enter__(),
    "__exit__": lambda o, e: o.__exit__(type(e) if e is not None else None, e, None),
}


class Proxy:
    """An object of the other process. Calls, attribute reads and writes, iteration, `len`,
    `in`, `with` and `repr` are forwarded; `==` and `hash` are not (a proxy equals only
    itself). Names the other side listed as methods cost one round trip when called and
    none when looked up."""

    __slots__ = ("__weakref__", "_peer", "_ref")

    def __init__(self, peer: Peer, ref: Ref) -> None:
        object.__setattr__(self, "_peer", peer)
        object.__setattr__(self, "_ref", ref)
        if not isinstance(ref.info, dict):
            ref.info = {}
        ref.info["methods"] = frozenset(str(m) for m in ref.info.get("methods", ()))

    @property
    def _info(self) -> dict[str, Any]:
        info: dict[str, Any] = self._ref.info
        return info

    def __getattr__(self, name: str) -> Any:
        if name in self._info["methods"]:
            return lambda *args, **kwargs: self._peer.request("method", self, name, args,
                                                              kwargs)
        return self._peer.request("getattr", self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._peer.request("setattr", self, name, value)
        # An attribute now hides the method of that name: look it up from here on.
        self._info["methods"] = self._info["methods"] - {name}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._peer.request("call", self, args, kwargs)

    def _op(self, dunder: str, *args: Any) -> Any:
        return self._peer.request("op", self, dunder, args)

    def __iter__(self) -> Any:
        return self._op("__iter__")

    def __next__(self) -> Any:
        return self._op("__next__")

    def __len__(self) -> int:
        return int(self._op("__len__"))

    def __bool__(self) -> bool:
        return bool(self._op("__bool__"))

    def __getitem__(self, key: Any) -> Any:
        return self._op("__getitem__", key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._op("__setitem__", key, value)

    def __delitem__(self, key: Any) -> None:
        self._op("__delitem__", key)

    def __contains__(self, key: Any) -> bool:
        return bool(self._op("__contains__", key))

    def __enter__(self) -> Any:
        return self._op("__enter__")

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        return bool(self._op("__exit__", exc))

    def __repr__(self) -> str:
        try:
            return str(self._op("__repr__"))[:2000]
        except Exception:
            return f"<{self._info.get('kind', 'object')} of the other process (it has ended)>"

    def __str__(self) -> str:
        return str(self._op("__str__"))
