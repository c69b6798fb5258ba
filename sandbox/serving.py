"""`sandbox serve`: the same sandbox behind a real socket, for curl, browsers and API tools.

A request that arrives over TCP is handed to the sandbox exactly like one from the scenario
engine: through the simulated DNS, balancer and gateway into an app instance, with a trace.
In serve mode the simulated clock follows the wall clock: each request starts at the real
moment it arrived, never later, so a 30-second cache TTL lasts 30 real seconds and a
20 req/s limit lets 20 requests through per real second.

A small admin API under `/_sandbox/` reads and changes settings and lists recent traces. It
can switch authentication off, so it is guarded like a local notebook server's API is:
- loopback clients only;
- the Host header must be an IP address, `localhost` or the bound name. A web page cannot
  point its own domain at 127.0.0.1 (DNS rebinding) and talk to it as "same origin";
- an Origin header, when a browser sends one, must be this server's own;
- writes must be JSON, which a cross-site HTML form cannot send without a CORS preflight;
- every call carries the admin token `serve` prints when it starts (`X-Sandbox-Token`).

`GET /metrics` answers the shop's metrics in Prometheus's format, for a scraper. It needs no
token, like most exporters: it holds counts per route template and status and nothing about
any user, and a scraper's credential should not also be one that changes settings. It stays
outside the shop (no rate limit, no trace, not counted), as a sidecar exporter would.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import secrets
import signal
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from sandbox.backend.controllers import is_json
from sandbox.backend.schemas import MAX_BODY_BYTES
from sandbox.errors import SettingsError
from sandbox.network import SimRequest
from sandbox.observability import RequestLog, ShopMetrics, iso_time, json_line
from sandbox.runtime import Sandbox
from sandbox.safe_text import printable
from sandbox.settings import apply_assignments, format_value
from sandbox.tracing import Trace

ADMIN_PREFIX = "/_sandbox/"
ADMIN_TOKEN_HEADER = "X-Sandbox-Token"
METRICS_PATH = "/metrics"
LogFormat = Literal["text", "json"]
RECENT_TRACES = 200
# All request headers together; more gets 431 in the error envelope. (Common servers allow
# 8 to 32 KB; the largest header the shop reads is a 4 KB access token.)
MAX_HEADER_BYTES = 16 * 1024
# What the HTTP parser buffers before it gives up on a request: big enough that any header
# block up to here reaches the app, which answers it with the envelope.
PARSER_LIMIT_BYTES = 1024 * 1024
ADMIN_BODY_BYTES = 16 * 1024  # a settings change is a few hundred bytes
# A request must arrive whole within this many seconds; a client that sends half its headers
# and waits (a "slowloris") would otherwise hold its connection open for ever.
REQUEST_READ_TIMEOUT_S = 30.0
MIN_ADMIN_TOKEN = 16

Send = Callable[[dict[str, Any]], Any]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(host: str) -> str:
    """The name in a Host header, without the port: `[::1]:8000` -> `::1`."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


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
        log_format: `text` for those lines, `json` for one JSON object per request instead
            (see sandbox.observability.request_log).
        admin_token: the admin API's token; by default a new random one (`admin_token`).
        host_names: names besides IP addresses and `localhost` that the admin API answers
            to (the name `serve` was told to bind, if it is one).
        trusted_proxies: peers whose X-Forwarded-For the rate limiter believes.
        wall: the wall clock in seconds (tests pass a fake one).
    """

    def __init__(self, sandbox: Sandbox, log: Callable[[str], None] | None = None,
                 admin_token: str | None = None, host_names: Iterable[str] = (),
                 trusted_proxies: Iterable[str] = (),
                 wall: Callable[[], float] = time.monotonic,
                 log_format: LogFormat = "text") -> None:
        self.sandbox = sandbox
        self.log = log
        self.log_format = log_format
        jobs = sandbox.ctx.jobs
        self.metrics = ShopMetrics(queue_depth=(lambda: jobs.pending) if jobs is not None
                                   else None)
        self.json_log = (RequestLog(log, clock=lambda: iso_time(datetime.now(UTC)))
                         if log is not None and log_format == "json" else None)
        self.admin_token = admin_token or secrets.token_urlsafe(24)
        self.host_names = frozenset(name.lower() for name in host_names) | {"localhost"}
        sandbox.network.gateway.trusted_proxies = frozenset(trusted_proxies)
        self.recent: deque[Trace] = deque(maxlen=RECENT_TRACES)
        self._wall = wall
        self._started = wall()
        self._start_ms = sandbox.clock.now_ms
        self.listeners: list[Callable[[Trace], None]] = []  # e.g. the terminal app

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Any], send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        client_host = (scope.get("client") or ("unknown", 0))[0]
        path: str = scope["path"]
        if sum(len(k) + len(v) + 4 for k, v in scope.get("headers", [])) > MAX_HEADER_BYTES:
            await _json(send, 431, _error(
                "headers_too_large",
                f"The request's headers are larger than {MAX_HEADER_BYTES} bytes in all."))
            return
        limit = ADMIN_BODY_BYTES if path.startswith(ADMIN_PREFIX) else MAX_BODY_BYTES
        body = await _read_body(scope, receive, limit)
        if body is None:
            await _json(send, 413, _error("payload_too_large",
                                          f"The body is larger than {limit} bytes."))
            return
        if path.startswith(ADMIN_PREFIX):
            await self._admin(scope, body, client_host, send)
            return
        if path == METRICS_PATH:
            await self._metrics(scope, send)
            return
        real_start = time.perf_counter()
        # The request starts when it really arrived. The previous request's simulated work
        # may have moved the clock past that moment (the engine simulates one request at a
        # time); jumping back is what the scenario engine does for overlapping requests too.
        # Never ahead: otherwise time would pass faster than real time under load, and
        # rate-limit windows and TTLs with it.
        self.sandbox.clock.jump_to(self._start_ms + (self._wall() - self._started) * 1000.0)
        host = "shop.sandbox"
        request = SimRequest(
            method=scope["method"], path=path, query=scope.get("query_string", b""),
            headers=[(k.lower(), v) for k, v in scope.get("headers", []) if k.lower() != b"host"],
            body=body, client=client_host, host=host,
        )
        response = await self.sandbox.deliver(request)
        self.recent.append(response.trace)
        self.metrics.observe(response.trace)
        for listener in self.listeners:
            listener(response.trace)
        headers = [(k, v) for k, v in response.headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})
        if self.json_log is not None:
            self.json_log.observe(response.trace)
        elif self.log is not None:
            real_ms = (time.perf_counter() - real_start) * 1000.0
            shown = printable(path)
            self.log(f"{printable(scope['method']):6} {shown[:30]:30} {response.status}  "
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
        status = await self._admin_answer(scope, body, client_host, send)
        if self.log is not None and self.log_format == "json":
            self.log(json_line({
                "timestamp": iso_time(datetime.now(UTC)), "level": "info", "event": "admin",
                "method": scope["method"], "path": scope["path"][:512], "status": status,
                "client": client_host}))
        elif self.log is not None:  # who changed what, and every refusal; never the token
            self.log(f"{printable(scope['method']):6} {printable(scope['path'])[:30]:30} "
                     f"{status}  admin API, from {printable(client_host)}")

    async def _admin_answer(self, scope: dict[str, Any], body: bytes, client_host: str,
                            send: Send) -> int:
        """Answer one admin call; its status."""
        refusal = self._admin_refusal(scope, client_host)
        if refusal is not None:
            await _json(send, refusal[0], _error(refusal[1], refusal[2]))
            return refusal[0]
        path, method = scope["path"][len(ADMIN_PREFIX):], scope["method"]
        if method in ("POST", "PATCH") and not is_json(_header(scope, b"content-type") or ""):
            await _json(send, 415, _error(
                "unsupported_media_type", "Send the settings as JSON, with the header "
                "'Content-Type: application/json'."))
            return 415
        if path == "settings" and method == "GET":
            values = {k: format_value(v) for k, v in self.sandbox.settings.as_dict().items()}
            await _json(send, 200, values)
        elif path == "settings" and method in ("POST", "PATCH"):
            try:
                changes = orjson.loads(body) if body else None
                if not isinstance(changes, dict):
                    raise SettingsError('send a JSON object: {"cache.strategy": "cache_aside"}')
                for key in changes:
                    if "=" in key:  # it would read as `key=value` below
                        raise SettingsError(f"unknown setting {key!r}: `sandbox settings` "
                                            "lists them")
                assignments = [f"{k}={v if isinstance(v, str) else format_value(v)}"
                               for k, v in changes.items()]
                settings = apply_assignments(self.sandbox.settings, assignments)
                self.sandbox.apply(settings)
            except orjson.JSONDecodeError:
                await _json(send, 400, _error("bad_request", "The body is not valid JSON."))
                return 400
            except SettingsError as exc:
                await _json(send, 422, _error("validation_failed", str(exc)))
                return 422
            values = {k: format_value(v) for k, v in self.sandbox.settings.as_dict().items()}
            await _json(send, 200, values)
        elif path == "traces" and method == "GET":
            await _json(send, 200, [t.as_dict() for t in list(self.recent)[-20:]])
        else:
            await _json(send, 404, _error("not_found", f"No admin route {method} {scope['path']}."))
            return 404
        return 200


    async def _metrics(self, scope: dict[str, Any], send: Send) -> None:
        """Prometheus's scrape: the metrics in the format its Accept header asks for."""
        if scope["method"] not in ("GET", "HEAD"):
            body = orjson.dumps(_error("method_not_allowed", f"{METRICS_PATH} answers GET only."))
            await send({"type": "http.response.start", "status": 405,
                        "headers": [(b"content-type", b"application/json"), (b"allow", b"GET"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        text, content_type = self.metrics.exposition(_header(scope, b"accept") or "")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", content_type.encode()),
                                (b"content-length", str(len(text)).encode())]})
        await send({"type": "http.response.body",
                    "body": b"" if scope["method"] == "HEAD" else text})

    def _admin_refusal(self, scope: dict[str, Any], client: str) -> tuple[int, str, str] | None:
        """Why this admin call is refused (status, code, message), or None to let it in."""
        if not is_loopback(client):
            return 403, "forbidden", "The admin API answers loopback clients only."
        for name in (b"host", b"origin", b"content-type", ADMIN_TOKEN_HEADER.lower().encode()):
            if sum(key.lower() == name for key, _ in scope.get("headers", [])) > 1:
                return 400, "bad_request", f"Send the {name.decode()} header once."
        host = _header(scope, b"host") or ""
        if not self._host_allowed(host):
            return 403, "forbidden", (
                f"The admin API answers to an IP address or localhost, not {host!r}: "
                "a web page's own domain pointed at 127.0.0.1 must not reach it.")
        origin = _header(scope, b"origin")
        if origin is not None and origin.lower() != f"http://{host.lower()}":
            return 403, "forbidden", "The admin API refuses calls from other web pages (Origin)."
        token = _header(scope, ADMIN_TOKEN_HEADER.lower().encode()) or ""
        if not hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return 401, "unauthorized", (
                f"Send the admin token in the header '{ADMIN_TOKEN_HEADER}: <token>': "
                "`sandbox serve` prints it when it starts, the terminal app shows it when you "
                "press v.")
        return None

    def _host_allowed(self, host: str) -> bool:
        name = host_name(host).lower()
        if name in self.host_names:
            return True
        try:
            ipaddress.ip_address(name)  # an address cannot be re-pointed by DNS
        except ValueError:
            return False
        return True


async def _read_body(scope: dict[str, Any], receive: Callable[[], Any],
                     limit: int) -> bytes | None:
    """The whole request body, or None once it is over `limit` bytes. A declared length over
    the limit is refused before reading anything (no `100 Continue` invites the body), and
    the body is never read beyond the limit."""
    declared = _header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body"):
            return bytes(body)


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    """The first header called `name` (lower case), or None."""
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


async def _json(send: Send, status: int, content: Any) -> None:
    body = orjson.dumps(content)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def server_config(app: ServedSandbox, host: str, port: int,
                  read_timeout_s: float = REQUEST_READ_TIMEOUT_S, **extra: Any) -> Any:
    """uvicorn's configuration for serving `app`.

    - The HTTP parser buffers up to PARSER_LIMIT_BYTES, so the app itself answers big header
      blocks, and a request the parser cannot read still gets the JSON error envelope.
    - `proxy_headers=False`: uvicorn would otherwise take X-Forwarded-For from any loopback
      peer as the client's address, before the gateway (which believes only
      `--trusted-proxy`) ever sees it; one made-up header would then dodge the rate limit.
    - A request that has not arrived whole after `read_timeout_s` loses its connection.
    """
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                          lifespan="on", http=_envelope_protocol(read_timeout_s),
                          proxy_headers=False,
                          h11_max_incomplete_event_size=PARSER_LIMIT_BYTES, **extra)


