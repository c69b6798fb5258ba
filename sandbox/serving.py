"""`sandbox serve`: the same sandbox behind a real socket, for curl, browsers and API tools.

A request that arrives over TCP is handed to the sandbox exactly like one from the scenario
engine: through the simulated DNS, balancer and gateway into an app instance, with a trace.
In serve mode the simulated clock follows the wall clock, so a 30-second cache TTL lasts 30
real seconds. A small admin API under `/_sandbox/` (answered only to loopback clients) reads
and changes settings and lists recent traces.
"""

from __future__ import annotations

import contextlib
import ipaddress
import signal
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from sandbox.errors import SettingsError
from sandbox.network import SimRequest
from sandbox.runtime import Sandbox
from sandbox.settings import apply_assignments, format_value
from sandbox.tracing import Trace

ADMIN_PREFIX = "/_sandbox/"
RECENT_TRACES = 200

Send = Callable[[dict[str, Any]], Any]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def port_free(host: str, port: int) -> bool:
    """Whether `port` on `host` can be bound right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class ServedSandbox:
    """An ASGI app that hands every HTTP request to a Sandbox.

    Args:
        sandbox: the sandbox to serve.
        log: called with one line per request (method, path, status, simulated and real ms).
    """

    def __init__(self, sandbox: Sandbox, log: Callable[[str], None] | None = None) -> None:
        self.sandbox = sandbox
        self.log = log
        self.recent: deque[Trace] = deque(maxlen=RECENT_TRACES)
        self._started = time.monotonic()
        self._start_ms = sandbox.clock.now_ms
        self.listeners: list[Callable[[Trace], None]] = []  # e.g. the terminal app

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Any], send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        client_host = (scope.get("client") or ("unknown", 0))[0]
        path: str = scope["path"]
        if path.startswith(ADMIN_PREFIX):
            await self._admin(scope, body, client_host, send)
            return
        real_start = time.perf_counter()
        elapsed_ms = (time.monotonic() - self._started) * 1000.0
        clock = self.sandbox.clock
        clock.jump_to(max(clock.now_ms, self._start_ms + elapsed_ms))
        host = "shop.sandbox"
        request = SimRequest(
            method=scope["method"], path=path, query=scope.get("query_string", b""),
            headers=[(k.lower(), v) for k, v in scope.get("headers", []) if k.lower() != b"host"],
            body=body, client=client_host, host=host,
        )
        response = await self.sandbox.deliver(request)
        self.recent.append(response.trace)
        for listener in self.listeners:
            listener(response.trace)
        headers = [(k, v) for k, v in response.headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})
        if self.log is not None:
            real_ms = (time.perf_counter() - real_start) * 1000.0
            self.log(f"{scope['method']:6} {path[:30]:30} {response.status}  "
                     f"{response.trace.duration_ms:7.2f} ms sim  {real_ms:6.2f} ms real")

    async def _lifespan(self, receive: Callable[[], Any], send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # The sandbox belongs to whoever made it (serve() closes it after the server
                # stops); test clients run a lifespan around every call.
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _admin(self, scope: dict[str, Any], body: bytes, client_host: str,
                     send: Send) -> None:
        if not is_loopback(client_host):
            await _json(send, 403, _error("forbidden", "The admin API answers loopback only."))
            return
        path, method = scope["path"][len(ADMIN_PREFIX):], scope["method"]
        if path == "settings" and method == "GET":
            values = {k: format_value(v) for k, v in self.sandbox.settings.as_dict().items()}
            await _json(send, 200, values)
        elif path == "settings" and method in ("POST", "PATCH"):
            try:
                changes = orjson.loads(body) if body else None
                if not isinstance(changes, dict):
                    raise SettingsError('send a JSON object: {"cache.strategy": "cache_aside"}')
                assignments = [f"{k}={v if isinstance(v, str) else format_value(v)}"
                               for k, v in changes.items()]
                settings = apply_assignments(self.sandbox.settings, assignments)
                self.sandbox.apply(settings)
            except orjson.JSONDecodeError:
                await _json(send, 400, _error("bad_request", "The body is not valid JSON."))
                return
            except SettingsError as exc:
                await _json(send, 422, _error("validation_failed", str(exc)))
                return
            values = {k: format_value(v) for k, v in self.sandbox.settings.as_dict().items()}
            await _json(send, 200, values)
        elif path == "traces" and method == "GET":
            await _json(send, 200, [t.as_dict() for t in list(self.recent)[-20:]])
        else:
            await _json(send, 404, _error("not_found", f"No admin route {method} {scope['path']}."))


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


async def _json(send: Send, status: int, content: Any) -> None:
    body = orjson.dumps(content)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def serve(sandbox: Sandbox, host: str, port: int, log: Callable[[str], None]) -> None:
    """Serve until Ctrl-C or SIGTERM, then finish in-flight requests and return."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises the signal after shutting down, which would end the process
            # by signal; a graceful stop should return normally instead.
            def stop(signum: int, frame: object) -> None:
                if self.should_exit:
                    self.force_exit = True  # a second Ctrl-C: stop waiting
                self.should_exit = True

            previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    app = ServedSandbox(sandbox, log)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            lifespan="on", timeout_graceful_shutdown=5)
    try:
        Server(config).run()
    finally:
        sandbox.close()


def curl_command(method: str, path: str, headers: dict[str, str], body: str | None,
                 base_url: str = "http://127.0.0.1:8000") -> str:
    """The curl command that sends the same request to `sandbox serve`."""
    parts = ["curl", "-i"]
    if method != "GET":
        parts += ["-X", method]
    for key, value in headers.items():
        parts += ["-H", _quote(f"{key}: {value}")]
    if body is not None:
        parts += ["--data", _quote(body)]
    parts.append(_quote(base_url + path))
    return " ".join(parts)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
