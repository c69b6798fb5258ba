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
import os
import subprocess
import sys
import time
from collections.abc import Callable, MutableMapping
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


def median_pair(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    """The (baseline, value) pair with the median ratio value / baseline.

    For timings taken in interleaved pairs on a shared machine, where single launches swing by
    2x or more: a ratio of two minimums taken at different moments swings with them.
    """
    ordered = sorted(pairs, key=lambda pair: pair[1] / pair[0])
    return ordered[len(ordered) // 2]


def hello_app() -> Starlette:
    """The baseline a learner would write: a bare Starlette app answering "hello"."""

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    return Starlette(routes=[Route("/", hello)])


def hello_world_seconds(requests: int) -> float:
    """Wall time for `requests` GETs to a bare Starlette app through httpx's ASGI transport."""
    app = hello_app()

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


def starlette_direct_seconds(requests: int) -> float:
    """Wall time for `requests` calls of the bare Starlette hello-world, straight through ASGI
    (no client, no transport): the least any Starlette-routed request can cost."""
    app = hello_app()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": "/", "raw_path": b"/", "root_path": "",
             "query_string": b"", "headers": [(b"host", b"hello")],
             "client": ("127.0.0.1", 1), "server": ("hello", 80)}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        pass

    async def drive() -> float:
        for _ in range(200):
            await app(dict(scope), receive, send)
        start = time.perf_counter()
        for _ in range(requests):
            await app(dict(scope), receive, send)
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


# Programs run in a fresh interpreter, so start-up and memory are what a user gets. The first
# two print the moment of their first frame, on the machine's monotonic clock, which the parent
# reads too: start-up is measured to that frame, not to the end of tearing the app down again.
# The first frame is the first screen update the app hands its driver (App._display, the one
# place every frame passes, as the key-latency program below uses too).
HELLO_TEXTUAL = """
import resource, time
from textual.app import App
from textual.widgets import Static
class Hello(App):
    shown = False
    def compose(self):
        yield Static("hello")
    def _display(self, screen, renderable):
        super()._display(screen, renderable)
        if renderable is not None and not self.shown:
            self.shown = True
            print("frame", time.perf_counter())
            self.call_later(self.exit)
Hello().run(headless=True)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
APP_FIRST_FRAME = """
import time
from sandbox.tui.app import SandboxApp
class Measured(SandboxApp):
    shown = False
    def _display(self, screen, renderable):
        super()._display(screen, renderable)
        if renderable is not None and not self.shown:
            self.shown = True
            print("frame", time.perf_counter(), type(screen).__name__)
            self.call_later(self.exit)
Measured().run(headless=True)
"""
APP_TEN_THOUSAND = """
import asyncio, resource, sys
from textual.widgets import Input
from sandbox.tui.app import SandboxApp
from sandbox.tui.widgets.run_controls import RunControls
async def main():
    app = SandboxApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("p")  # the app opens on the home screen
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.screen.query_one("#run-requests", Input).value = sys.argv[1]
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
# Key press to screen update while 10,000 requests run in the app's worker thread: a real key
# event goes in through the driver, as from a terminal, moving the cursor in the switches list;
# the latency runs until the app hands the driver a screen update showing the moved cursor.
# (Pilot.press is no use here: it waits for the whole process to go idle, which a running
# scenario never does.) It measures a fixed number of presses, starting the run again should
# one end first (a busy machine answers fewer keys per run), then cancels the run: how many
# presses fit in one run is the machine's speed, never a reason to fail.
APP_KEY_LATENCY = """
import asyncio, sys, time
from textual import events
from textual.widgets import Input
from sandbox.tui.app import SandboxApp
from sandbox.tui.widgets.run_controls import RunControls
from sandbox.tui.widgets.switch_list import SwitchList

class Measured(SandboxApp):
    def __init__(self):
        super().__init__()
        self.waiting_for = None  # (time sent, cursor before)
        self.latencies = []
    def _display(self, screen, renderable):
        super()._display(screen, renderable)
        if self.waiting_for is not None and renderable is not None:
            sent, before = self.waiting_for
            if self.screen.query_one(SwitchList).highlighted != before:
                self.latencies.append(time.perf_counter() - sent)
                self.waiting_for = None

async def main():
    requests, presses = sys.argv[1], int(sys.argv[2])
    app = Measured()
    async with app.run_test(size=(120, 40)) as pilot:
        await app.switch_mode("playground")
        await pilot.pause()
        app.screen.query_one("#run-requests", Input).value = requests
        controls = app.screen.query_one(RunControls)
        switches = app.screen.query_one(SwitchList)
        keys = ["down", "up"]
        sent = runs = 0
        while len(app.latencies) < presses:
            if not controls.running:  # the first run, or the last one ended too soon
                assert runs < 100, f"{runs} runs gave only {len(app.latencies)} key presses"
                app.waiting_for = None
                app.screen.action_run()
                runs += 1
                await asyncio.sleep(0.2)
                continue
            if app.waiting_for is None:
                switches.focus()
                await asyncio.sleep(0.01)
                app.waiting_for = (time.perf_counter(), switches.highlighted)
                app._driver.send_message(events.Key(keys[sent % 2], None))
                sent += 1
            await asyncio.sleep(0.005)
        controls.cancel()
        while controls.running:
            await asyncio.sleep(0.01)
        latencies = sorted(app.latencies)
        print(len(latencies), latencies[int(0.95 * (len(latencies) - 1))])
asyncio.run(main())
"""
# The scenario the memory and key-latency rows run in the app, and the presses measured.
APP_RUN_REQUESTS = 10_000
KEY_PRESSES = 40


def python_program(code: str, *args: str) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of `code` run in a fresh interpreter with `args`."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=600, check=True)
    elapsed = time.perf_counter() - start
    lines = done.stdout.split()
    peak_kb = int(lines[-1]) if lines and lines[-1].isdigit() else 0
    return elapsed, peak_kb / 1024.0


def first_frame_seconds(code: str) -> float:
    """Seconds from launching `code` in a fresh interpreter to the first frame it reports.

    time.perf_counter is the system-wide monotonic clock on Linux and macOS, so the child's
    reading and the parent's launch time compare directly.
    """
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, check=True)
    words = done.stdout.split()
    return float(words[words.index("frame") + 1]) - start


