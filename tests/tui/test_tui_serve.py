"""Serving from the app: outside requests arrive in the Requests and Flow tabs as they come."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest
from tui_helpers import WIDE, RecordingApp, playground, wait_until

from sandbox.errors import SettingsError
from sandbox.settings import Settings
from sandbox.tui.screens.playground import PlaygroundScreen
from sandbox.tui.widgets.requests_view import RequestsView


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def outside_get(url: str, results: list[int]) -> threading.Thread:
    """A client outside the app (curl, in effect), in its own thread."""

    def call() -> None:
        results.append(httpx.get(url, timeout=30).status_code)

    thread = threading.Thread(target=call)
    thread.start()
    return thread


async def start_serving(pilot) -> PlaygroundScreen:  # type: ignore[no-untyped-def]
    """Press v in the playground, serving on a free port, and wait until it serves."""
    screen = playground(pilot.app)
    screen.serve_port = free_port()
    await pilot.press("v")
    await wait_until(pilot, lambda: screen.live.running)
    return screen


async def test_serve_show_outside_requests_apply_switches_and_stop() -> None:
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = await start_serving(pilot)
        assert "serving http://127.0.0.1:" in screen.sub_title
        statuses: list[int] = []
        thread = outside_get(f"{screen.live.url}/products/7", statuses)
        await wait_until(pilot, lambda: not thread.is_alive())
        assert statuses == [200]
        view = screen.query_one(RequestsView)
        await wait_until(pilot, lambda: len(view._traces) == 1)
        _, trace = next(iter(view._traces.values()))
        assert trace.path == "/products/7" and trace.status == 200
        assert trace.find("lb") and trace.find("gateway") and trace.find("db")
        # The admin API wants the token the app shows when it starts serving.
        settings_url = f"{screen.live.url}/_sandbox/settings"
        token = {"X-Sandbox-Token": screen.live.admin_token}
        assert screen.live.admin_token and httpx.get(settings_url, timeout=30).status_code == 401
        assert httpx.get(settings_url, headers=token, timeout=30).status_code == 200
        # A switch flipped in the app applies to the served backend from the next request on.
        # Served time follows the wall clock, so the window is an hour: a slow machine must
        # not let the three requests fall into three different windows.
        app.settings = app.settings.replace({"ratelimit.algorithm": "fixed_window",
                                             "ratelimit.limit": 1,
                                             "ratelimit.window_s": 3600})
        await pilot.pause()
        for _ in range(3):
            thread = outside_get(f"{screen.live.url}/products/8", statuses)
            await wait_until(pilot, lambda t=thread: not t.is_alive())
        assert statuses[1:] == [200, 429, 429]
        await wait_until(pilot, lambda: len(view._traces) == 4)
        await pilot.press("v")
        await wait_until(pilot, lambda: not screen.live.running)
        assert screen.sub_title == "playground"
        assert not app.errors()


async def test_a_busy_port_is_shown_as_an_error_not_a_crash() -> None:
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = playground(app)
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            screen.serve_port = taken.getsockname()[1]
            await pilot.press("v")
            await pilot.pause()
        assert not screen.live.running
        assert any("in use" in error for error in app.errors())


async def test_a_new_redis_url_waits_for_the_next_serve_and_the_rest_applies_now() -> None:
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = await start_serving(pilot)
        served = screen.live.sandbox
        assert served is not None
        for strategy in ("cache_aside", "write_through"):  # said once, not at every change
            app.settings = app.settings.replace({"redis.url": "redis://127.0.0.1:1/0",
                                                 "cache.strategy": strategy})
            await wait_until(pilot, lambda s=strategy: served.settings.cache.strategy == s)
        assert served.settings.redis.url == ""
        warnings = [message for severity, title, message in app.shown if title == "redis.url"]
        assert len(warnings) == 1 and "serve again" in warnings[0]
        assert not app.errors()
        # Serving again with that Redis unreachable is an error in the app, not a crash.
        await pilot.press("v")
        await wait_until(pilot, lambda: not screen.live.running)
        await pilot.press("v")
        await pilot.pause()
        assert not screen.live.running
        assert any("cannot reach Redis at redis://127.0.0.1:1/0" in error
                   for error in app.errors())


async def test_a_change_the_served_backend_refuses_is_shown_not_printed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = await start_serving(pilot)

        def refuse(settings: Settings) -> None:
            raise SettingsError("your rate limiter's __init__ failed")

        monkeypatch.setattr(screen.live.sandbox, "apply", refuse)
        app.settings = app.settings.replace({"cache.strategy": "cache_aside"})
        await wait_until(pilot, lambda: app.errors())
        assert app.errors() == ["serving: the served backend kept its settings: "
                                "your rate limiter's __init__ failed"]
        await pilot.press("v")
        await wait_until(pilot, lambda: not screen.live.running)
