"""The `sandbox` command: each subcommand calls into one part of the sandbox.

Exit codes: 0 success; 1 the sandbox could not do it (for example no writable cache folder);
2 the command line was wrong (unknown setting, bad value, unknown scenario); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sandbox import __version__
from sandbox.commands import backend, lessons
from sandbox.commands.shared import announce_seed_build, print_error
from sandbox.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    SandboxError,
    SeedError,
    SettingsError,
)

if TYPE_CHECKING:
    from rich.console import Console

    from sandbox.grading.early import Early


DESCRIPTION = """\
The backend sandbox: run a small online-shop backend (DNS, load balancer, gateway, app
instances, layers, SQLite) and watch what every switch does to it. Time inside the sandbox is
simulated, so the same seed and settings always give the same numbers. With no command,
`sandbox` opens the terminal app: switches, runs, metrics, the flow of requests, a composer."""

EPILOG = """\
examples:
  sandbox request GET /products/1
  sandbox request GET /users/me/orders --user grace@shop.test
  sandbox request POST /orders --json '{"items": [{"product_id": 3, "quantity": 1}]}' \\
      --user grace@shop.test
  sandbox scenario list
  sandbox scenario spike --set topology.instances=4
  sandbox scenario steady --set db.indexes=none --requests 500 --json
  sandbox scenario spike --set ratelimit.algorithm=token_bucket --redis-url redis://127.0.0.1:6379/0
  sandbox settings
  sandbox hashes --measure
  sandbox serve --port 8000
  sandbox request GET /users/me/orders --user grace@shop.test --curl
  sandbox bench"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sandbox", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sandbox {__version__}")
    parser.add_argument("--course", metavar="DIR",
                        help="a course folder (lessons/ and exercises/ side by side): the app "
                             "and the lessons and exercises commands use it (or set "
                             "SANDBOX_COURSE=DIR)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def with_settings(p: argparse.ArgumentParser) -> None:
        p.add_argument("--set", dest="assignments", action="append", default=[],
                       metavar="KEY=VALUE",
                       help="change a switch, e.g. cache.strategy=cache_aside (repeatable); "
                            "`sandbox settings` lists them")
        p.add_argument("--seed", type=int, default=7,
                       help="seed for traffic and jitter; same seed, same numbers (default 7)")
        p.add_argument("--redis-url", metavar="URL",
                       help="use a real Redis server, e.g. redis://127.0.0.1:6379/0 "
                            "(the same as --set redis.url=URL; default: in-process fakeredis)")

    request = sub.add_parser(
        "request", help="send one request through the sandbox; print response and trace",
        description="Send one HTTP request through DNS, load balancer, gateway and an app "
                    "instance, and print the response and its trace waterfall.",
    )
    request.add_argument("method", metavar="METHOD", help="GET, POST, PATCH, ...")
    request.add_argument("path", metavar="PATH", help="for example /products/1?x=y")
    request.add_argument("--json", dest="body", metavar="BODY",
                         help="a JSON request body (sent as given, so broken JSON gets a 400)")
    request.add_argument("--header", action="append", default=[], metavar="K:V",
                         help="a request header (repeatable)")
    request.add_argument("--user", metavar="EMAIL",
                         help="log in as this seeded user first (password sandbox123) and "
                              "send the access token")
    request.add_argument("--output", choices=("pretty", "json"), default="pretty",
                         help="pretty (default) or one JSON object with response and trace")
    request.add_argument("--curl", action="store_true",
                         help="print the equivalent curl command for `sandbox serve` instead "
                              "of sending the request")
    with_settings(request)

    scenario = sub.add_parser(
        "scenario", help="run a traffic scenario and print its metrics",
        description="Run a traffic pattern in simulated time and print what it measured. "
                    "`sandbox scenario list` lists the patterns.",
    )
    scenario.add_argument("name", metavar="NAME", help="a scenario name, or `list`")
    scenario.add_argument("--requests", type=int, metavar="N",
                          help="how many requests to send (default: the scenario's own)")
    scenario.add_argument("--warmup", type=int, metavar="N",
                          help="requests to send first and leave out of the metrics "
                               "(default: the scenario's own; 0 measures a cold start)")
    scenario.add_argument("--json", action="store_true", help="print metrics as JSON")
    scenario.add_argument("--metrics-file", metavar="PATH",
                          help="also write the run's metrics to PATH in Prometheus's text "
                               "format, the same series `sandbox serve` shows at /metrics")
    scenario.add_argument("--log-file", metavar="PATH",
                          help="also write one JSON line per measured request to PATH "
                               "(timestamps in simulated time), as `serve --log-format json`")
    with_settings(scenario)

    settings = sub.add_parser("settings", help="list every switch, its value and choices",
                              description="List every settings key with its current value "
                                          "(with --set applied), what it accepts and does.")
    settings.add_argument("--json", action="store_true", help="print key -> value as JSON")
    settings.add_argument("--set", dest="assignments", action="append", default=[],
                          metavar="KEY=VALUE", help="show values with these changes applied")

    hashes = sub.add_parser(
        "hashes", help="password hashes side by side: login cost and an attacker's guesses/s",
        description="PBKDF2, bcrypt and argon2id at this sandbox's settings (auth.*) and at "
                    "today's recommended parameters: the simulated time a login spends on the "
                    "hash, and the guesses per second per CPU core that leaves an attacker "
                    "with a stolen table. --measure adds real hashes/s on this machine.")
    hashes.add_argument("--measure", action="store_true",
                        help="also time real hashes on this machine (a few seconds)")
    hashes.add_argument("--json", action="store_true", help="print the rows as JSON")
    hashes.add_argument("--set", dest="assignments", action="append", default=[],
                        metavar="KEY=VALUE", help="change a setting first (e.g. auth.bcrypt_cost=12)")

    bench = sub.add_parser("bench", help="the performance table (ratios against baselines)",
                           description="Measure the sandbox against baselines measured in "
                                       "the same run and print each figure with its ratio.")
    bench.add_argument("--json", action="store_true",
                       help="print a JSON list of rows: name, value, unit, baseline, ratio, "
                            "target, met")
    bench.add_argument("--quick", action="store_true",
                       help="smaller samples (noisier); for a fast look")
    bench.add_argument("--only", choices=["exercises"],
                       help="measure only this group of rows")

    serve = sub.add_parser(
        "serve", help="serve the sandbox over real HTTP for curl, browsers and API tools",
        description="Serve the same backend (same settings and mechanisms) on a real socket. "
                    "Requests are traced like in-process ones; one log line each. Stop with "
                    "Ctrl-C. Admin API on loopback: GET/POST /_sandbox/settings, "
                    "GET /_sandbox/traces, with the admin token serve prints at start "
                    "(header X-Sandbox-Token; or set SANDBOX_ADMIN_TOKEN). Tokens are signed "
                    "with a key made at each start from a random secret kept in the data "
                    "folder (SANDBOX_DATA_DIR), or from SANDBOX_SIGNING_SECRET. "
                    "GET /metrics answers Prometheus's scrape (no token: counts only).",
    )
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1; anything else is reachable "
                            "from other machines)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--trusted-proxy", action="append", default=[], metavar="ADDRESS",
                       help="a proxy in front of the sandbox whose X-Forwarded-For the rate "
                            "limiter believes (repeatable; default: none, the peer counts)")
    serve.add_argument("--log-format", choices=["text", "json"], default="text",
                       help="text: one readable line per request (default); json: one JSON "
                            "object per request on standard output, for ELK or Loki (the "
                            "banner goes to standard error)")
    with_settings(serve)

    lessons = sub.add_parser(
        "lessons", help="list, check and read the lessons",
        description="The lessons are Markdown files in lessons/ (see lessons/README.md); "
                    "--dir DIR or SANDBOX_LESSONS_DIR=DIR reads another folder, and "
                    "`sandbox --course DIR` a course folder's lessons/.",
    )
    lessons.add_argument("--dir", metavar="DIR",
                         help="the lessons folder (default: $SANDBOX_LESSONS_DIR, the course "
                              "folder's lessons/, or the sandbox's own)")
    lesson_sub = lessons.add_subparsers(dest="lessons_command", metavar="ACTION", required=True)
    lesson_sub.add_parser("list", help="every lesson, by topic",
                          description="List every lesson, by curriculum topic.")
    check = lesson_sub.add_parser("check", help="validate lesson files (file:line errors)",
                                  description="Validate one lesson file or a folder of them; "
                                              "exit code 1 when any has errors.")
    check.add_argument("path", nargs="?", metavar="PATH",
                       help="a lesson file or folder (default: the lessons folder)")
    check.add_argument("--run-claims", action="store_true",
                       help="also run every experiment and check every claim against the "
                            "live sandbox (slower: a run per claim)")
    show = lesson_sub.add_parser("show", help="print a lesson in the terminal",
                                 description="Print a lesson, its steps and checkpoints.")
    show.add_argument("lesson_id", metavar="ID", help="a lesson id, from `sandbox lessons list`")
    reset = lesson_sub.add_parser("reset", help="forget progress (one lesson, or all)",
                                  description="Forget saved progress for one lesson, or for "
                                              "every lesson when no ID is given.")
    reset.add_argument("lesson_id", nargs="?", metavar="ID", help="a lesson id (default: all)")

    from sandbox.commands.exercises import add_parser as add_exercises

    add_exercises(sub)

    sub.add_parser("demo", help="a two-minute tour: one traced request, one before/after",
                   description="Send one traced request, then run the spike scenario with one "
                               "and with four app instances and compare.")
    return parser