BARE_TEST = "def test_one():\n    assert 6 * 7 == 42\n"


def timed(command: list[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> float:
    """Wall seconds of one command, which must exit with a code in `ok`."""
    import os

    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - start
    if done.returncode not in ok:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stdout[-500:]}"
                           f"{done.stderr[-500:]}")
    return elapsed


def exercise_rows(runs: int, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """`exercises check` against bare pytest, and `grade` over every shipped exercise."""
    import shutil
    import tempfile
    from pathlib import Path

    from sandbox.course.exercises import default_root, load_exercises
    from sandbox.grading.instructor import scaffold

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        work = Path(tmp)
        (work / "test_one.py").write_text(BARE_TEST)
        # Bare pytest as lean as it gets: no third-party plugins loaded.
        bare = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                str(work / "test_one.py")]
        lean = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        folder = scaffold(work / "course", "one-test", 1, "clients-and-requests")
        module = folder / "one_test.py"
        shutil.copy2(folder / "solution" / "one_test.py", module)
        check = [sys.executable, "-m", "sandbox", "exercises", "--dir", str(work / "course"),
                 "check", "one-test"]
        quiet = {"SANDBOX_DATA_DIR": str(work / "data")}
        say("timing `sandbox exercises check` against a bare pytest run ...")
        timed(bare, lean)
        timed(check, quiet)  # warm the file cache for both
        # Interleaved, so a busy moment on a shared machine hits both sides alike.
        pairs = [(timed(bare, lean), timed(check, quiet)) for _ in range(2 * max(runs, 3) + 1)]
        bare_s, check_s = median_pair(pairs)
        rows.append(_row("exercise check verdict (a one-test exercise)", check_s, "s", bare_s,
                         check_s / bare_s, "<= 1.5x", check_s <= 1.5 * bare_s,
                         "baseline: bare `pytest` of a one-test file, plugin autoload off; the "
                         f"pair with the median ratio of {len(pairs)} interleaved runs, s"))

        say("grading every shipped exercise with its reference solution ...")
        exercises, _ = load_exercises(default_root())
        submission = work / "submission"
        for exercise in exercises:
            (submission / exercise.folder.name).mkdir(parents=True)
            for file in exercise.files:
                shutil.copy2(exercise.solution_path(file), submission / exercise.folder.name / file)
        grade = [sys.executable, "-m", "sandbox", "exercises", "--dir", str(default_root()),
                 "grade", "--submission", str(submission)]
        grade_s = timed(grade, quiet)
        rows.append(_row(f"grade all {len(exercises)} shipped exercises (reference solutions)",
                         grade_s, "s", bare_s, grade_s / bare_s, "< 20 s", grade_s < 20.0,
                         "baseline: bare `pytest` of a one-test file, s; the target is the wall "
                         "time"))
    rows.append(worker_row(runs, say))
    return rows


