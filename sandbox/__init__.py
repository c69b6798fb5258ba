"""The backend sandbox: run a small backend, flip its switches, and measure what changes.

    from sandbox import Sandbox, Settings, run_scenario

    settings = Settings().replace({"cache.strategy": "cache_aside"})
    result = run_scenario("steady", settings, seed=7, requests=2000)
    print(result.metrics["latency_ms"]["p95"], result.metrics["db"]["queries"])

    sandbox = Sandbox(settings)                     # one running backend, to poke by hand
    async with sandbox.client() as client:          # an ordinary httpx.AsyncClient
        response = await client.get("/products/1")

The names load on first use, so `import sandbox.errors` (the grader's fast path) stays light,
and the package itself imports nothing: every module may use `sandbox.tracing` and friends
without a circle back through here.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["Sandbox", "SandboxError", "Settings", "__version__", "arun_scenario", "run_scenario"]

_WHERE = {"Sandbox": "sandbox.runtime", "Settings": "sandbox.settings",
          "SandboxError": "sandbox.errors", "run_scenario": "sandbox.scenarios",
          "arun_scenario": "sandbox.scenarios"}

def __getattr__(name: str) -> Any:
    """`sandbox.Sandbox` and friends, imported when first asked for (PEP 562)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_WHERE[name]), name)
