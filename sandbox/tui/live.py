"""Serving from the terminal app: `sandbox serve` in a background thread, traces handed back.

Nothing here imports Textual. The server runs uvicorn on its own event loop in a daemon
thread; every outside request's trace goes to `on_trace` (called in that thread, so the app
hands it to its own thread). Settings changes are applied inside the server's loop, between
requests, never in the middle of one; a change that cannot be applied goes to `on_error`
(also called in that thread) rather than to a traceback on the terminal.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from sandbox.errors import SettingsError
from sandbox.settings import Settings
from sandbox.tracing import Trace

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox


class LiveServer:
    """One served sandbox on 127.0.0.1, started and stopped by the app."""

    def __init__(self, on_trace: Callable[[Trace], None],
                 on_error: Callable[[str], None] = lambda message: None) -> None:
        self.on_trace = on_trace
        self.on_error = on_error
        self.port = 0
        self.admin_token = ""  # for the admin API under /_sandbox/, new at every start
        self.sandbox: Sandbox | None = None
        self._server: object | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, settings: Settings, port: int = 8000, timeout_s: float = 15.0) -> None:
        """Serve on 127.0.0.1:`port`.

        SettingsError if the port is taken or the server cannot start; CacheUnavailable if
        `redis.url` names a Redis that does not answer.
        """
        import uvicorn

        from sandbox.course.progress import data_dir
        from sandbox.mechanisms.auth import load_signing_secret
        from sandbox.runtime import Sandbox
        from sandbox.serving import ServedSandbox, port_free, server_config

        if self.running:
            return
        if not port_free("127.0.0.1", port):
            raise SettingsError(f"port {port} is in use: stop what uses it first")
        self.sandbox = Sandbox(settings, secret=load_signing_secret(data_dir()))
        app = ServedSandbox(self.sandbox)
        self.admin_token = app.admin_token
        app.listeners.append(self.on_trace)
        server = uvicorn.Server(server_config(app, "127.0.0.1", port))
        self._server = server
        self.port = port
        started = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            loop.call_soon(started.set)
            try:
                loop.run_until_complete(server.serve())
            finally:
                loop.close()

        self._thread = threading.Thread(target=serve, name="sandbox-serve", daemon=True)
        self._thread.start()
        started.wait(timeout_s)
        for _ in range(int(timeout_s * 50)):
            if server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.02)
        if not server.started:
            self.stop()
            raise SettingsError(f"the server could not start on port {port}")

    def apply(self, settings: Settings) -> bool:
        """Use new settings from the next request on.

        `redis.url` is fixed while serving (the served data lives in that Redis), so a new one
        is kept for the next start and False is returned; every other switch applies now.
        """
        sandbox = self.sandbox
        if not self.running or self._loop is None or sandbox is None:
            return True
        serving_url = sandbox.settings.redis.url
        kept = settings.redis.url == serving_url
        if not kept:
            settings = settings.replace({"redis.url": serving_url})

        def apply_between_requests() -> None:
            try:
                sandbox.apply(settings)
            except Exception as exc:  # a plugged part may be the learner's code
                self.on_error(f"the served backend kept its settings: {exc}")

        self._loop.call_soon_threadsafe(apply_between_requests)
        return kept

    def stop(self) -> None:
        """Finish in-flight requests, stop, and close the sandbox."""
        server = self._server
        if server is not None:
            server.should_exit = True  # type: ignore[attr-defined]
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.sandbox is not None:
            self.sandbox.close()
        self._server = self._thread = self._loop = None
        self.sandbox = None
