"""`sandbox bench`: the performance table. Every figure comes with a baseline measured in the
same run, because these machines are shared and noisy: the ratio is what is compared.

Rows:
- engine throughput: scenario requests per second (full pipeline, tracing on) against a bare
  Starlette hello-world driven by httpx.AsyncClient + ASGITransport, which is what a learner
  would write to load-test an app.
- layer tax: real time per request of the full pipeline, against the real time of the SQL
  statements it issued, replayed alone on a fresh copy of the same database.
- spike wall time: a 10,000-request spike, start to finish, against the hello-world doing
  10,000 requests.
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from sandbox.backend.database import Database
from sandbox.mechanisms.queue import GROUP
from sandbox.mechanisms.redis_store import RedisStore, send
from sandbox.runtime import DATA_SEED, Sandbox
from sandbox.scenarios import run_scenario
from sandbox.settings import Settings

Log = Callable[[str], None] | None

# Every mechanism on together: auth (JWT, the default), a cache, a rate limit, the default
# indexes and the async queue.
MECHANISMS_ON = Settings().replace({
    "cache.strategy": "cache_aside",
    "ratelimit.algorithm": "token_bucket",
    "ratelimit.limit": 20,
    "queue.mode": "async",
})

# Index lookups timed in real time: the app's own queries, indexed and as full scans.
INDEX_LOOKUPS = (
    ("order lines by order (order_items, the biggest table)",
     "SELECT order_id, product_id, quantity, price_cents FROM order_items WHERE order_id = ?",
     150_000, ">= 500x"),
    ("a customer's newest orders (orders)",
     "SELECT * FROM orders WHERE customer_id = ? ORDER BY created_at DESC, id DESC LIMIT 10",
     20_000, None),
)


def _row(name: str, value: float, unit: str, baseline: float | None, ratio: float | None,
         target: str | None, met: bool | None, note: str = "") -> dict[str, Any]:
    return {"name": name, "value": round(value, 3), "unit": unit,
            "baseline": round(baseline, 3) if baseline is not None else None,
            "ratio": round(ratio, 3) if ratio is not None else None,
            "target": target, "met": met, "note": note}


def best_of(runs: int, fn: Callable[[], float]) -> float:
    """The fastest of `runs` timings: noise only ever adds time."""
    return min(fn() for _ in range(runs))


def hello_world_seconds(requests: int) -> float:
    """Wall time for `requests` GETs to a bare Starlette app through httpx's ASGI transport."""

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    app = Starlette(routes=[Route("/", hello)])

    async def drive() -> float:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hello") as client:
            for _ in range(50):
                await client.get("/")
            start = time.perf_counter()
            for _ in range(requests):
                await client.get("/")
            return time.perf_counter() - start

    return asyncio.run(drive())


def scenario_seconds(name: str, settings: Settings, requests: int) -> float:
    gc.collect()
    start = time.perf_counter()
    run_scenario(name, settings, requests=requests)
    return time.perf_counter() - start


def layer_tax(settings: Settings, requests: int) -> tuple[float, float, int, int]:
    """(pipeline s, primitives s, SQL statements, Redis commands) for one spike run.

    The primitives are the run's own SQL statements and Redis round trips (pipelined as the
    run sent them), recorded as it ran and replayed alone, in order, on a fresh database copy
    and a fresh Redis.
    """
    sandbox = Sandbox(settings)
    sandbox.network.sql_log = []
    sandbox.redis.log = []
    gc.collect()
    start = time.perf_counter()
    run_scenario("spike", settings, requests=requests, sandbox=sandbox)
    pipeline = time.perf_counter() - start
    statements = sandbox.network.sql_log
    round_trips = sandbox.redis.log
    stream = sandbox.ctx.jobs.stream if sandbox.ctx.jobs is not None else ""
    sandbox.close()

    def replay() -> float:
        fresh = Database.open_seeded(DATA_SEED, settings.db.indexes)
        conn = fresh.conn
        conn.set_progress_handler(None, 0)  # the pipeline's instrumentation is not primitive
        store = RedisStore(settings.redis.url)
        client = store.client
        if stream:  # set-up the sandbox did before the run (not timed)
            client.execute_command("XGROUP", "CREATE", stream, GROUP, "0", "MKSTREAM")
        gc.collect()
        begin = time.perf_counter()
        for sql, params in statements:
            conn.execute(sql, params).fetchall()
        for commands in round_trips:
            send(client, commands)
        elapsed = time.perf_counter() - begin
        fresh.close()
        store.close()
        return elapsed

    return pipeline, best_of(2, replay), len(statements), sum(len(c) for c in round_trips)


def index_speedup(sql: str, keys: int, quick: bool) -> tuple[float, float]:
    """(seconds per lookup with the default indexes, seconds per lookup as a full scan)."""
    database = Database.open_seeded(DATA_SEED)
    conn = database.conn
    conn.set_progress_handler(None, 0)

    def per_lookup(n: int) -> float:
        gc.collect()
        start = time.perf_counter()
        for i in range(n):
            conn.execute(sql, (1 + (i * 7919) % keys,)).fetchall()
        return (time.perf_counter() - start) / n

    indexed = best_of(3, lambda: per_lookup(500 if quick else 5000))
    database.set_indexes(())
    conn.set_progress_handler(None, 0)
    scanned = best_of(2 if quick else 3, lambda: per_lookup(3 if quick else 10))
    database.close()
    return indexed, scanned


