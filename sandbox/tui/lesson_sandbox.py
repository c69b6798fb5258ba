"""The one sandbox a lesson's requests go to, kept between steps (no Textual here)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from sandbox.settings import Settings
from sandbox.tui.composing import ComposedRequest, Outcome, send

if TYPE_CHECKING:
    from sandbox.runtime import Sandbox

REQUEST_SEED = 7


class LessonSandbox:
    """The one sandbox a lesson's requests go to, so a step sees what earlier steps did (an
    order placed in one step is there to be retried, or read back, in the next)."""

    def __init__(self) -> None:
        self.sandbox: Sandbox | None = None

    def send(self, request: ComposedRequest, settings: Settings) -> Outcome:
        """Send `request` with `settings` applied (called from a worker thread, one at a time)."""
        if self.sandbox is not None and self.sandbox.settings.redis != settings.redis:
            self.close()  # another Redis server: start over on it
        if self.sandbox is None:
            from sandbox.runtime import Sandbox

            self.sandbox = Sandbox(settings, seed=REQUEST_SEED)
        else:
            self.sandbox.apply(settings)
        return asyncio.run(send(self.sandbox, request))

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None
