"""The terminal app: a playground to flip switches, fire traffic and watch the numbers move.

    from sandbox.tui import run_app
    run_app()

Only this package imports Textual; everything it shows comes from the rest of `sandbox`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.tui.app import SandboxApp

if TYPE_CHECKING:
    from sandbox.settings import Settings

__all__ = ["SandboxApp", "run_app"]


def run_app(settings: Settings | None = None) -> None:
    """Open the app (blocking until it quits), starting from `settings` or the defaults."""
    SandboxApp(settings).run()
