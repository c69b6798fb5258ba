"""The new version's code: the shop's ASGI app as a broken release would serve it.

`deploy.bad_release` stands for a release with a bug that tests missed. The instances running
v2 call this app instead of the plain one, so the harm lands only where v2 really serves:
`errors` fails a share of requests with 500 (an exception the new code raises on some inputs),
`slow` spends `deploy.bad_latency_ms` more on each request (a query that lost its index) while
holding the instance's worker, so queues grow behind it as they would.
"""

from __future__ import annotations

import json
import random
from typing import Any

from sandbox import tracing
from sandbox.clock import SimClock
from sandbox.errors import InternalError


class BrokenRelease:
    """An ASGI app wrapping the shop's: the same routes, with the release's defect.

    Args:
        app: the shop's ASGI app.
        defect: "errors" or "slow".
        error_rate: with "errors", the share of requests that fail.
        extra_ms: with "slow", the simulated time each request takes longer.
        clock: the sandbox's clock (a slow request moves it).
        rng: seeded; decides which requests hit the bug.
    """

    def __init__(self, app: Any, defect: str, error_rate: float, extra_ms: float,
                 clock: SimClock, rng: random.Random) -> None:
        self.app = app
        self.defect = defect
        self.error_rate = error_rate
        self.extra_ms = extra_ms
        self.clock = clock
        self.rng = rng

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.defect == "slow":
            self.clock.now_ms += self.extra_ms
        elif self.defect == "errors" and self.rng.random() < self.error_rate:
            trace = tracing.current_trace.get()
            request_id = trace.request_id if trace is not None else ""
            body = json.dumps(InternalError().envelope(request_id)).encode()
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"x-request-id", request_id.encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