def main(argv: Sequence[str] | None = None, *, early: Early | None = None,
         early_tried: bool = False) -> int:
    """Run one `sandbox` command; the exit code. (`early`: a `check` that `sandbox.entry`
    already started.)"""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["exercises"] and not early_tried:  # `check` starts its tests first
        from sandbox.grading.early import start_early

        early = start_early(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    from rich.console import Console

    out = Console()
    err = Console(stderr=True)
    try:
        use_course(args.course)
        if args.command is None:
            return cmd_app(out, err)
        if args.command == "demo":
            return cmd_demo(out, err)
        if args.command == "request":
            return backend.cmd_request(args, out, err)
        if args.command == "scenario":
            return backend.cmd_scenario(args, out, err)
        if args.command == "settings":
            return backend.cmd_settings(args, out)
        if args.command == "bench":
            return cmd_bench(args, out, err)
        if args.command == "hashes":
            return backend.cmd_hashes(args, out)
        if args.command == "serve":
            return backend.cmd_serve(args, out, err)
        if args.command == "lessons":
            return lessons.cmd_lessons(args, out, err)
        if args.command == "exercises":
            from sandbox.commands.exercises import run as run_exercises

            return run_exercises(args, out, err, early)
    except SettingsError as exc:
        print_error(err, exc)
        return EXIT_USAGE
    except (SeedError, SandboxError) as exc:
        print_error(err, exc)
        return EXIT_FAILED
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_INTERRUPTED
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE  # pragma: no cover - parser.error exits


def use_course(named: str | None) -> None:
    """Point every command (and the app, and the processes they start) at the course folder
    `named` on the command line, or the one $SANDBOX_COURSE names; a bad one is a usage error."""
    import os

    from sandbox.course.folders import course_dir, course_problem

    if named:
        os.environ["SANDBOX_COURSE"] = named
        for narrower in ("SANDBOX_EXERCISES", "SANDBOX_LESSONS_DIR"):  # the flag wins
            os.environ.pop(narrower, None)
    course = course_dir()
    problem = course_problem(course) if course is not None else None
    if problem:
        raise SettingsError(problem)


# -- bench --------------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace, out: Console, err: Console) -> int:
    from sandbox import render
    from sandbox.commands.bench import run_bench

    announce_seed_build(err)
    rows = run_bench(quick=args.quick, log=None if args.json else err.print,
                     only={args.only} if args.only else None)
    if args.json:
        out.print(json.dumps(rows, indent=2), highlight=False, soft_wrap=True)
    else:
        out.print(render.bench_table(rows))
    return EXIT_OK


# -- the terminal app ---------------------------------------------------------------------


def cmd_app(out: Console, err: Console) -> int:
    """Open the terminal app; without a terminal (piped, CI), run the text demo instead."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        err.print("[dim]No terminal here, so no app: running the text demo instead.[/]")
        return cmd_demo(out, err)
    announce_seed_build(err)
    from sandbox.tui import run_app

    run_app()
    return EXIT_OK


# -- demo ---------------------------------------------------------------------------------


def cmd_demo(out: Console, err: Console) -> int:
    from sandbox import render
    from sandbox.runtime import Sandbox
    from sandbox.scenarios import run_scenario

    out.rule("[bold]the backend sandbox[/]")
    out.print(DESCRIPTION + "\n")
    announce_seed_build(err)
    sandbox = Sandbox()

    async def one() -> Any:
        async with sandbox.client() as client:
            return await client.get("/products/1")

    try:
        import asyncio

        response = asyncio.run(one())
    finally:
        sandbox.close()
    out.print("[bold]1. One request[/]: GET /products/1 crosses every hop; each is a span.")
    out.print(render.trace_waterfall(response.extensions["sandbox.trace"]))
    out.print("\n[bold]2. One switch[/]: a traffic spike (2,500 requests/s for two seconds) "
              "against one app instance, then four.")
    from sandbox.settings import Settings

    before = run_scenario("spike", Settings().replace({"topology.instances": 1}), requests=3000)
    after = run_scenario("spike", Settings().replace({"topology.instances": 4}), requests=3000)
    for label, result in (("1 instance ", before), ("4 instances", after)):
        lat = result.metrics["latency_ms"]
        out.print(f"   {label}: p50 {lat['p50']:7.2f} ms   p95 {lat['p95']:8.2f} ms   "
                  f"p99 {lat['p99']:8.2f} ms")
    out.print("\nWith one instance, requests queue behind each other during the spike; four "
              "instances share the load.\nTry: [cyan]sandbox scenario spike --set "
              "topology.instances=2[/], [cyan]sandbox request GET /products/1[/], "
              "[cyan]sandbox --help[/]")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