def worker_row(runs: int, say: Callable[[str], None]) -> dict[str, Any]:
    """What grading in a separate worker costs a plugged-in scenario: the token-bucket
    solution at the gateway for a spike, its code in the worker (every `take` a round trip,
    and each of its Redis calls another one back) against the same module imported here."""
    from sandbox.course.exercises import default_root, find, load_exercises
    from sandbox.grading.harness import make_sandbox, scenario
    from sandbox.grading.plugin import load_student_module
    from sandbox.grading.remote import StudentWorker, share_one_processor

    say("timing a plugged-in spike with the student's code in its worker ...")
    exercise = find(load_exercises(default_root())[0], "token-bucket")
    path = exercise.solution_path(exercise.files[0])
    here = load_student_module(path, "bench_bucket_here")
    # Both sides on one processor, as the grader's test process and its worker run.
    cpu = min(os.sched_getaffinity(0))
    before = share_one_processor(cpu)
    worker = StudentWorker(hide=[], cpu=cpu)
    try:
        there = worker.load("bench_bucket", {path.name: path.read_text(encoding="utf-8")},
                            path.name)
        echo = worker.load("bench_echo", {"echo.py": "def echo(x):\n    return x\n"}, "echo.py")

        def spike(module: Any) -> float:
            sb = make_sandbox({"ratelimit.algorithm": "token_bucket"}, plug=("ratelimit", module))
            try:
                started = time.perf_counter()
                scenario(sb, "spike", requests=2000, warmup=0)
                return time.perf_counter() - started
            finally:
                sb.close()

        def round_trips() -> float:
            started = time.perf_counter()
            for number in range(2000):
                echo.echo(number)
            return (time.perf_counter() - started) / 2000

        spike(here), spike(there)  # warm both
        pairs = [(spike(here), spike(there)) for _ in range(2 * runs + 1)]
        here_s, there_s = median_pair(pairs)
        call_us = best_of(3, round_trips) * 1e6
    finally:
        worker.stop()
        if before is not None:
            os.sched_setaffinity(0, before)
    return _row("plugged-in spike (2,000 requests), student code in its worker", there_s, "s",
                here_s, there_s / here_s, "<= 3.0x", there_s <= 3.0 * here_s,
                f"one call into the worker and back: {call_us:.0f} us, both on one processor as "
                "in grading; baseline: the same solution imported in the grader's process, s; "
                "the pair with the median ratio")


