"""The request composer: write one HTTP request, send it through the sandbox, read its trace.

The composer keeps one Sandbox for its whole life and applies the app's current settings to it
before each send (a new `redis.url` needs a new sandbox, so it builds one). Sending runs in an
async worker that does the blocking part in a thread, and reports back by messages.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import (
    Button,
    Header,
    Input,
    Label,
    Select,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
)

from sandbox.errors import SandboxError
from sandbox.render import status_style
from sandbox.settings import Settings
from sandbox.tui.composing import (
    EXAMPLES,
    METHODS,
    USERS,
    ComposedRequest,
    Outcome,
    build_curl,
    check_path,
    parse_headers,
    send,
)
from sandbox.tui.runs import changed_from_defaults
from sandbox.tui.screens import SCREENS_CSS
from sandbox.tui.shell import Shell, shell
from sandbox.tui.widgets.key_bar import KeyBar
from sandbox.tui.widgets.response_view import ResponseView
from sandbox.tui.widgets.run_controls import describe_error
from sandbox.tui.widgets.waterfall import WaterfallView

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

COMPOSER_SEED = 7


class ComposerScreen(Screen[None]):
    """Method, path, headers, body; Send; response, headers, body and trace."""

    CSS_PATH = SCREENS_CSS

    SUB_TITLE = "request composer"
    AUTO_FOCUS = "#path"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send"),
        Binding("ctrl+o", "curl", "Copy as curl",
                tooltip="Copy this request as a curl command for `sandbox serve`"),
        Binding("escape", "app.switch_mode('playground')", "Playground"),
        Binding("ctrl+g", "toggle_trace", "Response / trace"),
    ]

    @dataclass
    class ResponseReady(Message):
        outcome: Outcome

    @dataclass
    class RequestFailed(Message):
        message: str

    def __init__(self) -> None:
        super().__init__()
        self._sandbox: Sandbox | None = None
        self._lock = threading.Lock()

    @property
    def sandbox_app(self) -> Shell:
        return shell(self)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="composer"):
            with Vertical(id="request-pane") as request_pane:
                request_pane.border_title = "request"
                with Horizontal(id="request-line"):
                    yield Select([(m, m) for m in METHODS], value="GET", allow_blank=False,
                                 compact=True, id="method")
                    yield Input("/products/1", placeholder="/products/1", compact=True, id="path")
                    yield Button("send", id="send", compact=True, variant="primary")
                with Horizontal(id="request-options"):
                    yield Label("as", classes="option-label")
                    yield Select([("anonymous", ""), *((email.split("@")[0], email) for email in USERS)],
                                 value="", allow_blank=False, compact=True, id="user")
                    yield Select([(e.label, i) for i, e in enumerate(EXAMPLES)], prompt="examples…",
                                 compact=True, id="examples")
                yield Label("headers [dim](one per line, Name: value)[/dim]", classes="field-label")
                yield TextArea(id="headers", soft_wrap=True, show_line_numbers=False,
                               placeholder="e.g. Accept: application/json")
                yield Label("JSON body [dim](empty: none)[/dim]", classes="field-label")
                yield TextArea(id="body", soft_wrap=True, show_line_numbers=False,
                               placeholder='JSON body, e.g. {"items": [{"product_id": 3, "quantity": 1}]}')
                with Horizontal(id="curl-line"):
                    yield Button("copy as curl", id="curl-button", compact=True)
                    yield Static("", id="settings-note")
                # A long command (a login, then the request with its token) scrolls here
                # rather than being cut off at the pane's bottom.
                with VerticalScroll(id="curl-scroll"):
                    yield Static("", id="curl")
            with Vertical(id="response-pane") as response_pane:
                response_pane.border_title = "response"
                yield Static("[dim]no response yet[/dim]", id="response-status")
                with TabbedContent(id="response-tabs", initial="response-tab"):
                    with TabPane("Response", id="response-tab"):
                        yield ResponseView(id="response-view")
                    with TabPane("Trace", id="trace-tab"):
                        yield WaterfallView("Send a request to see its trace.", id="composer-waterfall")
        yield KeyBar()

    def on_mount(self) -> None:
        app = self.sandbox_app
        app.settings_changed.subscribe(self, self._settings_changed, immediate=True)
        self._settings_changed(app.settings)

    def on_unmount(self) -> None:
        with self._lock:
            if self._sandbox is not None:
                self._sandbox.close()
                self._sandbox = None

    def _settings_changed(self, settings: Settings) -> None:
        changed = changed_from_defaults(settings)
        note = ("[dim]sent with the default switches[/dim]" if not changed else
                f"[dim]sent with {len(changed)} switch{'es' if len(changed) > 1 else ''} changed[/dim]")
        self.query_one("#settings-note", Static).update(note)

    # -- reading the form -----------------------------------------------------------------

    def composed(self) -> ComposedRequest:
        """The request as the form holds it; SandboxError with a readable message if bad."""
        return ComposedRequest(
            method=str(self.query_one("#method", Select).value),
            path=check_path(self.query_one("#path", Input).value),
            headers=parse_headers(self.query_one("#headers", TextArea).text),
            body=self.query_one("#body", TextArea).text.strip(),
            user=str(self.query_one("#user", Select).value),
        )

    def fill(self, request: ComposedRequest) -> None:
        self.query_one("#method", Select).value = request.method
        self.query_one("#path", Input).value = request.path
        self.query_one("#headers", TextArea).text = "\n".join(f"{k}: {v}" for k, v in request.headers)
        self.query_one("#body", TextArea).text = request.body
        self.query_one("#user", Select).value = request.user

    @on(Select.Changed, "#examples")
    def _example(self, event: Select.Changed) -> None:
        if isinstance(event.value, int):
            self.fill(EXAMPLES[event.value].request)

    # -- sending --------------------------------------------------------------------------

    def action_send(self) -> None:
        try:
            request = self.composed()
        except SandboxError as exc:
            self.notify(str(exc), title="cannot send", severity="error")
            return
        self.query_one("#response-pane").loading = True
        self._send(request, self.sandbox_app.settings)

    @on(Button.Pressed, "#send")
    @on(Input.Submitted, "#path")
    def _send_pressed(self) -> None:
        self.action_send()

    @work(exclusive=True, group="request", exit_on_error=False)
    async def _send(self, request: ComposedRequest, settings: Settings) -> None:
        try:
            outcome = await asyncio.to_thread(self._send_blocking, request, settings)
        except Exception as exc:  # every failure is shown in the app, never as a traceback
            self.post_message(self.RequestFailed(describe_error(exc)))
            return
        self.post_message(self.ResponseReady(outcome))

    def _send_blocking(self, request: ComposedRequest, settings: Settings) -> Outcome:
        with self._lock:
            sandbox = self._sandbox
            if sandbox is not None and sandbox.settings.redis.url != settings.redis.url:
                sandbox.close()
                sandbox = self._sandbox = None
            if sandbox is None:
                from sandbox.runtime import Sandbox  # on first send: keeps start-up fast

                sandbox = self._sandbox = Sandbox(settings, seed=COMPOSER_SEED)
            elif sandbox.settings != settings:
                sandbox.apply(settings)
            return asyncio.run(send(sandbox, request))

    @on(ResponseReady)
    def _response_ready(self, event: ResponseReady) -> None:
        outcome = event.outcome
        self.query_one("#response-pane").loading = False
        self.query_one(ResponseView).outcome = outcome
        self.query_one(ResponseView).problem = ""
        self.query_one(WaterfallView).trace = outcome.trace
        trace = outcome.trace
        line = Text.assemble((str(outcome.status), status_style(outcome.status)), " ",
                             (f"{trace.method} {trace.path}", "bold"),
                             f" · {trace.duration_ms:.2f} ms simulated")
        if trace.instance:
            line.append(f" · {trace.instance}")
        self.query_one("#response-status", Static).update(line)

    @on(RequestFailed)
    def _request_failed(self, event: RequestFailed) -> None:
        self.query_one("#response-pane").loading = False
        self.query_one(ResponseView).problem = event.message
        self.query_one("#response-status", Static).update("[b red]no response[/]")
        self.notify(event.message, title="request failed", severity="error", timeout=8)

    # -- curl and tabs --------------------------------------------------------------------

    def action_curl(self) -> None:
        try:
            request = self.composed()
        except SandboxError as exc:
            self.notify(str(exc), title="cannot build curl", severity="error")
            return
        command = build_curl(request, auth_mode=self.sandbox_app.settings.auth.mode)
        self.query_one("#curl", Static).update(Text(command))
        self.app.copy_to_clipboard(command)
        self.notify("Copied to the clipboard (for the served backend at 127.0.0.1:8000).",
                    title="curl", timeout=4)

    @on(Button.Pressed, "#curl-button")
    def _curl_pressed(self) -> None:
        self.action_curl()

    def action_toggle_trace(self) -> None:
        tabs = self.query_one("#response-tabs", TabbedContent)
        tabs.active = "trace-tab" if tabs.active == "response-tab" else "response-tab"