def _envelope_protocol(read_timeout_s: float) -> type:
    """uvicorn's HTTP/1.1 protocol, with its plain-text 400 replaced by the error envelope,
    and a deadline for each request to arrive."""
    import asyncio

    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class EnvelopeH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._start_deadline()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._start_deadline()  # the next request on this connection gets its own time

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

        def _start_deadline(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(read_timeout_s, self._too_slow)

        def _too_slow(self) -> None:
            """Still waiting for headers or body: close. (A request being answered is left
            alone; an idle keep-alive connection has its own, shorter timeout.)"""
            cycle = self.cycle
            arriving = cycle is None or cycle.response_complete or cycle.more_body
            if arriving and not self.transport.is_closing():
                self.transport.close()

        def send_400_response(self, msg: str) -> None:
            body = orjson.dumps(_error("bad_request", "The request is not valid HTTP/1.1, or "
                                       f"its headers are over {PARSER_LIMIT_BYTES} bytes."))
            headers = [(b"content-type", b"application/json"), (b"connection", b"close"),
                       (b"content-length", str(len(body)).encode())]
            for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
                          h11.Data(data=body), h11.EndOfMessage()):
                self.transport.write(self.conn.send(event) or b"")
            self.transport.close()

    return EnvelopeH11Protocol


def serve(sandbox: Sandbox, host: str, port: int, log: Callable[[str], None],
          admin_token: str | None = None, trusted_proxies: Iterable[str] = (),
          log_format: LogFormat = "text") -> None:
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

    app = ServedSandbox(sandbox, log, admin_token, host_names=[host],
                        trusted_proxies=trusted_proxies, log_format=log_format)
    config = server_config(app, host, port, timeout_graceful_shutdown=5)
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