# Programs run in a fresh interpreter, so start-up and memory are what a user gets.
HELLO_TEXTUAL = """
import resource
from textual.app import App
from textual.widgets import Static
class Hello(App):
    def compose(self):
        yield Static("hello")
    def on_mount(self):
        self.call_after_refresh(self.exit)
Hello().run(headless=True)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
APP_FIRST_FRAME = """
from sandbox.tui.app import SandboxApp
class Measured(SandboxApp):
    def on_mount(self):
        super().on_mount()
        self.call_after_refresh(self.exit)
Measured().run(headless=True)
"""
APP_TEN_THOUSAND = """
import asyncio, resource
from textual.widgets import Input
from sandbox.tui.app import SandboxApp
from sandbox.tui.widgets.run_controls import RunControls
async def main():
    app = SandboxApp()
    async with app.run_test(size=(120, 40)) as pilot:
        app.screen.query_one("#run-requests", Input).value = "10000"
        await pilot.press("r")
        controls = app.screen.query_one(RunControls)
        for _ in range(6000):
            await pilot.pause(0.05)
            if not controls.running:
                break
        assert not controls.running, "the run did not finish"
asyncio.run(main())
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def python_program(code: str) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of `code` run in a fresh interpreter."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, check=True)
    elapsed = time.perf_counter() - start
    lines = done.stdout.split()
    peak_kb = int(lines[-1]) if lines and lines[-1].isdigit() else 0
    return elapsed, peak_kb / 1024.0


def run_bench(quick: bool = False, log: Log = None) -> list[dict[str, Any]]:
    """Measure every row; `quick` uses smaller samples."""
    say = log or (lambda message: None)
    hello_n = 1000 if quick else 3000
    spike_n = 2000 if quick else 10_000
    runs = 1 if quick else 3
    defaults = Settings()
    rows: list[dict[str, Any]] = []

    say("measuring the hello-world baseline ...")
    hello_s = best_of(runs, lambda: hello_world_seconds(hello_n))
    hello_rps = hello_n / hello_s

    say(f"running a {spike_n:,}-request spike ...")
    scenario_seconds("spike", defaults, min(spike_n, 2000))  # warm caches and imports
    spike_s = best_of(runs, lambda: scenario_seconds("spike", defaults, spike_n))
    engine_rps = spike_n / spike_s
    rows.append(_row("engine throughput (spike, full pipeline, tracing on)", engine_rps, "req/s",
                     hello_rps, engine_rps / hello_rps, ">= 1.0x", engine_rps >= hello_rps,
                     "baseline: Starlette hello-world via httpx ASGITransport, req/s"))

    for label, settings in (("default switches", defaults), ("mechanisms on", MECHANISMS_ON)):
        say(f"measuring the layer tax ({label}) ...")
        pipeline_s, primitive_s, n_sql, n_redis = layer_tax(settings, spike_n)
        tax = pipeline_s / primitive_s
        rows.append(_row(f"layer tax, {label} (pipeline / its SQL and Redis alone)",
                         pipeline_s / spike_n * 1e6, "us/req", primitive_s / spike_n * 1e6, tax,
                         "<= 2.0x", tax <= 2.0,
                         f"baseline: the run's {n_sql:,} SQL statements and {n_redis:,} Redis "
                         "commands replayed alone, us/req"))

    say("running the spike with every mechanism on ...")
    scenario_seconds("spike", MECHANISMS_ON, min(spike_n, 2000))
    all_on_s = best_of(runs, lambda: scenario_seconds("spike", MECHANISMS_ON, spike_n))
    all_on_rps = spike_n / all_on_s
    rows.append(_row("engine throughput, every mechanism on (auth, rate limit, cache, async queue)",
                     all_on_rps, "req/s", hello_rps, all_on_rps / hello_rps, ">= 1.0x",
                     all_on_rps >= hello_rps,
                     "baseline: Starlette hello-world via httpx ASGITransport, req/s"))

    for label, sql, keys, target in INDEX_LOOKUPS:
        say(f"timing index lookups: {label} ...")
        indexed, scanned = index_speedup(sql, keys, quick)
        speedup = scanned / indexed
        rows.append(_row(f"index speedup, {label}: full scan vs indexed", scanned * 1e6,
                         "us/lookup", indexed * 1e6, speedup, target,
                         (speedup >= 500) if target else None,
                         "value: the lookup as a full scan (no index); baseline: the same "
                         "lookup with the index; ratio: how many times faster the index is"))

    say("timing the terminal app's cold start ...")
    hello_start = best_of(runs, lambda: python_program(HELLO_TEXTUAL)[0])
    app_start = best_of(runs, lambda: python_program(APP_FIRST_FRAME)[0])
    rows.append(_row("terminal app cold start to the first frame", app_start, "s", hello_start,
                     app_start / hello_start, "<= 1.5x", app_start <= 1.5 * hello_start,
                     "baseline: a bare Textual hello-world, started the same way, s"))
    say("measuring the app's memory while it runs 10,000 requests ...")
    hello_mb = python_program(HELLO_TEXTUAL)[1]
    app_mb = python_program(APP_TEN_THOUSAND)[1]
    rows.append(_row("terminal app peak memory during a 10,000-request scenario", app_mb, "MB",
                     hello_mb, app_mb / hello_mb, "<= 150 MB", app_mb <= 150,
                     "baseline: a bare Textual hello-world's peak, MB"))

    hello_10k = hello_s / hello_n * 10_000
    spike_10k = spike_s / spike_n * 10_000
    rows.append(_row("10,000-request spike, wall time", spike_10k, "s", hello_10k,
                     spike_10k / hello_10k, "< 3.0 s", spike_10k < 3.0,
                     "baseline: hello-world doing 10,000 requests, s"
                     + (" (scaled from the quick sample)" if quick else "")))
    return rows