def run_bench(quick: bool = False, log: Log = None,
              only: set[str] | None = None) -> list[dict[str, Any]]:
    """Measure every row (or the groups in `only`); `quick` uses smaller samples."""
    say = log or (lambda message: None)
    if only is not None and only <= {"exercises"}:
        return exercise_rows(1 if quick else 3, say)
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

    # How little a request can cost and still be routed by Starlette: at a 2.0x tax, all the
    # sandbox adds to its SQL (network, layers, tracing, metrics) must fit in the SQL's time.
    starlette_us = best_of(runs, lambda: starlette_direct_seconds(20_000)) / 20_000 * 1e6
    primitives_us: dict[str, float] = {}
    # The most the pipeline may cost, as a multiple of its SQL and Redis alone.
    most_tax = {"default switches": 5.0, "mechanisms on": 2.0}
    for label, settings in (("default switches", defaults), ("mechanisms on", MECHANISMS_ON)):
        say(f"measuring the layer tax ({label}) ...")
        pipeline_s, primitive_s, n_sql, n_redis = layer_tax(settings, spike_n)
        tax = pipeline_s / primitive_s
        primitives_us[label] = primitive_s / spike_n * 1e6
        rows.append(_row(f"layer tax, {label} (pipeline / its SQL and Redis alone)",
                         pipeline_s / spike_n * 1e6, "us/req", primitives_us[label], tax,
                         f"<= {most_tax[label]:.1f}x", tax <= most_tax[label],
                         f"baseline: the run's {n_sql:,} SQL statements and {n_redis:,} Redis "
                         "commands replayed alone, us/req; for scale, a bare Starlette "
                         f"hello-world called straight through ASGI takes {starlette_us:.1f} "
                         "us/req"))

    say("running the spike with every mechanism on ...")
    scenario_seconds("spike", MECHANISMS_ON, min(spike_n, 2000))
    all_on_s = best_of(runs, lambda: scenario_seconds("spike", MECHANISMS_ON, spike_n))
    all_on_rps = spike_n / all_on_s
    rows.append(_row("engine throughput, every mechanism on (auth, rate limit, cache, async queue)",
                     all_on_rps, "req/s", hello_rps, all_on_rps / hello_rps, ">= 0.8x",
                     all_on_rps >= 0.8 * hello_rps,
                     "baseline: Starlette hello-world via httpx ASGITransport, req/s; the "
                     "run's SQL and Redis commands alone take "
                     f"{primitives_us['mechanisms on']:.0f} us/req, so even a pipeline that "
                     f"cost nothing would do {1e6 / primitives_us['mechanisms on']:,.0f} req/s"))

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
    first_frame_seconds(APP_FIRST_FRAME)  # warm the file cache (and the first-run data folder)
    # Interleaved pairs, so a busy moment on a shared machine hits both sides alike.
    starts = [(first_frame_seconds(HELLO_TEXTUAL), first_frame_seconds(APP_FIRST_FRAME))
              for _ in range(4 * runs + 3)]
    hello_start, app_start = median_pair(starts)
    rows.append(_row("terminal app cold start to the first frame", app_start, "s", hello_start,
                     app_start / hello_start, "<= 1.5x", app_start <= 1.5 * hello_start,
                     f"baseline: a bare Textual hello-world, launched the same way, to its first frame; "
                     f"the pair with the median ratio of {len(starts)} interleaved launches, s"))
    say("measuring the app's memory while it runs 10,000 requests ...")
    hello_mb = python_program(HELLO_TEXTUAL)[1]
    app_mb = python_program(APP_TEN_THOUSAND, str(APP_RUN_REQUESTS))[1]
    rows.append(_row("terminal app peak memory during a 10,000-request scenario", app_mb, "MB",
                     hello_mb, app_mb / hello_mb, "<= 150 MB", app_mb <= 150,
                     "baseline: a bare Textual hello-world's peak, MB"))

    say("measuring key presses while the app runs 10,000 requests ...")
    done = subprocess.run([sys.executable, "-c", APP_KEY_LATENCY, str(APP_RUN_REQUESTS),
                           str(KEY_PRESSES)], capture_output=True, text=True, timeout=900,
                          check=True)
    presses, p95_s = done.stdout.split()[-2:]
    hello_frame = hello_start
    rows.append(_row("key press to screen update during a 10,000-request run, p95",
                     float(p95_s) * 1000.0, "ms", hello_frame * 1000.0,
                     float(p95_s) / hello_frame, "<= 100 ms", float(p95_s) <= 0.100,
                     f"{presses} presses; baseline: a bare Textual hello-world's cold start, ms"))

    hello_10k = hello_s / hello_n * 10_000
    spike_10k = spike_s / spike_n * 10_000
    rows.append(_row("10,000-request spike, wall time", spike_10k, "s", hello_10k,
                     spike_10k / hello_10k, "< 3.0 s", spike_10k < 3.0,
                     "baseline: hello-world doing 10,000 requests, s"
                     + (" (scaled from the quick sample)" if quick else "")))
    if only is None or "exercises" in only:
        rows += exercise_rows(runs, say)
    return rows
