"""What exercise tests use to drive the real sandbox with the student's code plugged in.

    from sandbox.grading.harness import make_sandbox, send, scenario

    def test_spike(student):
        sb = make_sandbox({"ratelimit.algorithm": "token_bucket"}, plug=("ratelimit", student))
        metrics = scenario(sb, "spike", requests=2000)
        assert metrics["status"]["429"] == ...

Everything runs on the sandbox's simulated clock with a fixed seed, so a test gets the same
numbers on every machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from sandbox.backend.demo import DEMO_PASSWORD
from sandbox.runtime import Sandbox
from sandbox.settings import Settings


def make_sandbox(settings: Mapping[str, Any] | None = None, *,
                 plug: tuple[str, ModuleType] | None = None, seed: int = 7,
                 adapter: Path | None = None) -> Sandbox:
    """A fresh sandbox with these switches (dotted keys), the student's part plugged in:
    through `adapter`, or the adapter the student's exercise names in its manifest."""
    sb = Sandbox(Settings().replace(settings or {}), seed=seed)
    if plug is not None:
        from sandbox.grading.plugin import adapter_for
        from sandbox.plugs import install

        install(sb, plug[0], plug[1], adapter or adapter_for(plug[1]))
    return sb


def send(sb: Sandbox, method: str, path: str, *, json: Any = None,
         headers: Mapping[str, str] | None = None, user: str | None = None) -> httpx.Response:
    """One request through the sandbox's network; `user` logs in first (auth.mode=jwt)."""

    async def go() -> httpx.Response:
        async with sb.client() as client:
            sent = dict(headers or {})
            if user is not None:
                login = await client.post("/auth/login",
                                          json={"email": user, "password": DEMO_PASSWORD})
                login.raise_for_status()
                sent["Authorization"] = "Bearer " + login.json()["access_token"]
            return await client.request(method, path, json=json, headers=sent)

    return asyncio.run(go())


def scenario(sb: Sandbox, name: str, *, requests: int | None = None,
             warmup: int | None = None) -> dict[str, Any]:
    """Run a traffic scenario through `sb` and return its metrics.

    `warmup` unmeasured requests go first (the pattern's own number unless given; `steady`
    warms up with 3,000). Pass `warmup=0` to measure from the first request, which is also
    much quicker.
    """
    from sandbox.scenarios.runner import run_scenario

    return run_scenario(name, sb.settings, seed=sb.seed, requests=requests, sandbox=sb,
                        keep_traces=0, warmup=warmup).metrics
