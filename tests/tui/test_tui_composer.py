"""The request composer: send one request through the sandbox and read the answer and trace."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Input, Select, TextArea
from tui_helpers import SMALL, WIDE, RecordingApp, wait_until

from sandbox.settings import Settings
from sandbox.tui.composing import EXAMPLES
from sandbox.tui.screens.composer import ComposerScreen
from sandbox.tui.screens.playground import PlaygroundScreen
from sandbox.tui.widgets.response_view import ResponseView
from sandbox.tui.widgets.waterfall import WaterfallView


def composer(app: RecordingApp) -> ComposerScreen:
    assert isinstance(app.screen, ComposerScreen), app.screen
    return app.screen


async def open_composer(pilot: Pilot[None]) -> ComposerScreen:
    await pilot.press("n")
    await pilot.pause()
    return composer(pilot.app)  # type: ignore[arg-type]


async def send_and_wait(pilot: Pilot[None]) -> ResponseView:
    view = pilot.app.screen.query_one(ResponseView)
    before = view.outcome
    await pilot.press("ctrl+s")
    await pilot.app.workers.wait_for_complete()
    await wait_until(pilot, lambda: view.outcome is not before or view.problem)
    return view


async def test_get_product_1_shows_200_its_trace_and_its_curl() -> None:
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_composer(pilot)
        assert screen.query_one("#path", Input).value == "/products/1"
        view = await send_and_wait(pilot)
        assert view.status == 200
        assert view.outcome is not None and b'"id":1,' in view.outcome.body.replace(b" ", b"")
        assert "db.query" in screen.query_one(WaterfallView).span_names()
        await pilot.press("ctrl+g")
        assert screen.query_one("#response-tabs").active == "trace-tab"

        screen.query_one("#headers", TextArea).text = "X-Trace: yes"
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert app.clipboard == "curl -i http://127.0.0.1:8000/products/1 -H 'X-Trace: yes'"
        assert "127.0.0.1:8000/products/1" in str(screen.query_one("#curl").content)

        screen.query_one("#headers", TextArea).text = "this is not a header"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert any("header line 1" in e for e in app.errors())
        assert view.status == 200  # the last good response is still shown

        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, PlaygroundScreen)


async def test_an_order_as_grace_and_the_current_switches_at_80x24() -> None:
    app = RecordingApp()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_composer(pilot)
        for pane in ("#request-pane", "#response-pane"):  # stacked, each as wide as the screen
            assert screen.query_one(pane).region.right == SMALL[0], pane
        example = next(i for i, e in enumerate(EXAMPLES) if e.label.startswith("POST an order"))
        screen.query_one("#examples", Select).value = example
        await pilot.pause()
        assert screen.query_one("#method", Select).value == "POST"
        assert screen.query_one("#user", Select).value == "grace@shop.test"
        view = await send_and_wait(pilot)
        assert view.status == 201, view.outcome
        assert view.outcome is not None and any("logged in" in n for n in view.outcome.notes)

        # The composer's sandbox follows the app's switches: with a cache, the second read hits.
        screen.fill(EXAMPLES[0].request)
        app.settings = Settings().replace({"cache.strategy": "cache_aside"})
        await send_and_wait(pilot)
        view = await send_and_wait(pilot)
        assert view.outcome is not None and view.status == 200
        hits = [s.attrs.get("cache.hit") for _, s in view.outcome.trace.spans() if s.name == "cache.get"]
        assert hits == [True]


async def test_a_long_curl_is_never_cut_off_and_dropdowns_stand_apart() -> None:
    """Issue #15, bug 5: the copied curl for an order (a login, then the request with its
    token) ended at the pane's bottom; a compact dropdown's options ran into the text beside."""
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = await open_composer(pilot)
        screen.query_one("#examples", Select).value = next(
            i for i, e in enumerate(EXAMPLES) if e.request.method == "POST" and e.request.user)
        await pilot.pause()
        await pilot.press("ctrl+o")
        await pilot.pause()
        curl, scroll = screen.query_one("#curl"), screen.query_one("#curl-scroll")
        lines = curl.size.height
        assert lines > 6  # the old limit that cut it off
        # Every line is there to read: shown in full, or reachable by scrolling.
        assert scroll.virtual_size.height >= lines
        assert scroll.region.bottom <= screen.query_one("#request-pane").region.bottom
        overlay = screen.query_one("#user", Select).query_one("SelectOverlay")
        assert overlay.styles.border_top[0] == "round"
